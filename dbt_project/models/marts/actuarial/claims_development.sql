{{ config(contract={'enforced': true}) }}

-- A complete rectangle: for every product, failed component and currency with claims, every
-- origin (accident) month from the earliest one to the as-of month, and every valuation month
-- from the origin to the as-of month, with cumulative figures carried forward when nothing
-- happened. The as-of month is valued at the as-of date. Amounts never mix currencies.

with

movements as (

    select * from {{ ref('int_claim_development_monthly') }}

),

segments as (

    select distinct product, failed_component, currency from movements

),

months as (

    select cast(unnest({{ period_starts_between(
        'month', 'min(origin_month)', as_of_month()
    ) }}) as date) as month_start

    from movements

),

rectangle as (

    select
        segments.product,
        segments.failed_component,
        segments.currency,
        origins.month_start as origin_month,
        valuations.month_start as valuation_month

    from segments
    cross join months as origins
    inner join months as valuations
        on valuations.month_start >= origins.month_start

),

developed as (

    select
        rectangle.origin_month,
        rectangle.valuation_month,
        rectangle.product,
        rectangle.failed_component,
        rectangle.currency,
        sum(coalesce(movements.paid_amount, 0)) over cumulative as cumulative_paid,
        sum(coalesce(movements.incurred_amount, 0)) over cumulative as cumulative_incurred,
        sum(coalesce(movements.reported_claims, 0)) over cumulative as reported_claims

    from rectangle
    left join movements
        on rectangle.product = movements.product
        and rectangle.failed_component = movements.failed_component
        and rectangle.currency = movements.currency
        and rectangle.origin_month = movements.origin_month
        and rectangle.valuation_month = movements.movement_month
    window cumulative as (
        partition by
            rectangle.product,
            rectangle.failed_component,
            rectangle.currency,
            rectangle.origin_month
        order by rectangle.valuation_month
        rows between unbounded preceding and current row
    )

),

final as (

    select
        origin_month,
        valuation_month,
        cast(datediff('month', origin_month, valuation_month) as integer) as development_month,
        product,
        failed_component,
        currency,
        cast(cumulative_paid as decimal(18, 2)) as cumulative_paid,
        cast(cumulative_incurred as decimal(18, 2)) as cumulative_incurred,
        cast(reported_claims as bigint) as reported_claims

    from developed

)

select * from final
