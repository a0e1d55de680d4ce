with

source as (

    select * from {{ source('pseudo_actuarial', 'claims__claim_transactions') }}
    {{ latest_delivery(['transaction_key']) }}

),

renamed as (

    select

        ----------  ids
        transaction_key,
        claim_key,

        ---------- dimensions
        transaction_type,

        ---------- amounts
        -- a payment is cash paid (>= 0); a reserve change is the signed change of the
        -- outstanding case reserve; incurred = payments + reserve changes, so every
        -- transaction moves incurred by its amount
        cast(amount as decimal(18, 2)) as amount,
        cast(
            case when transaction_type = 'payment' then amount else 0 end as decimal(18, 2)
        ) as paid_amount,
        cast(amount as decimal(18, 2)) as incurred_amount,

        ---------- dates
        cast(transaction_date as date) as transaction_date,

        ---------- delivery
        _delivery_date as delivery_date,
        _key_version as key_version

    from source

)

select * from renamed
