-- Actuarial-domain contracts whose subject asked for erasure (executed physically later by
-- another component: excluded here anyway) or for a restriction of processing that has not
-- been lifted since. Every request received so far counts, whatever the as-of date: a rebuild
-- for an earlier date never brings such a subject back.

with

requests as (

    -- as delivered (the subject's own identifiers) and as resolved by transforms/rights.py
    -- (every contract and person of the subject, e.g. when only a customer number was given)
    select request_id, request_type, received_date, person_key, contract_key
    from {{ ref('stg_dpo__subject_requests') }}
    where request_type in ('erasure', 'restriction', 'restriction_lifted')

    union

    select request_id, request_type, received_date, person_key, contract_key
    from {{ ref('stg_dpo__subject_requests_resolved') }}
    where request_type in ('erasure', 'restriction', 'restriction_lifted')

),

contracts as (

    select contract_key, person_key from {{ ref('stg_policy_admin__contracts') }}

),

request_contracts as (

    {{ subject_request_contracts(
        'requests', 'contracts',
        match_keys=['person_key', 'contract_key'],
        expand_keys=['person_key']
    ) }}

),

contract_requests as (

    select
        contract_key,
        bool_or(request_type = 'erasure') as is_erased,
        max(received_date) filter (where request_type = 'restriction') as last_restricted_on,
        max(received_date) filter (where request_type = 'restriction_lifted') as last_lifted_on

    from request_contracts
    group by contract_key

),

flagged as (

    select
        contract_key,
        is_erased,
        {{ is_restriction_active('last_restricted_on', 'last_lifted_on') }} as is_restricted

    from contract_requests

)

select * from flagged
where is_erased or is_restricted
