{#-
    The currency of the amounts of a contract, from its country (docs/source-contract.md: GBP
    for GB, EUR for FR; there is no currency column). Null for any other country, which the
    staging tests refuse: a mart never adds amounts of two currencies.
-#}
{% macro currency(country) -%}
    case {{ country }}
        when 'GB' then 'GBP'
        when 'FR' then 'EUR'
    end
{%- endmacro %}
