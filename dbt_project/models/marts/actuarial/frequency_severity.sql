{{ config(contract={'enforced': true}) }}

-- The GLM-ready aggregate: the cells of int_frequency_severity_cells that count at least k
-- contracts (pooled up the declared hierarchies first; docs/disclosure-control.md). Exposure is
-- summed in whole days (exact, reproducible) and divided once; rows in a stable order.
-- frequency = claims per year of exposure; severity = incurred per claim; pure premium =
-- incurred per year of exposure. Each is null where its denominator is 0.

{%- set cell_columns = [
    'period_start', 'product', 'tier', 'vehicle_age_band', 'mileage_band', 'currency',
] %}

with

cells as (

    select * from {{ ref('int_frequency_severity_cells') }}
    where not is_suppressed

),

final as (

    select
        ---------- period and rating factors
        {{ cell_columns | join(',\n        ') }},

        ---------- count of distinct units (at least k)
        contracts,

        ---------- measures
        exposure_days,
        cast(exposure_days / 365.25 as decimal(18, 6)) as earned_exposure,
        claim_count,
        declined_claims,
        incurred_amount,
        -- in double from the first operation: Spark would otherwise divide the decimal
        -- product exactly and round it once, DuckDB in double; now both round alike
        cast(claim_count as double) * 365.25 / nullif(exposure_days, 0) as frequency,
        {{ average_money('incurred_amount', 'claim_count') }} as severity,
        {{ prorate('incurred_amount', '1461', 'exposure_days * 4') }} as pure_premium

    from cells

)

select * from final
order by {{ cell_columns | join(', ') }}
