-- Marketing-domain customers who may not be targeted whatever their consent: an objection, a
-- consent withdrawal or an erasure request, or a restriction of processing not lifted since
-- (macros/subject_requests.sql, the filter every domain shares).

{{ subject_requests_in_force(
    ref('stg_dpo__marketing_subject_requests'),
    ref('stg_policy_admin__marketing_contracts'),
    unit_key='customer_key',
    match_keys=['person_key', 'contract_key', 'customer_key'],
    expand_keys=['person_key', 'customer_key'],
    refusals={
        'objection': 'has_objected',
        'consent_withdrawal': 'has_withdrawn_consent',
        'erasure': 'is_erased',
    }
) }}
