-- At the as-of valuation month, claims_development holds exactly the claims, payments and
-- incurred amounts of policy_exposure: the two marts are built from the same valued claims.

with

development as (

    select
        sum(cumulative_paid) as paid_amount,
        sum(cumulative_incurred) as incurred_amount,
        sum(reported_claims) as claim_count

    from {{ ref('claims_development') }}
    where valuation_month = {{ as_of_month() }}

),

exposure as (

    select
        sum(paid_amount) as paid_amount,
        sum(incurred_amount) as incurred_amount,
        sum(claim_count) as claim_count

    from {{ ref('policy_exposure') }}

)

select *
from development
cross join exposure
where coalesce(development.paid_amount, 0) <> coalesce(exposure.paid_amount, 0)
    or coalesce(development.incurred_amount, 0) <> coalesce(exposure.incurred_amount, 0)
    or coalesce(development.claim_count, 0) <> coalesce(exposure.claim_count, 0)
