-- Consented customers with a live contract due for renewal, by marketing-domain pseudonym,
-- with the renewal month, product, country and tenure band. Region and vehicle age band are
-- not published here: with them, one customer in ten was unique (docs/disclosure-control.md).
-- The country follows from the contract's currency (GBP: GB, EUR: FR). No contact data: the
-- campaign tool resolves the pseudonyms itself. Rows in a stable order.

with

segmented as (

    select * from {{ ref('int_marketing_contracts_segmented') }}
    where is_due_for_renewal

),

final as (

    select distinct
        customer_key,
        renewal_month,
        product,
        case currency when 'GBP' then 'GB' when 'EUR' then 'FR' else 'other' end as country,
        tenure_band,
        key_version

    from segmented

)

select * from final
