"""The retention rules that act on the warehouse's row-level tables, one function per rule.

Each rule takes a connection inside the caller's transaction, the policy and the "as of" date,
and returns {target table: rows}. Dates are compared as `limit <= as_of`: a row whose limit is
the as-of date is removed that day (kept the day before). Entities are snapshots, so a rule
judges a key by its latest delivered row and removes the key's rows of every delivery.

Why the marketing domain is judged by month: it receives contract dates generalised to the
first day of their month (config/classification.yml), so a marketing contract's end is taken as
the first day of the month after its end month: never earlier than the actuarial rule, at most
a month later.

Restriction hold: a subject whose restriction of processing is in force keeps their rows past
the limit (privacy policy, section 12: "... you wish to use these data for the establishment,
exercise or defence of legal rights even though we were going to delete them"). Which contracts
are restricted is decided as in the dbt models (dbt_project/macros/subject_requests.sql): the
latest restriction not followed by a lifting received strictly later, matched by the request's
pseudonyms and extended to the person's (and customer's) other contracts.
"""

from __future__ import annotations

from datetime import date

import duckdb

CONTRACTS = "pseudo_{d}.policy_admin__contracts"
CLAIMS = "pseudo_actuarial.claims__claims"
TRANSACTIONS = "pseudo_actuarial.claims__claim_transactions"
QUOTES = "pseudo_marketing.policy_admin__quotes"
CONSENT = "pseudo_marketing.dpo__consent_changes"
REQUESTS = "pseudo_{d}.dpo__subject_requests"
RESOLVED = "pseudo_{d}.dpo__subject_requests_resolved"  # written by transforms/rights/processing.py
LATEST = ("qualify row_number() over (partition by {key} "
          "order by _delivery_date desc, _key_version desc) = 1")


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".", 1)
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? "
        "and table_name = ? order by ordinal_position", [schema, name]).fetchall()]


def exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(columns(con, table))


def _delete(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> int:
    if not exists(con, table):
        return 0
    return int(con.execute(f"delete from {table} where {where}", params).fetchall()[0][0])


# -- who is on hold ---------------------------------------------------------------------------


def held_contracts(con: duckdb.DuckDBPyConnection, domain: str) -> str:
    """SQL selecting the contract keys under an active restriction in `domain` (empty select
    when the domain has no requests or contracts yet)."""
    contracts, requests = CONTRACTS.format(d=domain), REQUESTS.format(d=domain)
    if not (exists(con, contracts) and exists(con, requests)):
        return "select null::varchar as contract_key where false"
    ccols, rcols = set(columns(con, contracts)), set(columns(con, requests))
    resolved = RESOLVED.format(d=domain)
    rescols = set(columns(con, resolved))
    match = [k for k in ("person_key", "contract_key", "customer_key") if k in ccols & rcols]
    expand = [k for k in ("person_key", "customer_key") if k in ccols]
    if not match:
        return "select null::varchar as contract_key where false"
    keys = ", ".join(["contract_key", *expand])
    fields = ", ".join(["request_type", "received_date", *match])
    union_resolved = (f"union all select {fields} from {resolved} where request_type in "
                      "('restriction', 'restriction_lifted')"
                      if set(match) <= rescols and rescols else "")
    direct = " union ".join(
        "select r.request_type, r.received_date, c.contract_key"
        + "".join(f", c.{k}" for k in expand)
        + f" from req r join con c on r.{k} = c.{k}" for k in match)
    widened = " union ".join(
        [f"select d.request_type, d.received_date, c.contract_key from direct d "
         f"join con c on d.{k} = c.{k}" for k in expand]
        + ["select request_type, received_date, contract_key from direct"])
    return f"""
        with req as (
            select {fields} from (
                select * from {requests}
                where request_type in ('restriction', 'restriction_lifted')
                {LATEST.format(key='request_id')}
            )
            {union_resolved}
        ),
        con as (select distinct {keys} from {contracts}),
        direct as ({direct}),
        widened as ({widened}),
        per as (
            select contract_key,
                max(received_date) filter (where request_type = 'restriction') as restricted,
                max(received_date) filter (where request_type = 'restriction_lifted') as lifted
            from widened group by contract_key
        )
        select contract_key from per
        where contract_key is not null
        and restricted is not null and (lifted is null or lifted <= restricted)
    """


def held_persons(con: duckdb.DuckDBPyConnection) -> str:
    """SQL selecting marketing person keys under an active restriction (for quotes)."""
    requests, contracts = REQUESTS.format(d="marketing"), CONTRACTS.format(d="marketing")
    if not exists(con, requests):
        return "select null::varchar as person_key where false"
    via_contracts = (f" union select person_key from {contracts} where person_key is not null "
                     f"and contract_key in "
                     f"({held_contracts(con, 'marketing')})" if exists(con, contracts) else "")
    return f"""
        select person_key from (
            select person_key,
                max(received_date) filter (where request_type = 'restriction') as restricted,
                max(received_date) filter (where request_type = 'restriction_lifted') as lifted
            from (select * from {requests} {LATEST.format(key='request_id')})
            where person_key is not null group by person_key
        ) where restricted is not null and (lifted is null or lifted <= restricted)
        {via_contracts}
    """


# -- contract end dates ---------------------------------------------------------------------


def contract_ends(con: duckdb.DuckDBPyConnection, domain: str) -> str:
    """SQL selecting (contract_key, ended_on) from the latest row of each contract."""
    table = CONTRACTS.format(d=domain)
    cols = set(columns(con, table))
    if {"end_date", "cancellation_date"} <= cols:
        ended = "least(end_date, coalesce(cancellation_date, end_date))"
    else:  # months only: the first day of the month after the end month
        ended = ("cast(least(end_month, coalesce(cancellation_month, end_month)) "
                 "+ to_months(1) as date)")
    return (f"select contract_key, {ended} as ended_on from {table} "
            f"{LATEST.format(key='contract_key')}")


# -- the rules ------------------------------------------------------------------------------


def contracts_and_claims(con: duckdb.DuckDBPyConnection, years: int, as_of: date
                         ) -> dict[str, int]:
    """Contract rows go `years` after the contract ended (cancellation or end), with their
    claims and the claims' transactions; a claim whose contract is not (or no longer) in the
    warehouse goes `years` after its last activity. Restricted subjects are held."""
    out: dict[str, int] = {}
    for domain in ("actuarial", "marketing"):
        con.execute(f"create or replace temp table _purge_{domain} (contract_key varchar)")
        table = CONTRACTS.format(d=domain)
        if not exists(con, table):
            continue
        con.execute(f"""create or replace temp table _purge_{domain} as
            select contract_key from ({contract_ends(con, domain)})
            where cast(ended_on + to_years(?) as date) <= ?
            and contract_key not in ({held_contracts(con, domain)})""", [years, as_of])
        out[f"{table}:held_by_restriction"] = int(con.execute(f"""
            select count(*) from ({contract_ends(con, domain)})
            where cast(ended_on + to_years(?) as date) <= ?
            and contract_key in ({held_contracts(con, domain)})""",
            [years, as_of]).fetchall()[0][0])
    if exists(con, CLAIMS):
        activity = (f"select claim_key, max(transaction_date) as last_at from {TRANSACTIONS} "
                    "group by claim_key") if exists(con, TRANSACTIONS) else \
            "select null::varchar as claim_key, null::date as last_at where false"
        known = (f"select contract_key from {CONTRACTS.format(d='actuarial')} "
                 "where contract_key is not null"
                 if exists(con, CONTRACTS.format(d="actuarial")) else
                 "select null::varchar as contract_key where false")
        con.execute(f"""create or replace temp table _purge_claims as
            select claim_key from {CLAIMS}
            where contract_key in (select contract_key from _purge_actuarial)
            union
            select c.claim_key from (select * from {CLAIMS} {LATEST.format(key='claim_key')}) c
            left join ({activity}) a on a.claim_key = c.claim_key
            where c.contract_key not in ({known})
            and cast(greatest(c.notification_date, coalesce(a.last_at, c.notification_date))
                     + to_years(?) as date) <= ?""", [years, as_of])
        out[TRANSACTIONS] = _delete(
            con, TRANSACTIONS, "claim_key in (select claim_key from _purge_claims)", [])
        out[CLAIMS] = _delete(con, CLAIMS, "claim_key in (select claim_key from _purge_claims)",
                              [])
    for domain in ("actuarial", "marketing"):
        table = CONTRACTS.format(d=domain)
        if exists(con, table):
            out[table] = _delete(
                con, table, f"contract_key in (select contract_key from _purge_{domain})", [])
    return out


def prospects(con: duckdb.DuckDBPyConnection, years: int, as_of: date) -> dict[str, int]:
    """Quotes go `years` after the person's last contact, i.e. their latest quote (a quote
    without a person key stands alone). Restricted persons are held."""
    if not exists(con, QUOTES):
        return {}
    n = _delete(con, QUOTES, f"""quote_key in (
        with latest as (select * from {QUOTES} {LATEST.format(key='quote_key')}),
        contact as (
            select coalesce(person_key, quote_key) as who, max(quote_date) as last_contact
            from latest group by 1
        )
        select l.quote_key from latest l join contact c
            on c.who = coalesce(l.person_key, l.quote_key)
        where cast(c.last_contact + to_years(?) as date) <= ?
        and coalesce(l.person_key, '') not in (
            select coalesce(person_key, '') from ({held_persons(con)}) where person_key is not null
        ))""", [years, as_of])
    return {QUOTES: n}


def billing(con: duckdb.DuckDBPyConnection, years: int, as_of: date,
            figures: dict[str, list[str]]) -> dict[str, int]:
    """Billing figures (premium, IPT) are blanked `years` after the contract ended. With the
    default policy (10 years, contracts purged at 6) no row lives that long: the rule then
    removes nothing and guarantees the ceiling if the periods are ever configured otherwise."""
    out: dict[str, int] = {}
    for domain, cols in figures.items():
        table = CONTRACTS.format(d=domain)
        present = [c for c in cols if c in columns(con, table)]
        if not present:
            continue
        sets = ", ".join(f"{c} = null" for c in present)
        any_set = " or ".join(f"{c} is not null" for c in present)
        out[table] = int(con.execute(f"""update {table} set {sets}
            where ({any_set}) and contract_key in (
                select contract_key from ({contract_ends(con, domain)})
                where cast(ended_on + to_years(?) as date) <= ?
                and contract_key not in ({held_contracts(con, domain)}))""",
            [years, as_of]).fetchall()[0][0])
    return out


def orphans(con: duckdb.DuckDBPyConnection, years: int, as_of: date) -> dict[str, int]:
    """The DPO feed's rows about subjects of whom nothing else is kept: consent changes and
    subject requests (as delivered and as resolved) older than the prescription period that
    match no contract or quote left in their domain. Younger ones stay: a withdrawal must
    outlive a contract delivered late."""
    out: dict[str, int] = {}
    mcontracts = CONTRACTS.format(d="marketing")
    if exists(con, CONSENT):
        customers = (f"select customer_key from {mcontracts} where customer_key is not null"
                     if exists(con, mcontracts)
                     else "select null::varchar as customer_key where false")
        out[CONSENT] = _delete(con, CONSENT, f"""cast(change_date + to_years(?) as date) <= ?
            and customer_key not in ({customers})""", [years, as_of])
    for domain in ("actuarial", "marketing", "dpo"):
        for requests in (REQUESTS.format(d=domain), RESOLVED.format(d=domain)):
            if not exists(con, requests):
                continue
            rcols = set(columns(con, requests))
            alive = []
            for table in (CONTRACTS.format(d=domain), QUOTES if domain == "marketing" else None):
                if table and exists(con, table):
                    tcols = set(columns(con, table))
                    alive += [f"{k} in (select {k} from {table})"
                              for k in ("person_key", "contract_key", "customer_key")
                              if k in rcols & tcols]
            still = " or ".join(alive) or "false"
            out[requests] = _delete(con, requests, f"""cast(received_date + to_years(?) as date)
                <= ? and not coalesce({still}, false)""", [years, as_of])
    return out
