{{ config(contract={'enforced': true}) }}

-- policy_exposure aggregated over contracts into rating cells, one per period and currency
-- (amounts are never added across currencies).
-- frequency = claims per year of exposure; severity = incurred per claim; pure premium =
-- incurred per year of exposure. Each is null where its denominator is 0.

{%- set cell_columns = [
    'period_start', 'product', 'tier', 'vehicle_age_band', 'mileage_band', 'make_group',
    'fuel_type', 'region', 'currency', 'driver_age_band', 'sales_channel',
] %}

with

policy_exposure as (

    select * from {{ ref('policy_exposure') }}

),

cells as (

    select
        {{ cell_columns | join(',\n        ') }},
        sum(earned_exposure) as earned_exposure,
        sum(claim_count) as claim_count,
        sum(incurred_amount) as incurred_amount

    from policy_exposure
    group by {{ cell_columns | join(', ') }}

),

final as (

    select
        ---------- period and rating factors
        {{ cell_columns | join(',\n        ') }},

        ---------- measures
        cast(earned_exposure as double) as earned_exposure,
        cast(claim_count as bigint) as claim_count,
        cast(incurred_amount as decimal(18, 2)) as incurred_amount,
        cast(claim_count / nullif(earned_exposure, 0) as double) as frequency,
        {{ average_money('incurred_amount', 'claim_count') }} as severity,
        cast(
            round(cast(incurred_amount as double) / nullif(earned_exposure, 0), 2)
            as decimal(18, 2)
        ) as pure_premium

    from cells

)

select * from final
