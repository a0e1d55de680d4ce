-- One row per contract and period with cover, plus any period of the contract in which a
-- claim occurred without cover (no covered days), so that every claim on a known contract is
-- counted once, in the period of its loss date. Row-level, exact (covered days), not published:
-- policy_exposure publishes it generalised, frequency_severity pools it into cells.

{%- set period = exposure_period() %}

with

contracts as (

    select * from {{ ref('int_actuarial_contracts_unrestricted') }}

),

periods as (

    select * from {{ ref('int_actuarial_contract_periods_exploded') }}

),

claims as (

    select * from {{ ref('int_actuarial_claims_valued') }}

),

claims_by_period as (

    select
        contract_key,
        {{ period_start(period, 'loss_date') }} as period_start,
        count(*) filter (where not is_declined) as claim_count,
        count(*) filter (where is_declined) as declined_claims,
        sum(paid_amount) as paid_amount,
        sum(incurred_amount) as incurred_amount

    from claims
    group by contract_key, {{ period_start(period, 'loss_date') }}

),

contract_periods as (

    select contract_key, period_start from periods
    union
    select contract_key, period_start from claims_by_period

),

final as (

    select
        ----------  ids
        contract_periods.contract_key,
        contract_periods.period_start,

        ---------- rating factors
        contracts.product,
        contracts.tier,
        contracts.vehicle_age_band,
        contracts.mileage_band,
        contracts.currency,

        ---------- measures (amounts in currency; exposure in whole days: exact sums)
        cast(coalesce(periods.covered_days, 0) as bigint) as covered_days,
        cast(coalesce(claims_by_period.claim_count, 0) as bigint) as claim_count,
        cast(coalesce(claims_by_period.declined_claims, 0) as bigint) as declined_claims,
        cast(coalesce(claims_by_period.paid_amount, 0) as decimal(18, 2)) as paid_amount,
        cast(coalesce(claims_by_period.incurred_amount, 0) as decimal(18, 2)) as incurred_amount,
        cast(coalesce(periods.earned_premium, 0) as decimal(18, 2)) as earned_premium,

        ---------- metadata
        contracts.key_version

    from contract_periods
    inner join contracts
        on contract_periods.contract_key = contracts.contract_key
    left join periods
        on contract_periods.contract_key = periods.contract_key
        and contract_periods.period_start = periods.period_start
    left join claims_by_period
        on contract_periods.contract_key = claims_by_period.contract_key
        and contract_periods.period_start = claims_by_period.period_start

)

select * from final
