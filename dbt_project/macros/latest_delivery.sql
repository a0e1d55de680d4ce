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
