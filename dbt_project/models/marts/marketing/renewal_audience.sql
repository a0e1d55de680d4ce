{{ config(contract={'enforced': true}) }}

-- Consented customers with a live contract due for renewal, by marketing-domain pseudonym,
-- with the renewal month and the segment as published in segments (region 'other' where the
-- cell was pooled). No contact data: the campaign tool resolves the pseudonyms itself.

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
        vehicle_age_band,
        region,
        tenure_band,
        key_version

    from segmented

)

select * from final
