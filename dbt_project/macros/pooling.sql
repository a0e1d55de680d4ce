{#-
    Pooling small cells up declared hierarchies (config/classification.yml `hierarchies:`,
    docs/disclosure-control.md). A cell below k takes the coarser label of the next level, one
    step at a time; the cells that reach k keep their labels, so every unit stays in one cell.
-#}

{#- CASE mapping `column` to the coarser labels of one hierarchy level; a level with the single
    label 'all' takes every value (null included). -#}
{% macro pool_label(column, level) -%}
    {%- if level.keys() | list == ['all'] -%}
        'all'
    {%- else -%}
    case
        {%- for coarse, finer in level.items() if finer %}
        when {{ column }} in ({% for f in finer %}'{{ f }}'{{ ', ' if not loop.last }}{% endfor %}) then '{{ coarse }}'
        {%- endfor %}
        else {{ column }}
    end
    {%- endif -%}
{%- endmacro %}

{#- The steps (column, level) to apply: every hierarchy's first level, then every second... -#}
{% macro pooling_steps(hierarchy_names) -%}
    {%- set steps = [] -%}
    {%- set depth = [] -%}
    {%- for name in hierarchy_names -%}
        {%- do depth.append(disclosure_hierarchy(name)['pool'] | length) -%}
    {%- endfor -%}
    {%- for i in range(depth | max) -%}
        {%- for name in hierarchy_names -%}
            {%- set h = disclosure_hierarchy(name) -%}
            {%- if i < h['pool'] | length -%}
                {%- do steps.append({'column': h.get('column', h.get('band', name)),
                                     'level': h['pool'][i]}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(steps) -}}
{%- endmacro %}
