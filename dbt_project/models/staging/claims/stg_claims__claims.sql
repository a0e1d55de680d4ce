with

source as (

    select * from {{ source('pseudo_actuarial', 'claims__claims') }}
    {{ latest_delivery(['claim_key']) }}

),

renamed as (

    select

        ----------  ids
        claim_key,
        contract_key,

        ---------- dimensions
        failed_component,
        mileage_band,
        status,
        status = 'declined' as is_declined,

        ---------- dates
        cast(loss_date as date) as loss_date,
        cast(notification_date as date) as notification_date,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
