-- One row per origin (accident) month, product, failed component, currency and month of
-- movement: the payments, the incurred movement and the newly reported (non-declined) claims of
-- that month. Amounts are never added across currencies.
-- A movement dated before its claim's accident month (a data error) counts in the accident month.

with

claims as (

    select
        *,
        {{ month_start('loss_date') }} as origin_month

    from {{ ref('int_claims_valued') }}

),

transactions as (

    select * from {{ ref('stg_claims__claim_transactions') }}
    where transaction_date <= {{ as_of_date() }}

),

amount_movements as (

    select
        claims.origin_month,
        claims.product,
        claims.failed_component,
        claims.currency,
        greatest(
            {{ month_start('transactions.transaction_date') }}, claims.origin_month
        ) as movement_month,
        transactions.paid_amount,
        transactions.incurred_amount,
        0 as reported_claims

    from transactions
    inner join claims
        on transactions.claim_key = claims.claim_key

),

reporting_movements as (

    select
        origin_month,
        product,
        failed_component,
        currency,
        greatest({{ month_start('notification_date') }}, origin_month) as movement_month,
        0 as paid_amount,
        0 as incurred_amount,
        case when is_declined then 0 else 1 end as reported_claims

    from claims

),

movements as (

    select * from amount_movements
    union all
    select * from reporting_movements

),

monthly as (

    select
        origin_month,
        product,
        failed_component,
        currency,
        movement_month,
        cast(sum(paid_amount) as decimal(18, 2)) as paid_amount,
        cast(sum(incurred_amount) as decimal(18, 2)) as incurred_amount,
        cast(sum(reported_claims) as bigint) as reported_claims

    from movements
    group by origin_month, product, failed_component, currency, movement_month

)

select * from monthly
