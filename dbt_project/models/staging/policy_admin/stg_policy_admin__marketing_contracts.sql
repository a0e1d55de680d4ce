-- Contracts, marketing pseudonym domain (months only, consent flags): per key, the row of its
-- latest delivery (macros/latest_delivery.sql).

{% call staged_latest_delivery(
    source('pseudo_marketing', 'policy_admin__contracts'), key_columns=['contract_key']
) %}
        ----------  ids
        contract_key,
        customer_key,
        person_key,

        ---------- dimensions
        product,
        tier,
        vehicle_age_band,
        region,
        country,
        {{ currency('country') }} as currency,

        ---------- amounts (in currency)
        cast(premium_excl_ipt as decimal(18, 2)) as premium_excl_ipt,

        ---------- dates (first day of the month: marketing never sees the day)
        cast(start_month as date) as start_month,
        cast(end_month as date) as end_month,
        cast(cancellation_month as date) as cancellation_month,

        ---------- marketing consent collected with the contract
        consent_email,
        cast(consent_email_date as date) as consent_email_date,
        consent_sms,
        cast(consent_sms_date as date) as consent_sms_date
{% endcall %}
