{#-
    `+schema: actuarial` gives the schema `actuarial` exactly (dbt's default would prefix the
    target schema: `main_actuarial`). Models without a custom schema go to the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
