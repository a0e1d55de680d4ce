-- The disclosure ledger of renewal_audience: per customer, the size of its equivalence class on
-- the declared quasi-identifiers of its first renewal row and whether it is withheld: only when
-- more than the declared share of customers is unique, and then only the unique ones.

{{ unique_unit_flags(ref('int_renewal_audience_generalised'),
                     row_level_rule('marketing.renewal_audience')) }}
