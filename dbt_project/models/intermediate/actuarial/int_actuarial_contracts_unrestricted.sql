-- The actuarial contracts that may be processed: all but those of erased or restricted subjects
-- (int_actuarial_contracts_excluded).

select * from {{ ref('stg_policy_admin__actuarial_contracts') }} as contracts
where not exists (
    select 1 from {{ ref('int_actuarial_contracts_excluded') }} as excluded
    where excluded.contract_key = contracts.contract_key
)
