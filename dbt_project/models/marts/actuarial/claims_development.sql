{{ config(contract={'enforced': true}) }}

-- A complete rectangle: for every product, component group and currency with published claims,
-- every origin (accident) year from its first published one to the as-of year, and every valuation
-- year from the origin to the as-of year, with cumulative figures carried forward when nothing
-- happened. The as-of year is valued at the as-of date. Amounts never mix currencies. The grain
-- (years, component groups pooled per int_claim_development_segments) is what keeps every cell
-- with claims at k claims or more (docs/disclosure-control.md). Rows in a stable order.

with

movements as (

    select * from {{ ref('int_claim_development_annual') }}

),

segments as (

    -- each published segment from its first published accident year (the ledger's)
    select product, component_group, currency, min(first_origin_year) as first_origin_year
    from {{ ref('int_claim_development_segments') }}
    where not is_suppressed
    group by product, component_group, currency

),

years as (

    select {{ unnest_period_starts(
        'year', 'min(first_origin_year)', period_start('year', as_of_date()), as_date=true
    ) }} as year_start

    from segments

),

rectangle as (

    select
        segments.product,
        segments.component_group,
        segments.currency,
        origins.year_start as origin_year,
        valuations.year_start as valuation_year

    from segments
    inner join years as origins
        on origins.year_start >= segments.first_origin_year
    inner join years as valuations
        on valuations.year_start >= origins.year_start

),

developed as (

    select
        rectangle.origin_year,
        rectangle.valuation_year,
        rectangle.product,
        rectangle.component_group,
        rectangle.currency,
        sum(coalesce(movements.claims, 0)) over cumulative as claims,
        sum(coalesce(movements.reported_claims, 0)) over cumulative as reported_claims,
        sum(coalesce(movements.declined_claims, 0)) over cumulative as declined_claims,
        sum(coalesce(movements.paid_amount, 0)) over cumulative as cumulative_paid,
        sum(coalesce(movements.incurred_amount, 0)) over cumulative as cumulative_incurred

    from rectangle
    left join movements
        on rectangle.product = movements.product
        and rectangle.component_group = movements.component_group
        and rectangle.currency = movements.currency
        and rectangle.origin_year = movements.origin_year
        and rectangle.valuation_year = movements.movement_year
    window cumulative as (
        partition by
            rectangle.product,
            rectangle.component_group,
            rectangle.currency,
            rectangle.origin_year
        order by rectangle.valuation_year
        rows between unbounded preceding and current row
    )

),

final as (

    select
        origin_year,
        valuation_year,
        cast({{ date_diff('year', 'origin_year', 'valuation_year') }} as integer) as development_year,
        product,
        component_group,
        currency,
        cast(claims as bigint) as claims,
        cast(reported_claims as bigint) as reported_claims,
        cast(declined_claims as bigint) as declined_claims,
        cast(cumulative_paid as decimal(18, 2)) as cumulative_paid,
        cast(cumulative_incurred as decimal(18, 2)) as cumulative_incurred

    from developed

)

select * from final
order by product, component_group, currency, origin_year, valuation_year
