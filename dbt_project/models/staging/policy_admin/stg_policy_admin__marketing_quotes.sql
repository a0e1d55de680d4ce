-- Quotes, marketing pseudonym domain: per key, the row of its latest delivery
-- (macros/latest_delivery.sql).

{% call staged_latest_delivery(
    source('pseudo_marketing', 'policy_admin__quotes'), key_columns=['quote_key']
) %}
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
        consent_email
{% endcall %}
