-- Contracts, actuarial pseudonym domain (exact dates, rating factors): per key, the row of its
-- latest delivery (macros/latest_delivery.sql).

{% call staged_latest_delivery(
    source('pseudo_actuarial', 'policy_admin__contracts'), key_columns=['contract_key']
) %}
        ----------  ids
        contract_key,
        person_key,
        vehicle_key,

        ---------- rating factors
        product,
        tier,
        sales_channel,
        fuel_type,
        make_group,
        vehicle_age_band,
        mileage_band,
        driver_age_band,
        region,
        country,
        {{ currency('country') }} as currency,

        ---------- amounts (in currency)
        cast(premium_excl_ipt as decimal(18, 2)) as premium_excl_ipt,
        cast(ipt as decimal(18, 2)) as ipt,

        ---------- dates
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(cancellation_date as date) as cancellation_date
{% endcall %}
