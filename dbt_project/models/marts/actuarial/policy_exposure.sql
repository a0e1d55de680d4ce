{{ config(contract={'enforced': true}) }}

-- Per-contract experience, generalised for publication (int_policy_exposure_generalised), less
-- the contracts its disclosure ledger withholds (int_policy_exposure_units: unique contracts,
-- only when too many are unique). Stable order: contract, period.

with

generalised as (

    select * from {{ ref('int_policy_exposure_generalised') }}

),

withheld as (

    select contract_key from {{ ref('int_policy_exposure_units') }}
    where is_suppressed

),

final as (

    select * from generalised
    where contract_key not in (select contract_key from withheld)

)

select * from final
order by contract_key, period_start
