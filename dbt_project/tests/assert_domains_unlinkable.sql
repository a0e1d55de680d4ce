-- The actuarial and marketing pseudonyms of a contract come from different keys: no contract
-- pseudonym may appear in both domains (a shared one means a shared key).

select actuarial.contract_key
from {{ ref('stg_policy_admin__actuarial_contracts') }} as actuarial
inner join {{ ref('stg_policy_admin__marketing_contracts') }} as marketing
    on actuarial.contract_key = marketing.contract_key
