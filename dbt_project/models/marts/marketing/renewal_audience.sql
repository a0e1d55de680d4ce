{{ config(contract={'enforced': true}) }}

-- Consented customers with a live contract due for renewal (int_renewal_audience_generalised:
-- renewal month, product, country, tenure band), less the customers its disclosure ledger
-- withholds (int_renewal_audience_units: unique customers, only when too many are unique).
-- Stable order.

with

generalised as (

    select * from {{ ref('int_renewal_audience_generalised') }}

),

withheld as (

    select customer_key from {{ ref('int_renewal_audience_units') }}
    where is_suppressed

),

final as (

    select * from generalised
    where customer_key not in (select customer_key from withheld)

)

select * from final
order by customer_key, renewal_month, product, country, tenure_band
