with

source as (

    select * from {{ source('pseudo_marketing', 'policy_admin__contracts') }}
    {{ latest_delivery(['contract_key']) }}

),

renamed as (

    select

        ----------  ids
        contract_key,
        customer_key,
        person_key,

        ---------- dimensions
        product,
        tier,
        vehicle_age_band,
        region,
        country,
        {{ currency('country') }} as currency,

        ---------- amounts (in currency)
        cast(premium_excl_ipt as decimal(18, 2)) as premium_excl_ipt,

        ---------- dates (first day of the month: marketing never sees the day)
        cast(start_month as date) as start_month,
        cast(end_month as date) as end_month,
        cast(cancellation_month as date) as cancellation_month,

        ---------- marketing consent collected with the contract
        consent_email,
        cast(consent_email_date as date) as consent_email_date,
        consent_sms,
        cast(consent_sms_date as date) as consent_sms_date,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
