-- One row per contract and period (var exposure_period: year or month) with covered days.
-- Cover is [start_date, end_date), cut at cancellation_date (the first day not covered) and
-- after the as-of date (the as-of date itself is covered).

{%- set period = exposure_period() %}

with

contracts as (

    select * from {{ ref('int_actuarial_contracts_unrestricted') }}

),

covered as (

    select
        contract_key,
        start_date,
        premium_excl_ipt,
        {{ date_diff('day', 'start_date', 'end_date') }} as term_days,
        least(
            end_date,
            coalesce(cancellation_date, end_date),
            {{ as_of_date() }} + 1
        ) as cover_end_date

    from contracts

),

periods as (

    select
        *,
        {{ unnest_period_starts(
            period,
            period_start(period, 'start_date'),
            period_start(period, 'cover_end_date - 1')
        ) }} as period_start_at

    from covered
    where cover_end_date > start_date

),

exploded as (

    select
        contract_key,
        cast(period_start_at as date) as period_start,
        cast(period_start_at + interval 1 {{ period }} as date) as period_end,
        term_days,
        premium_excl_ipt,
        greatest(start_date, cast(period_start_at as date)) as covered_from,
        least(cover_end_date, cast(period_start_at + interval 1 {{ period }} as date))
            as covered_until

    from periods

),

measured as (

    select
        *,
        {{ date_diff('day', 'covered_from', 'covered_until') }} as covered_days

    from exploded

),

earned as (

    select
        ----------  ids
        contract_key,

        ---------- period [period_start, period_end)
        period_start,
        period_end,

        ---------- cover within the period [covered_from, covered_until)
        covered_from,
        covered_until,
        covered_days,

        ---------- earned: exposure in years, premium pro rata of the whole term, to the cent
        covered_days / 365.25 as earned_exposure,
        coalesce({{ prorate('premium_excl_ipt', 'covered_days', 'term_days') }}, 0)
            as earned_premium

    from measured

)

select * from earned
