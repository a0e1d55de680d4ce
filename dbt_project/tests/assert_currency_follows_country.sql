-- Every mart row's currency is its region's or country's: GBP for GB, EUR for FR ('other',
-- pooled or unknown, is checked by the accepted values of currency alone).

with

regions as (

    select region, currency from {{ ref('segments') }}

)

select region, currency
from regions
where (region like 'GB-%' and currency <> 'GBP')
    or (region like 'FR-%' and currency <> 'EUR')
