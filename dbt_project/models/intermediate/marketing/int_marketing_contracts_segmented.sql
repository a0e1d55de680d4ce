-- One row per live contract of a consented customer, with the segment it is published in.
--
-- Live at the as-of date, at the month precision marketing receives: started in or before the
-- as-of month, ending in or after it, and not cancelled in or before it. A due renewal ends
-- between the as-of month and the month renewal_window_days after as_of.
--
-- Small cells: a cell (product, vehicle age band, region, tenure band, currency) with fewer
-- than min_cell_size customers has its region pooled as 'other' (an unknown region is 'other'
-- from the start); a pooled cell still below min_cell_size is not published (is_published
-- false). Currency is part of every cell, so pooling never mixes GBP and EUR premiums.

{%- set k = min_cell_size() %}

with

live_contracts as (

    select
        contracts.contract_key,
        contracts.customer_key,
        contracts.product,
        contracts.vehicle_age_band,
        coalesce(contracts.region, 'other') as region,
        audience.tenure_band,
        contracts.currency,
        contracts.premium_excl_ipt,
        contracts.end_month as renewal_month,
        contracts.end_month <= {{ month_start(
            as_of_date() ~ ' + ' ~ renewal_window_days()
        ) }} as is_due_for_renewal,
        contracts.key_version

    from {{ ref('stg_policy_admin__marketing_contracts') }} as contracts
    inner join {{ ref('int_marketing_audience_consented') }} as audience
        on contracts.customer_key = audience.customer_key
    where contracts.start_month <= {{ as_of_month() }}
        and contracts.end_month >= {{ as_of_month() }}
        and coalesce(contracts.cancellation_month > {{ as_of_month() }}, true)

),

cells as (

    select
        product,
        vehicle_age_band,
        region,
        tenure_band,
        currency,
        count(distinct customer_key) as customers

    from live_contracts
    group by product, vehicle_age_band, region, tenure_band, currency

),

pooled as (

    select
        {{ star_except('live_contracts', [
            'contract_key', 'customer_key', 'product', 'vehicle_age_band', 'region',
            'tenure_band', 'currency', 'premium_excl_ipt', 'renewal_month',
            'is_due_for_renewal', 'key_version'], ['region']) }},
        case
            when cells.customers >= {{ k }} then live_contracts.region
            else 'other'
        end as region

    from live_contracts
    inner join cells
        on live_contracts.product is not distinct from cells.product
        and live_contracts.vehicle_age_band is not distinct from cells.vehicle_age_band
        and live_contracts.region is not distinct from cells.region
        and live_contracts.tenure_band is not distinct from cells.tenure_band
        and live_contracts.currency is not distinct from cells.currency

),

pooled_cells as (

    select
        product,
        vehicle_age_band,
        region,
        tenure_band,
        currency,
        count(distinct customer_key) as customers

    from pooled
    group by product, vehicle_age_band, region, tenure_band, currency

),

segmented as (

    select
        ----------  ids
        pooled.contract_key,
        pooled.customer_key,

        ---------- segment
        pooled.product,
        pooled.vehicle_age_band,
        pooled.region,
        pooled.tenure_band,
        pooled.currency,
        pooled_cells.customers as segment_customers,
        pooled_cells.customers >= {{ k }} as is_published,

        ---------- contract (premium in currency)
        pooled.premium_excl_ipt,
        pooled.renewal_month,
        pooled.is_due_for_renewal,

        ---------- delivery
        pooled.key_version

    from pooled
    inner join pooled_cells
        on pooled.product is not distinct from pooled_cells.product
        and pooled.vehicle_age_band is not distinct from pooled_cells.vehicle_age_band
        and pooled.region is not distinct from pooled_cells.region
        and pooled.tenure_band is not distinct from pooled_cells.tenure_band
        and pooled.currency is not distinct from pooled_cells.currency

)

select * from segmented
