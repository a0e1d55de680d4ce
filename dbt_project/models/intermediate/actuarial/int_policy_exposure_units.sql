-- The disclosure ledger of policy_exposure: per contract, the size of its equivalence class on
-- the declared quasi-identifiers of its first period (config/classification.yml) and whether
-- it is withheld: only when more than the declared share of contracts is unique (a small book),
-- and then only the unique ones. Their experience stays in frequency_severity's cells.

{{ unique_unit_flags(ref('int_policy_exposure_generalised'),
                     row_level_rule('actuarial.policy_exposure')) }}
