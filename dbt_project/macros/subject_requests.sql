{#-
    The DPO's data-subject requests of one pseudonym domain, for its staging model: the
    requests as delivered (latest delivery per request_id) and, where the domain has them, the
    resolutions transforms/rights/processing.py wrote (one row per request and pseudonym of its subject,
    e.g. every contract of a subject who gave only a customer number). Both are the same entity
    in the same domain, so one staging model holds them; `is_resolved` tells them apart.
    Each domain keeps its own staging model (its pseudonyms never meet another domain's).

    delivered, resolved: the domain's source relations (resolved may be none);
    subject_keys: the domain's pseudonym columns naming the subject.
-#}
{% macro staged_subject_requests(delivered, resolved, subject_keys) %}
    {%- set origins = ['delivered'] if resolved is none else ['delivered', 'resolved'] %}
with

delivered as (

    select * from {{ delivered }}
    {{ latest_delivery(['request_id']) }}

),
{%- if resolved is not none %}

resolved as (

    select * from {{ resolved }}

),
{%- endif %}

renamed as (
{% for origin in origins %}
    select

        ----------  ids
        request_id,
        {{ subject_keys | join(',\n        ') }},

        ---------- dimensions
        request_type,

        ---------- dates
        cast(received_date as date) as received_date,

        ---------- as delivered, or as resolved by transforms/rights/processing.py (no delivery date)
        {{ 'true' if origin == 'resolved' else 'false' }} as is_resolved,
        {{ '_delivery_date' if origin == 'delivered' else 'cast(null as date)' }} as delivery_date,
        _key_version as key_version

    from {{ origin }}
{% if not loop.last %}
    union all
{% endif %}
{%- endfor %}
)

select * from renamed
{% endmacro %}

{#-
    The units (contracts or customers) of one pseudonym domain that data-subject requests keep
    out of processing: those of a subject who sent one of `refusals` (a dict request type ->
    flag column, e.g. {'erasure': 'is_erased'}), or who is under a restriction of processing
    not lifted since (is_restricted). The one filter every domain applies; each domain calls it
    on its own staging models, so pseudonyms of two domains never meet.

    Every request received so far counts, whatever the as-of date: a rebuild for an earlier date
    never brings such a subject back. A request names its subject by any of `match_keys`; it
    applies to every contract sharing one of `expand_keys` with a named contract
    (subject_request_contracts). When the unit is not the contract (a customer), a unit named
    directly counts even without a contract on file.

    Returns a select of (unit_key, one flag per refusal in the given order, is_restricted).
-#}
{% macro subject_requests_in_force(requests, contracts, unit_key, match_keys, expand_keys,
                                   refusals) %}
    {%- set request_types = (refusals.keys() | list) + ['restriction', 'restriction_lifted'] %}
with

requests as (

    -- as delivered (the subject's own identifiers) and as resolved by transforms/rights/processing.py
    -- (every contract and person of the subject, e.g. when only a customer number was given)
    select request_id, request_type, received_date, {{ match_keys | join(', ') }}
    from {{ requests }}
    where request_type in (
        {% for t in request_types %}'{{ t }}'{{ ', ' if not loop.last }}{% endfor %}
    )

),

contracts as (

    select contract_key, {{ expand_keys | join(', ') }} from {{ contracts }}

),

request_contracts as (

    {{ subject_request_contracts('requests', 'contracts', match_keys, expand_keys) }}

),

request_units as (
{%- if unit_key == 'contract_key' %}

    select request_id, request_type, received_date, contract_key from request_contracts
{%- else %}

    select
        request_contracts.request_id,
        request_contracts.request_type,
        request_contracts.received_date,
        contracts.{{ unit_key }}

    from request_contracts
    inner join contracts
        on request_contracts.contract_key = contracts.contract_key

    union

    -- a unit named directly, even without a contract on file
    select request_id, request_type, received_date, {{ unit_key }}
    from requests
    where {{ unit_key }} is not null
{%- endif %}

),

unit_requests as (

    select
        {{ unit_key }},
        {%- for request_type, flag in refusals.items() %}
        bool_or(request_type = '{{ request_type }}') as {{ flag }},
        {%- endfor %}
        max(received_date) filter (where request_type = 'restriction') as last_restricted_on,
        max(received_date) filter (where request_type = 'restriction_lifted') as last_lifted_on

    from request_units
    group by {{ unit_key }}

),

flagged as (

    select
        {{ unit_key }},
        {%- for flag in refusals.values() %}
        {{ flag }},
        {%- endfor %}
        {{ is_restriction_active('last_restricted_on', 'last_lifted_on') }} as is_restricted

    from unit_requests

)

select * from flagged
where {% for flag in refusals.values() %}{{ flag }} or {% endfor %}is_restricted
{% endmacro %}

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
