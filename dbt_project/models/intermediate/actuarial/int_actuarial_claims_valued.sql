-- One row per claim known at the as-of date (notified on or before it), valued at that date
-- in its contract's currency:
-- paid = payments dated <= as_of, incurred = those payments + reserve changes dated <= as_of.
-- Claims on contracts missing from contracts (warned about by a relationships test on
-- stg_claims__actuarial_claims) or of erased or restricted subjects are left out.

with

claims as (

    select * from {{ ref('stg_claims__actuarial_claims') }}
    where notification_date <= {{ as_of_date() }}

),

contracts as (

    select contract_key, product, currency from {{ ref('int_actuarial_contracts_unrestricted') }}

),

transactions as (

    select * from {{ ref('stg_claims__actuarial_claim_transactions') }}
    where transaction_date <= {{ as_of_date() }}

),

claim_totals as (

    select
        claim_key,
        sum(paid_amount) as paid_amount,
        sum(incurred_amount) as incurred_amount

    from transactions
    group by claim_key

),

valued as (

    select
        ----------  ids
        claims.claim_key,
        claims.contract_key,

        ---------- dimensions
        contracts.product,
        contracts.currency,
        claims.failed_component,
        claims.status,
        claims.is_declined,

        ---------- dates
        claims.loss_date,
        claims.notification_date,

        ---------- amounts as at the as-of date, in currency
        cast(coalesce(claim_totals.paid_amount, 0) as decimal(18, 2)) as paid_amount,
        cast(coalesce(claim_totals.incurred_amount, 0) as decimal(18, 2)) as incurred_amount

    from claims
    inner join contracts
        on claims.contract_key = contracts.contract_key
    left join claim_totals
        on claims.claim_key = claim_totals.claim_key

)

select * from valued
