-- The DPO's consent changes, marketing pseudonym domain: per key, the row of its latest delivery
-- (macros/latest_delivery.sql).

{% call staged_latest_delivery(
    source('pseudo_marketing', 'dpo__consent_changes'), key_columns=['change_id']
) %}
        ----------  ids
        change_id,
        customer_key,

        ---------- consent
        channel,
        consent,

        ---------- dates
        cast(change_date as date) as change_date
{% endcall %}
