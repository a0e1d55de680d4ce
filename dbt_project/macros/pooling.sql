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

{#- The units of a row-level relation to withhold: when more than the rule's share of units
    is unique on the quasi-identifiers of the unit's first row, every unique unit (a class of
    one). Withholding them never makes another unit unique, so the published rest meets the
    rule; their totals stay in the intermediate model that flags them. Selects unit_key,
    class_size, is_suppressed. -#}
{% macro unique_unit_flags(relation, rule) -%}
    {%- set key = rule['unit_key'] -%}
    {%- set qis = rule['quasi_identifiers'] -%}
    {%- set order = rule['order_by'] | join(', ') or key -%}
    with

    signatures as (

        select
            {{ key }},
            {%- for q in qis %}
            {{ first_by(q, order) }} as {{ q }}{{ ',' if not loop.last }}
            {%- endfor %}

        from {{ relation }}
        group by {{ key }}

    ),

    classes as (

        select
            {{ key }},
            count(*) over (partition by {{ qis | join(', ') }}) as class_size

        from signatures

    ),

    verdict as (

        select count(*) filter (where class_size = 1) > {{ rule['max_unique_share'] }} * count(*)
            as too_unique

        from classes

    )

    select
        classes.{{ key }},
        cast(classes.class_size as bigint) as class_size,
        coalesce(verdict.too_unique and classes.class_size = 1, false) as is_suppressed

    from classes
    cross join verdict
{%- endmacro %}
