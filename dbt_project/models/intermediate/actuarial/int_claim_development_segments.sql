-- The disclosure ledger of claims_development: one row per product, failed component and
-- currency with claims, and the component group it is published in. Why per segment: a
-- development triangle must keep every origin x valuation cell of a segment, so pooling and
-- suppression act on whole segments, never on single cells.
--
-- Level 0: each component in its declared group (config/classification.yml, hierarchy
-- component_group; an undeclared component goes to 'other'). A group whose smallest non-empty
-- cell (claims notified by a valuation year, per origin year) counts fewer than k claims is
-- pooled into 'other'; if 'other' is then still small, the product and currency is published as
-- one group 'all'. A segment still small there starts its triangle after its last accident year
-- with a small cell (a small book's first years): the claims of earlier accident years are
-- suppressed (suppressed_* here, shares reported by the gate); a segment whose latest accident
-- year is small is suppressed whole.

{%- set k = disclosure_k() %}
{%- set level = disclosure_hierarchy('component_group')['pool'][0] %}

with

claims as (

    select
        *,
        {{ period_start('year', 'loss_date') }} as origin_year,
        greatest(
            {{ period_start('year', 'notification_date') }},
            {{ period_start('year', 'loss_date') }}
        ) as reported_year,
        {{ pool_label('failed_component', level) }} as level_0_group

    from {{ ref('int_actuarial_claims_valued') }}

),

grouped as (

    select
        *,
        case
            when level_0_group in ({% for g in level.keys() %}'{{ g }}'{{ ', ' if not loop.last }}{% endfor %})
                then level_0_group
            else 'other'
        end as group_0

    from claims

),

{%- for g in ['group_0', 'group_1', 'group_2'] %}

{{ g }}_smallest as (

    select product, currency, {{ g }} as component_group, min(cumulative_claims) as smallest
    from (
        select
            product,
            currency,
            {{ g }},
            sum(count(*)) over (
                partition by product, currency, {{ g }}, origin_year order by reported_year
            ) as cumulative_claims
        from {{ 'grouped' if g == 'group_0' else 'pooled_' ~ loop.index0 }}
        group by product, currency, {{ g }}, origin_year, reported_year
    )
    group by product, currency, {{ g }}

),
{%- if g == 'group_0' %}

pooled_1 as (

    select
        grouped.*,
        case
            when smallest.smallest < {{ k }} then 'other' else grouped.group_0
        end as group_1

    from grouped
    inner join group_0_smallest as smallest
        on grouped.product = smallest.product
        and grouped.currency = smallest.currency
        and grouped.group_0 = smallest.component_group

),
{%- elif g == 'group_1' %}

pooled_2 as (

    select
        pooled_1.*,
        case
            when bool_or(smallest.smallest < {{ k }}) over (
                partition by pooled_1.product, pooled_1.currency
            ) then 'all'
            else pooled_1.group_1
        end as group_2

    from pooled_1
    inner join group_1_smallest as smallest
        on pooled_1.product = smallest.product
        and pooled_1.currency = smallest.currency
        and pooled_1.group_1 = smallest.component_group

),
{%- endif %}
{%- endfor %}

origins as (

    -- per published segment and accident year: does every cell with claims reach k?
    select
        product,
        currency,
        group_2 as component_group,
        origin_year,
        min(cumulative_claims) >= {{ k }} as origin_ok
    from (
        select
            product,
            currency,
            group_2,
            origin_year,
            sum(count(*)) over (
                partition by product, currency, group_2, origin_year order by reported_year
            ) as cumulative_claims
        from pooled_2
        group by product, currency, group_2, origin_year, reported_year
    )
    group by product, currency, group_2, origin_year

),

segment_start as (

    -- the segment's triangle starts after its last accident year with a small cell (a small
    -- book's first years); none if its latest accident year is small
    select
        product,
        currency,
        component_group,
        case
            when bool_and(origin_ok) then min(origin_year)
            when max(origin_year) filter (where not origin_ok) < max(origin_year)
                then cast(max(origin_year) filter (where not origin_ok) + interval 1 year as date)
        end as first_origin_year
    from origins
    group by product, currency, component_group

),

segments as (

    select
        pooled_2.product,
        pooled_2.failed_component,
        pooled_2.currency,
        any_value(pooled_2.group_0) as declared_group,
        any_value(pooled_2.group_2) as component_group,
        any_value(pooled_2.group_2) <> any_value(pooled_2.group_0) as is_pooled,
        any_value(segment_start.first_origin_year) as first_origin_year,
        any_value(segment_start.first_origin_year) is null as is_suppressed,
        cast(count(*) as bigint) as claims,
        cast(sum(pooled_2.paid_amount) as decimal(18, 2)) as paid_amount,
        cast(sum(pooled_2.incurred_amount) as decimal(18, 2)) as incurred_amount,
        cast(count(*) filter (where not coalesce(
            pooled_2.origin_year >= segment_start.first_origin_year, false)) as bigint)
            as suppressed_claims,
        cast(coalesce(sum(pooled_2.paid_amount) filter (where not coalesce(
            pooled_2.origin_year >= segment_start.first_origin_year, false)), 0)
            as decimal(18, 2)) as suppressed_paid_amount,
        cast(coalesce(sum(pooled_2.incurred_amount) filter (where not coalesce(
            pooled_2.origin_year >= segment_start.first_origin_year, false)), 0)
            as decimal(18, 2)) as suppressed_incurred_amount

    from pooled_2
    inner join segment_start
        on pooled_2.product = segment_start.product
        and pooled_2.currency = segment_start.currency
        and pooled_2.group_2 = segment_start.component_group
    group by pooled_2.product, pooled_2.failed_component, pooled_2.currency

)

select * from segments
