with

source as (

    select * from {{ source('pseudo_actuarial_rights', 'dpo__subject_requests_resolved') }}

),

renamed as (

    select

        ----------  ids
        request_id,
        person_key,
        contract_key,

        ---------- dimensions
        request_type,

        ---------- dates
        cast(received_date as date) as received_date,

        ---------- metadata
        _key_version as key_version

    from source

)

select * from renamed
