{#-
    Deliveries are snapshots: several deliveries' rows coexist in a pseudo_<purpose> table.
    Keep, per business key, the row of the latest delivery (`_delivery_date`). Use after a
    `from`/`where` in the import CTE of a staging model.
-#}
{% macro latest_delivery(key_columns) -%}
    qualify row_number() over (
        partition by {{ key_columns | join(', ') }}
        order by _delivery_date desc, _key_version desc
    ) = 1
{%- endmacro %}

{#-
    The body of a staging model of a delivered entity: per business key, the row of the latest
    delivery (latest_delivery above), with the columns the caller selects, renamed and cast, and
    the delivery metadata every staging model carries (delivery_date, key_version). One place
    for the snapshot rule, so each staging model states only its source, key and columns:

        {% call staged_latest_delivery(source('pseudo_actuarial', 'claims__claims'), ['claim_key']) %}
            claim_key,
            cast(loss_date as date) as loss_date
        {% endcall %}
-#}
{% macro staged_latest_delivery(relation, key_columns) %}
with

source as (

    select * from {{ relation }}
    {{ latest_delivery(key_columns) }}

),

renamed as (

    select

        {{ caller() | trim }},

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
{% endmacro %}
