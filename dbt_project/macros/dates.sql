{#- The first day of the period ('year', 'month') containing a date, as a date. -#}
{% macro period_start(period, date_expression) -%}
    cast(date_trunc('{{ period }}', {{ date_expression }}) as date)
{%- endmacro %}

{% macro month_start(date_expression) -%}
    {{ period_start('month', date_expression) }}
{%- endmacro %}

{#- One row per period start between two period starts (both included), as a list to unnest. -#}
{% macro period_starts_between(period, first_start, last_start) -%}
    generate_series({{ first_start }}, {{ last_start }}, interval 1 {{ period }})
{%- endmacro %}
