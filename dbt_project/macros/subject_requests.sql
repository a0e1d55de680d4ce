{#-
    The contracts a data-subject request applies to, within one pseudonym domain.

    A request names its subject by any of `match_keys` (person_key, contract_key, customer_key);
    the subject is the person behind every directly matched contract, so the request also applies
    to every contract sharing one of `expand_keys` (the person, the customer) with a directly
    matched contract. Equi-joins only (one per key), so the cost grows with the contracts.

    Returns a select of (request_id, request_type, received_date, contract_key).
-#}
{% macro subject_request_contracts(requests, contracts, match_keys, expand_keys) %}
    with

    directly_named as (
        {% for key in match_keys %}
        select
            requests.request_id,
            requests.request_type,
            requests.received_date,
            contracts.contract_key
            {%- for expand_key in expand_keys %},
            contracts.{{ expand_key }}
            {%- endfor %}
        from {{ requests }} as requests
        inner join {{ contracts }} as contracts
            on requests.{{ key }} = contracts.{{ key }}
        {% if not loop.last %}union{% endif %}
        {% endfor %}
    ),

    same_subject as (
        select request_id, request_type, received_date, contract_key
        from directly_named
        {% for expand_key in expand_keys %}
        union
        select
            directly_named.request_id,
            directly_named.request_type,
            directly_named.received_date,
            contracts.contract_key
        from directly_named
        inner join {{ contracts }} as contracts
            on directly_named.{{ expand_key }} = contracts.{{ expand_key }}
        {% endfor %}
    )

    select * from same_subject
{% endmacro %}

{#-
    Whether a restriction of processing is in force: the latest restriction is not followed by a
    lifting received strictly later (a lifting on the same day does not count).
-#}
{% macro is_restriction_active(last_restricted_on, last_lifted_on) -%}
    coalesce(
        {{ last_restricted_on }} is not null
        and ({{ last_lifted_on }} is null or {{ last_lifted_on }} <= {{ last_restricted_on }}),
        false
    )
{%- endmacro %}
