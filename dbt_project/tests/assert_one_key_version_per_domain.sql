-- Pseudonyms made with two master-key versions do not join: every table of a domain must carry
-- the same key version, or contracts, claims and requests would silently stop matching.

with

key_versions as (

    select 'actuarial' as domain, key_version from {{ ref('stg_policy_admin__actuarial_contracts') }}
    union
    select 'actuarial', key_version from {{ ref('stg_claims__actuarial_claims') }}
    union
    select 'actuarial', key_version from {{ ref('stg_claims__actuarial_claim_transactions') }}
    union
    select 'actuarial', key_version from {{ ref('stg_dpo__actuarial_subject_requests') }}
    where not is_resolved
    union
    select 'marketing', key_version from {{ ref('stg_policy_admin__marketing_contracts') }}
    union
    select 'marketing', key_version from {{ ref('stg_policy_admin__marketing_quotes') }}
    union
    select 'marketing', key_version from {{ ref('stg_dpo__marketing_consent_changes') }}
    union
    select 'marketing', key_version from {{ ref('stg_dpo__marketing_subject_requests') }}
    where not is_resolved

)

select domain, count(*) as key_versions
from key_versions
group by domain
having count(*) > 1
