-- Claims, actuarial pseudonym domain: per key, the row of its latest delivery
-- (macros/latest_delivery.sql).

{% call staged_latest_delivery(
    source('pseudo_actuarial', 'claims__claims'), key_columns=['claim_key']
) %}
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
        cast(notification_date as date) as notification_date
{% endcall %}
