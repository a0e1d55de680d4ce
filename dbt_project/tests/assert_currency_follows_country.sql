-- Every mart row's currency is its region's country's: GBP for a GB- region, EUR for an FR-
-- one ('other', pooled or unknown, is checked by the accepted values of currency alone).

with

regions as (

    select region, currency from {{ ref('policy_exposure') }}
    union
    select region, currency from {{ ref('frequency_severity') }}
    union
    select region, currency from {{ ref('segments') }}

)

select region, currency
from regions
where (region like 'GB-%' and currency <> 'GBP')
    or (region like 'FR-%' and currency <> 'EUR')
