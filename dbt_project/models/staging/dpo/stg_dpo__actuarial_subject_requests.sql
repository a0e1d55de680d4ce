-- The DPO's data-subject requests in the actuarial pseudonym domain: as delivered, and as
-- resolved by transforms/rights/processing.py (macros/subject_requests.sql).

{{ staged_subject_requests(
    source('pseudo_actuarial', 'dpo__subject_requests'),
    source('pseudo_actuarial_rights', 'dpo__subject_requests_resolved'),
    subject_keys=['person_key', 'contract_key']
) }}
