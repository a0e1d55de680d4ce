with

source as (

    select * from {{ source('pseudo_actuarial', 'policy_admin__contracts') }}
    {{ latest_delivery(['contract_key']) }}

),

renamed as (

    select

        ----------  ids
        contract_key,
        person_key,
        vehicle_key,

        ---------- rating factors
        product,
        tier,
        sales_channel,
        fuel_type,
        make_group,
        vehicle_age_band,
        mileage_band,
        driver_age_band,
        region,
        country,
        {{ currency('country') }} as currency,

        ---------- amounts (in currency)
        cast(premium_excl_ipt as decimal(18, 2)) as premium_excl_ipt,
        cast(ipt as decimal(18, 2)) as ipt,

        ---------- dates
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(cancellation_date as date) as cancellation_date,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
