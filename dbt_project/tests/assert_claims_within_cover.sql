{{ config(severity='warn') }}

-- Claims whose loss date falls outside their contract's cover [start_date, end_date) or after
-- its cancellation. They still count in policy_exposure, in a period row of earned exposure 0
-- when the period has no cover at all: the warning says how many there are.

select claims.claim_key
from {{ ref('int_actuarial_claims_valued') }} as claims
inner join {{ ref('int_actuarial_contracts_unrestricted') }} as contracts
    on claims.contract_key = contracts.contract_key
where claims.loss_date < contracts.start_date
    or claims.loss_date >= contracts.end_date
    or claims.loss_date >= contracts.cancellation_date
