-- Per-contract experience, generalised for publication (docs/disclosure-control.md): only the
-- rating factors that keep few contracts unique, and exposure to the nearest quarter year
-- (exact days would reveal the cover start date). int_policy_exposure_units measures it.

with

experience as (

    select * from {{ ref('int_actuarial_contract_period_experience') }}

),

final as (

    select
        ----------  ids
        contract_key,
        period_start,

        ---------- rating factors
        product,
        tier,
        vehicle_age_band,
        currency,

        ---------- measures (amounts in currency)
        cast(round(covered_days * 4 / 365.25) / 4 as decimal(18, 2)) as earned_exposure,
        claim_count,
        declined_claims,
        paid_amount,
        incurred_amount,
        earned_premium,

        ---------- metadata
        key_version

    from experience

)

select * from final
