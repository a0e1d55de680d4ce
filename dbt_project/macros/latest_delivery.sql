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
    Every column of `relation`, per business key the row of its latest delivery: the
    latest_delivery rule above. On DuckDB as a semi join to each key's latest delivery date,
    which hashes instead of sorting every partition (1M contracts: about half the time of the
    window); a key's rows of one delivery are one row (the ingest refuses duplicate keys within a
    delivery, and a warehouse holds one key version), so both give the same rows, and the staging
    models' `unique` tests would fail the build where they did not. NULL keys match NULL keys,
    as a window partition holds them, so the `not_null` tests still see them.
-#}
{% macro latest_delivery_rows(relation, key_columns) -%}
    {{ return(adapter.dispatch('latest_delivery_rows')(relation, key_columns)) }}
{%- endmacro %}

{% macro default__latest_delivery_rows(relation, key_columns) -%}
    select * from {{ relation }}
    {{ latest_delivery(key_columns) }}
{%- endmacro %}

{% macro duckdb__latest_delivery_rows(relation, key_columns) -%}
    select delivered.* from {{ relation }} as delivered
    semi join (
        select {{ key_columns | join(', ') }}, max(_delivery_date) as _latest_delivery_date
        from {{ relation }}
        group by {{ key_columns | join(', ') }}
    ) as latest
    on {% for key in key_columns -%}
        delivered.{{ key }} is not distinct from latest.{{ key }} and
    {% endfor -%}
    delivered._delivery_date = latest._latest_delivery_date
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

    {{ latest_delivery_rows(relation, key_columns) }}

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
