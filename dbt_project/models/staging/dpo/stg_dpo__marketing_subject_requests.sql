-- The DPO's data-subject requests in the marketing pseudonym domain: as delivered, and as
-- resolved by transforms/rights/processing.py (macros/subject_requests.sql).

{{ staged_subject_requests(
    source('pseudo_marketing', 'dpo__subject_requests'),
    source('pseudo_marketing_rights', 'dpo__subject_requests_resolved'),
    subject_keys=['person_key', 'contract_key', 'customer_key']
) }}
