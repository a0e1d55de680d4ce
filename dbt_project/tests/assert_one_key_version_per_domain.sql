-- Pseudonyms made with two master-key versions do not join: every table of a domain must carry
-- the same key version, or contracts, claims and requests would silently stop matching.

with

key_versions as (

    select 'actuarial' as domain, key_version from {{ ref('stg_policy_admin__contracts') }}
    union
    select 'actuarial', key_version from {{ ref('stg_claims__claims') }}
    union
    select 'actuarial', key_version from {{ ref('stg_claims__claim_transactions') }}
    union
    select 'actuarial', key_version from {{ ref('stg_dpo__subject_requests') }}
    union
    select 'marketing', key_version from {{ ref('stg_policy_admin__marketing_contracts') }}
    union
    select 'marketing', key_version from {{ ref('stg_policy_admin__quotes') }}
    union
    select 'marketing', key_version from {{ ref('stg_dpo__consent_changes') }}
    union
    select 'marketing', key_version from {{ ref('stg_dpo__marketing_subject_requests') }}

)

select domain, count(*) as key_versions
from key_versions
group by domain
having count(*) > 1
