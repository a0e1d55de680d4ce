with

source as (

    select * from {{ source('pseudo_dpo', 'dpo__subject_requests') }}
    {{ latest_delivery(['request_id']) }}

),

renamed as (

    select

        ----------  ids
        request_id,
        person_key,
        contract_key,
        customer_key,

        ---------- dimensions
        request_type,

        ---------- dates
        cast(received_date as date) as received_date,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
