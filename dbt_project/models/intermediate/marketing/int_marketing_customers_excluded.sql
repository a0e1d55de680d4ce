-- Marketing-domain customers who may not be targeted whatever their consent: an objection, a
-- consent withdrawal or an erasure request, or a restriction of processing not lifted since.
-- Every request received so far counts, whatever the as-of date.

with

requests as (

    -- as delivered and as resolved by transforms/rights.py (see int_subjects_restricted)
    select request_id, request_type, received_date, person_key, contract_key, customer_key
    from {{ ref('stg_dpo__marketing_subject_requests') }}
    where request_type in (
        'erasure', 'objection', 'consent_withdrawal', 'restriction', 'restriction_lifted'
    )

    union

    select request_id, request_type, received_date, person_key, contract_key, customer_key
    from {{ ref('stg_dpo__marketing_subject_requests_resolved') }}
    where request_type in (
        'erasure', 'objection', 'consent_withdrawal', 'restriction', 'restriction_lifted'
    )

),

contracts as (

    select contract_key, customer_key, person_key
    from {{ ref('stg_policy_admin__marketing_contracts') }}

),

request_contracts as (

    {{ subject_request_contracts(
        'requests', 'contracts',
        match_keys=['person_key', 'contract_key', 'customer_key'],
        expand_keys=['person_key', 'customer_key']
    ) }}

),

request_customers as (

    select
        request_contracts.request_id,
        request_contracts.request_type,
        request_contracts.received_date,
        contracts.customer_key

    from request_contracts
    inner join contracts
        on request_contracts.contract_key = contracts.contract_key

    union

    -- a customer named directly, even without a contract on file
    select request_id, request_type, received_date, customer_key
    from requests
    where customer_key is not null

),

customer_requests as (

    select
        customer_key,
        bool_or(request_type = 'objection') as has_objected,
        bool_or(request_type = 'consent_withdrawal') as has_withdrawn_consent,
        bool_or(request_type = 'erasure') as is_erased,
        max(received_date) filter (where request_type = 'restriction') as last_restricted_on,
        max(received_date) filter (where request_type = 'restriction_lifted') as last_lifted_on

    from request_customers
    group by customer_key

),

flagged as (

    select
        customer_key,
        has_objected,
        has_withdrawn_consent,
        is_erased,
        {{ is_restriction_active('last_restricted_on', 'last_lifted_on') }} as is_restricted

    from customer_requests

)

select * from flagged
where has_objected or has_withdrawn_consent or is_erased or is_restricted
