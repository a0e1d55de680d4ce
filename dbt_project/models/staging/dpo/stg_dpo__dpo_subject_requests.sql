-- The DPO's data-subject requests in the dpo pseudonym domain, as delivered (nothing is
-- resolved into this domain; macros/subject_requests.sql).

{{ staged_subject_requests(
    source('pseudo_dpo', 'dpo__subject_requests'),
    none,
    subject_keys=['person_key', 'contract_key', 'customer_key']
) }}
