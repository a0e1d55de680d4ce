{{ config(contract={'enforced': true}) }}

-- Per-contract experience, generalised for publication (int_policy_exposure_generalised), less
-- the contracts its disclosure ledger withholds (int_policy_exposure_units: unique contracts,
-- only when too many are unique). Stable order: contract, period.

{{ without_withheld_units(
    ref('int_policy_exposure_generalised'), ref('int_policy_exposure_units'), 'contract_key'
) }}
order by contract_key, period_start
