-- One row per origin (accident) year, product, component group (as published, from the ledger
-- int_claim_development_segments), currency and year of movement: payments, incurred movement
-- and newly notified claims (all, non-declined, declined) of that year, up to the as-of date.
-- A movement dated before its claim's accident year (a data error) counts in the accident year.
-- Claims of suppressed segments, and of accident years before a segment's first published
-- one, are left out here (their totals stay in the ledger).

with

segments as (

    select * from {{ ref('int_claim_development_segments') }}
    where not is_suppressed

),

claims as (

    select
        valued.*,
        segments.component_group,
        {{ period_start('year', 'valued.loss_date') }} as origin_year

    from {{ ref('int_actuarial_claims_valued') }} as valued
    inner join segments
        on valued.product = segments.product
        and valued.currency = segments.currency
        and valued.failed_component is not distinct from segments.failed_component
    where {{ period_start('year', 'valued.loss_date') }} >= segments.first_origin_year

),

transactions as (

    select * from {{ ref('stg_claims__actuarial_claim_transactions') }}
    where transaction_date <= {{ as_of_date() }}

),

amount_movements as (

    select
        claims.origin_year,
        claims.product,
        claims.component_group,
        claims.currency,
        greatest(
            {{ period_start('year', 'transactions.transaction_date') }}, claims.origin_year
        ) as movement_year,
        transactions.paid_amount,
        transactions.incurred_amount,
        0 as claims,
        0 as reported_claims,
        0 as declined_claims

    from transactions
    inner join claims
        on transactions.claim_key = claims.claim_key

),

reporting_movements as (

    select
        origin_year,
        product,
        component_group,
        currency,
        greatest({{ period_start('year', 'notification_date') }}, origin_year) as movement_year,
        0 as paid_amount,
        0 as incurred_amount,
        1 as claims,
        case when is_declined then 0 else 1 end as reported_claims,
        case when is_declined then 1 else 0 end as declined_claims

    from claims

),

movements as (

    select * from amount_movements
    union all
    select * from reporting_movements

),

annual as (

    select
        origin_year,
        product,
        component_group,
        currency,
        movement_year,
        cast(sum(paid_amount) as decimal(18, 2)) as paid_amount,
        cast(sum(incurred_amount) as decimal(18, 2)) as incurred_amount,
        cast(sum(claims) as bigint) as claims,
        cast(sum(reported_claims) as bigint) as reported_claims,
        cast(sum(declined_claims) as bigint) as declined_claims

    from movements
    group by origin_year, product, component_group, currency, movement_year

)

select * from annual
