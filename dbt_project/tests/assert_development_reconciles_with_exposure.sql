-- At the as-of valuation month, claims_development holds exactly the claims, payments and
-- incurred amounts of policy_exposure, currency by currency: the two marts are built from the
-- same valued claims.

with

development as (

    select
        currency,
        sum(cumulative_paid) as paid_amount,
        sum(cumulative_incurred) as incurred_amount,
        sum(reported_claims) as claim_count

    from {{ ref('claims_development') }}
    where valuation_month = {{ as_of_month() }}
    group by currency

),

exposure as (

    select
        currency,
        sum(paid_amount) as paid_amount,
        sum(incurred_amount) as incurred_amount,
        sum(claim_count) as claim_count

    from {{ ref('policy_exposure') }}
    group by currency

)

select coalesce(development.currency, exposure.currency) as currency
from development
full outer join exposure
    on development.currency = exposure.currency
where coalesce(development.paid_amount, 0) <> coalesce(exposure.paid_amount, 0)
    or coalesce(development.incurred_amount, 0) <> coalesce(exposure.incurred_amount, 0)
    or coalesce(development.claim_count, 0) <> coalesce(exposure.claim_count, 0)
