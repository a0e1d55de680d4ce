{#-
    A row-level mart: the generalised rows less the units its disclosure ledger withholds
    (`is_suppressed` in the ledger, flagged by unique_unit_flags in macros/pooling.sql). One
    place for the rule, so every row-level mart withholds the same way. The mart adds its order.

    generalised, ledger: relations; unit_key: the column naming the unit (contract, customer).
-#}
{% macro without_withheld_units(generalised, ledger, unit_key) %}
with

generalised as (

    select * from {{ generalised }}

),

withheld as (

    select {{ unit_key }} from {{ ledger }}
    where is_suppressed

),

final as (

    select * from generalised
    where {{ unit_key }} not in (select {{ unit_key }} from withheld)

)

select * from final
{%- endmacro %}
