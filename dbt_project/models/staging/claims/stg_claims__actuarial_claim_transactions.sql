-- Claim transactions (payments, reserve changes), actuarial pseudonym domain: per key, the row of
-- its latest delivery (macros/latest_delivery.sql).

{% call staged_latest_delivery(
    source('pseudo_actuarial', 'claims__claim_transactions'), key_columns=['transaction_key']
) %}
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
        cast(transaction_date as date) as transaction_date
{% endcall %}
