with

source as (

    select * from {{ source('pseudo_marketing', 'dpo__consent_changes') }}
    {{ latest_delivery(['change_id']) }}

),

renamed as (

    select

        ----------  ids
        change_id,
        customer_key,

        ---------- consent
        channel,
        consent,

        ---------- dates
        cast(change_date as date) as change_date,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
