{{ config(contract={'enforced': true}) }}

-- Consented customers with a live contract due for renewal (int_renewal_audience_generalised:
-- renewal month, product, country, tenure band), less the customers its disclosure ledger
-- withholds (int_renewal_audience_units: unique customers, only when too many are unique).
-- Stable order.

{{ without_withheld_units(
    ref('int_renewal_audience_generalised'), ref('int_renewal_audience_units'), 'customer_key'
) }}
order by customer_key, renewal_month, product, country, tenure_band
