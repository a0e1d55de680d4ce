{{ config(contract={'enforced': true}) }}

-- Consented customers' live contracts by segment. Cells below min_cell_size customers were
-- pooled (region 'other') or, still too small, left out in int_marketing_contracts_segmented:
-- every row counts at least min_cell_size customers.

with

segmented as (

    select * from {{ ref('int_marketing_contracts_segmented') }}
    where is_published

),

final as (

    select
        ---------- segment
        product,
        vehicle_age_band,
        region,
        tenure_band,
        currency,

        ---------- measures (average premium in currency)
        cast(count(distinct customer_key) as bigint) as customers,
        cast(count(*) filter (where is_due_for_renewal) as bigint) as renewals,
        {{ average_money('sum(premium_excl_ipt)', 'count(*)') }} as average_premium

    from segmented
    group by product, vehicle_age_band, region, tenure_band, currency

)

select * from final
order by product, vehicle_age_band, region, tenure_band, currency
