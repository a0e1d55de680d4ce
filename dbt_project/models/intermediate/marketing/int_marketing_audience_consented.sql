-- One row per marketing-domain customer who may receive marketing: a valid consent on the
-- as-of date, still valid by the latest change known (a withdrawal dated after as_of is
-- honoured), and no objection, consent withdrawal, erasure or active restriction.
--
-- Consent per channel (email, sms) is the latest of the events: the flags collected with each
-- contract (with their dates) and the DPO's consent changes. The customer is consented when any
-- channel is. On the same day a refusal wins. A flag without its date: a refusal counts from the
-- contract's start month; a consent is no evidence and is ignored.

with

contracts as (

    select * from {{ ref('stg_policy_admin__marketing_contracts') }}

),

contract_consents as (

    select
        customer_key,
        'email' as channel,
        consent_email as consent,
        coalesce(consent_email_date, case when not consent_email then start_month end)
            as consent_date

    from contracts
    where consent_email is not null

    union all

    select
        customer_key,
        'sms' as channel,
        consent_sms as consent,
        coalesce(consent_sms_date, case when not consent_sms then start_month end)
            as consent_date

    from contracts
    where consent_sms is not null

),

consent_events as (

    select customer_key, channel, consent, consent_date
    from contract_consents
    where consent_date is not null

    union all

    select customer_key, channel, consent, change_date as consent_date
    from {{ ref('stg_dpo__marketing_consent_changes') }}
    where consent is not null

),

consent_on_as_of as (

    select customer_key, channel, consent
    from consent_events
    where consent_date <= {{ as_of_date() }}
    qualify row_number() over (
        partition by customer_key, channel order by consent_date desc, consent asc
    ) = 1

),

consent_latest as (

    select customer_key, channel, consent
    from consent_events
    qualify row_number() over (
        partition by customer_key, channel order by consent_date desc, consent asc
    ) = 1

),

consented as (

    select customer_key from consent_on_as_of
    group by customer_key
    having bool_or(consent)

    intersect

    select customer_key from consent_latest
    group by customer_key
    having bool_or(consent)

),

customers as (

    select
        customer_key,
        min(start_month) as first_start_month

    from contracts
    group by customer_key

),

audience as (

    select
        customers.customer_key,
        customers.first_start_month,
        {{ int_divide(date_diff('month', 'customers.first_start_month', as_of_month()), 12) }}
            as tenure_years

    from customers
    inner join consented
        on customers.customer_key = consented.customer_key
    where not exists (
        select 1 from {{ ref('int_marketing_customers_excluded') }} as excluded
        where excluded.customer_key = customers.customer_key
    )

),

banded as (

    select
        *,
        {{ tenure_band('tenure_years') }} as tenure_band

    from audience

)

select * from banded
