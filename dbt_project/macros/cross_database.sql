{#-
    SQL that differs between the engines (settings.engine(): DuckDB, or Spark through dbt-spark).
    Each macro dispatches on the adapter: `default__` is the DuckDB text the models always had,
    `spark__` its Spark SQL equivalent. Models call these instead of engine-specific syntax, so
    one project builds on both and the equality test (tests/test_spark_engine.py) compares them.
-#}

{#- Integer division of non-negative integers (DuckDB `//`, Spark `div`). -#}
{% macro int_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('int_divide')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__int_divide(numerator, denominator) -%}
    (({{ numerator }}) // ({{ denominator }}))
{%- endmacro %}
{% macro spark__int_divide(numerator, denominator) -%}
    (({{ numerator }}) div ({{ denominator }}))
{%- endmacro %}

{#- The integer type of money in cents: DuckDB's 128-bit hugeint; Spark's widest exact
    integer arithmetic is bigint (its ANSI mode raises on overflow rather than wrapping). -#}
{% macro cents_type() -%}
    {{ return(adapter.dispatch('cents_type')()) }}
{%- endmacro %}
{% macro default__cents_type() -%}hugeint{%- endmacro %}
{% macro spark__cents_type() -%}bigint{%- endmacro %}

{#- Whole `part`s ('day', 'month', 'year') from one date to another. Callers pass period
    starts for month and year, where DuckDB's boundary count and Spark's elapsed count agree. -#}
{% macro date_diff(part, start_date, end_date) -%}
    {{ return(adapter.dispatch('date_diff')(part, start_date, end_date)) }}
{%- endmacro %}
{% macro default__date_diff(part, start_date, end_date) -%}
    datediff('{{ part }}', {{ start_date }}, {{ end_date }})
{%- endmacro %}
{% macro spark__date_diff(part, start_date, end_date) -%}
    timestampdiff({{ part }}, {{ start_date }}, {{ end_date }})
{%- endmacro %}

{#- One row per period start between two period starts (both included), as dates when
    `as_date`: a generator in the select list (DuckDB unnest, Spark explode). Spark cannot wrap a
    generator in a cast; its sequence of dates is already of type date. -#}
{% macro unnest_period_starts(period, first_start, last_start, as_date=false) -%}
    {{ return(adapter.dispatch('unnest_period_starts')(period, first_start, last_start, as_date)) }}
{%- endmacro %}
{% macro default__unnest_period_starts(period, first_start, last_start, as_date) -%}
    {%- if as_date -%}cast({%- endif -%}
    unnest({{ period_starts_between(period, first_start, last_start) }})
    {%- if as_date %} as date){%- endif -%}
{%- endmacro %}
{% macro spark__unnest_period_starts(period, first_start, last_start, as_date) -%}
    explode(sequence(cast({{ first_start }} as date), cast({{ last_start }} as date),
                     interval 1 {{ period }}))
{%- endmacro %}

{#- The sign of an exact integer as an integer (Spark's sign() is a double, which its ANSI
    mode refuses to combine with `div`). -#}
{% macro int_sign(value) -%}
    {{ return(adapter.dispatch('int_sign')(value)) }}
{%- endmacro %}
{% macro default__int_sign(value) -%}sign({{ value }}){%- endmacro %}
{% macro spark__int_sign(value) -%}cast(sign({{ value }}) as bigint){%- endmacro %}

{#- Contracts on Spark: the generated yml types are DuckDB's (`varchar`), which Spark refuses
    without a length; its equivalent is `string`. Overrides dbt-spark's use of the default. -#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set mapped = {} -%}
    {%- for name in columns -%}
      {%- set col = columns[name].copy() -%}
      {%- if col.get('data_type') and col['data_type'].strip().lower() == 'varchar' -%}
        {%- do col.update({'data_type': 'string'}) -%}
      {%- endif -%}
      {%- do mapped.update({name: col}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(mapped)) }}
{% endmacro %}

{#- The value of the row that sorts first by `order` within a group (DuckDB's ordered aggregate
    `first(value order by order)`, Spark's `min_by`). -#}
{% macro first_by(value, order) -%}
    {{ return(adapter.dispatch('first_by')(value, order)) }}
{%- endmacro %}
{% macro default__first_by(value, order) -%}first({{ value }} order by {{ order }}){%- endmacro %}
{% macro spark__first_by(value, order) -%}min_by({{ value }}, {{ order }}){%- endmacro %}

{#- Every column of `alias` but `excluded`: DuckDB's `* exclude (...)`; Spark has no such
    star, so the caller names the relation's columns (`columns`, in order) once. -#}
{% macro star_except(alias, columns, excluded) -%}
    {{ return(adapter.dispatch('star_except')(alias, columns, excluded)) }}
{%- endmacro %}
{% macro default__star_except(alias, columns, excluded) -%}
    {{ alias }}.* exclude ({{ excluded | join(', ') }})
{%- endmacro %}
{% macro spark__star_except(alias, columns, excluded) -%}
    {%- for column in columns if column not in excluded -%}
        {{ alias }}.{{ column }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
