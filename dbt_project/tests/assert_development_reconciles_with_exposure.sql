-- At the as-of valuation year, claims_development plus the segments its disclosure ledger
-- suppressed hold exactly the claims (declined ones too), payments and incurred amounts of
-- the contracts' experience (policy_exposure before unique contracts are withheld), currency by
-- currency: pooling and suppression lose nothing.

with

published as (

    select
        currency,
        sum(cumulative_paid) as paid_amount,
        sum(cumulative_incurred) as incurred_amount,
        sum(reported_claims) as claim_count,
        sum(declined_claims) as declined_claims

    from {{ ref('claims_development') }}
    where valuation_year = {{ period_start('year', as_of_date()) }}
    group by currency

),

suppressed as (

    select
        currency,
        suppressed_paid_amount as paid_amount,
        suppressed_incurred_amount as incurred_amount,
        0 as claim_count,
        0 as declined_claims
    from {{ ref('int_claim_development_segments') }}

),

suppressed_claims as (

    select
        valued.currency,
        0 as paid_amount,
        0 as incurred_amount,
        count(*) filter (where not valued.is_declined) as claim_count,
        count(*) filter (where valued.is_declined) as declined_claims

    from {{ ref('int_actuarial_claims_valued') }} as valued
    inner join {{ ref('int_claim_development_segments') }} as segments
        on valued.product = segments.product
        and valued.currency = segments.currency
        and valued.failed_component is not distinct from segments.failed_component
    where not coalesce(
        {{ period_start('year', 'valued.loss_date') }} >= segments.first_origin_year, false)
    group by valued.currency

),

development as (

    select
        currency,
        sum(paid_amount) as paid_amount,
        sum(incurred_amount) as incurred_amount,
        sum(claim_count) as claim_count,
        sum(declined_claims) as declined_claims

    from (
        select * from published
        union all
        select * from suppressed
        union all
        select * from suppressed_claims
    )
    group by currency

),

exposure as (

    select
        currency,
        sum(paid_amount) as paid_amount,
        sum(incurred_amount) as incurred_amount,
        sum(claim_count) as claim_count,
        sum(declined_claims) as declined_claims

    from {{ ref('int_actuarial_contract_period_experience') }}
    group by currency

)

select coalesce(development.currency, exposure.currency) as currency
from development
full outer join exposure
    on development.currency = exposure.currency
where coalesce(development.paid_amount, 0) <> coalesce(exposure.paid_amount, 0)
    or coalesce(development.incurred_amount, 0) <> coalesce(exposure.incurred_amount, 0)
    or coalesce(development.claim_count, 0) <> coalesce(exposure.claim_count, 0)
    or coalesce(development.declined_claims, 0) <> coalesce(exposure.declined_claims, 0)
