{#- Whole years of tenure, banded like the vehicle age bands. -#}
{% macro tenure_band(years) -%}
    case
        when {{ years }} < 2 then '0-1'
        when {{ years }} < 4 then '2-3'
        when {{ years }} < 6 then '4-5'
        else '6+'
    end
{%- endmacro %}
