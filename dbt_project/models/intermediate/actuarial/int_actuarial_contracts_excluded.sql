-- Actuarial-domain contracts whose subject asked for erasure (executed physically later by
-- another component: excluded here anyway) or for a restriction of processing that has not
-- been lifted since (macros/subject_requests.sql, the filter every domain shares).

{{ subject_requests_in_force(
    ref('stg_dpo__actuarial_subject_requests'),
    ref('stg_policy_admin__actuarial_contracts'),
    unit_key='contract_key',
    match_keys=['person_key', 'contract_key'],
    expand_keys=['person_key'],
    refusals={'erasure': 'is_erased'}
) }}
