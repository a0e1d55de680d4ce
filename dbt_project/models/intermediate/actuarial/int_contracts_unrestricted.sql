-- The actuarial contracts that may be processed: all but those of erased or restricted subjects.

with

contracts as (

    select * from {{ ref('stg_policy_admin__contracts') }}

),

restricted as (

    select * from {{ ref('int_subjects_restricted') }}

),

unrestricted as (

    select * from contracts
    where not exists (
        select 1 from restricted
        where restricted.contract_key = contracts.contract_key
    )

)

select * from unrestricted
