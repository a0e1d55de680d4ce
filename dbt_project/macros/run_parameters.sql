{#-
    The run's parameters, checked once here so that a wrong value fails with a clear message
    instead of a SQL error deep in a model.
-#}

{#- The run's as-of date as a SQL date literal. Required: `--vars '{as_of_date: 2025-06-30}'`. -#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "The var 'as_of_date' is required (YYYY-MM-DD), e.g. "
                ~ "--vars '{as_of_date: 2025-06-30}'"
            ) }}
        {%- endif -%}
        {%- set value = '1970-01-01' -%}
    {%- endif -%}
    {%- set value = value | string -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
        {{ exceptions.raise_compiler_error("The var 'as_of_date' must be YYYY-MM-DD") }}
    {%- endif -%}
    {%- do modules.datetime.datetime.strptime(value, '%Y-%m-%d') -%}
    date '{{ value }}'
{%- endmacro %}

{#- The first day of the as-of date's month. -#}
{% macro as_of_month() -%}
    {{ month_start(as_of_date()) }}
{%- endmacro %}

{#- The exposure period of actuarial.policy_exposure: 'year' (default) or 'month'. -#}
{% macro exposure_period() -%}
    {%- set value = var('exposure_period', 'year') | string | trim -%}
    {%- if value not in ('year', 'month') -%}
        {{ exceptions.raise_compiler_error("The var 'exposure_period' must be 'year' or 'month'") }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}

{#- k: the smallest number of customers a published marketing cell may count. -#}
{% macro min_cell_size() -%}
    {%- set value = var('min_cell_size', 10) | int -%}
    {%- if value < 1 -%}
        {{ exceptions.raise_compiler_error("The var 'min_cell_size' must be a positive integer") }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}

{#- Days after as_of within which a contract's end makes it a renewal. -#}
{% macro renewal_window_days() -%}
    {%- set value = var('renewal_window_days', 90) | int -%}
    {%- if value < 0 -%}
        {{ exceptions.raise_compiler_error("The var 'renewal_window_days' must be >= 0") }}
    {%- endif -%}
    {{- value -}}
{%- endmacro %}
