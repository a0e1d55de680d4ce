with

source as (

    select * from {{ source('pseudo_marketing', 'policy_admin__quotes') }}
    {{ latest_delivery(['quote_key']) }}

),

renamed as (

    select

        ----------  ids
        quote_key,
        person_key,

        ---------- dimensions
        product,
        make_group,
        region,
        country,

        ---------- amounts
        cast(quoted_premium as decimal(18, 2)) as quoted_premium,

        ---------- dates
        cast(quote_date as date) as quote_date,

        ---------- marketing consent collected with the quote
        consent_email,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
