"""The marts on a large book: generate, ingest, `dbt build`, with wall time and peak memory.

    uv run python bench/build_marts.py                     # 100,000 and 1,000,000 contracts
    uv run python bench/build_marts.py --sizes 1000000 --keep /tmp/bench_marts

Every phase runs in its own process, so that its peak RSS (`ru_maxrss` from wait4, DuckDB
included: dbt-duckdb runs DuckDB inside the dbt process) is its own:

1. the real generator (`generate_book`, 3 days of deliveries, as_of 2026-11-26, seed 42);
2. the real ingest (validation, quarantine, HMAC pseudonymisation, load), in rows/s;
3. `dbt build` through `run_dbt` (models, data tests, unit tests), with DuckDB's memory_limit
   from the profile (var `duckdb_memory_limit`, default in dbt_project/profiles.yml);
4. each mart rebuilt alone (`dbt run --select <mart>`), for its own time and memory, against
   its output rows, and an idle `dbt ls` for the floor every dbt process pays;
5. a baseline: the exposure aggregate (earned exposure and premium per currency and year) in
   one hand-written DuckDB query straight from the pseudonymised tables, and the ratio of the
   dbt figures to it.

With two sizes, the last table says whether any mart's memory grows faster than its output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 26)
DAYS = 3
SEED = 42
MARTS = ("actuarial.policy_exposure", "actuarial.frequency_severity",
         "actuarial.claims_development", "marketing.segments", "marketing.renewal_audience")
MARKER = "BENCH-RESULT "
# The models actuarial.policy_exposure is made of, from the pseudonymised tables on.
EXPOSURE_CHAIN = ("stg_policy_admin__actuarial_contracts", "stg_claims__actuarial_claims",
                  "stg_claims__actuarial_claim_transactions",
                  "stg_dpo__actuarial_subject_requests", "int_actuarial_contracts_excluded",
                  "int_actuarial_contracts_unrestricted", "int_actuarial_contract_periods_exploded",
                  "int_actuarial_claims_valued", "policy_exposure")

# One query, written by hand: the latest row per contract, cover cut at cancellation and after
# as_of, calendar years, earned exposure and premium (to the cent) per currency and year.
BASELINE_SQL = f"""
with contracts as (
    select * from pseudo_actuarial.policy_admin__contracts
    qualify row_number() over (partition by contract_key order by _delivery_date desc) = 1
), covered as (
    select
        case country when 'GB' then 'GBP' when 'FR' then 'EUR' end as currency,
        start_date, premium_excl_ipt,
        datediff('day', start_date, end_date) as term_days,
        least(end_date, coalesce(cancellation_date, end_date), date '{AS_OF}' + 1) as cover_end
    from contracts
), years as (
    select *, unnest(generate_series(date_trunc('year', start_date),
                                     date_trunc('year', cover_end - 1), interval 1 year)) as y
    from covered where cover_end > start_date
), days as (
    select currency, y, term_days, premium_excl_ipt,
        datediff('day', greatest(start_date, y), least(cover_end, y + interval 1 year)) as d
    from years
)
select currency, cast(y as date) as period_start, sum(d / 365.25) as earned_exposure,
    sum(round(premium_excl_ipt * d / term_days, 2)) as earned_premium, count(*) as rows
from days group by all order by all
"""


# ------------------------------------------------------------------ phases (child processes)


def phase_generate(base: Path, contracts: int) -> dict[str, Any]:
    from transforms.sources.generate import generate_book

    summary = generate_book(base / "landing", contracts, DAYS, AS_OF, SEED, force=True,
                            truth_dir=base / "truth")
    return {"seconds": summary["seconds"]}


def phase_ingest(base: Path) -> dict[str, Any]:
    from transforms.ingest.run import ingest
    from transforms.privacy.keys import DomainKeys

    keys = DomainKeys.derive(os.urandom(32))
    started = time.perf_counter()
    reports = ingest(base / "landing", base / "warehouse.duckdb", base / "quarantine", keys)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows_read": sum(r.rows_read for r in reports),
            "rows_loaded": sum(r.rows_loaded for r in reports),
            "rows_quarantined": sum(r.rows_quarantined for r in reports)}


def phase_dbt(base: Path, args: list[str], memory_limit: str | None) -> dict[str, Any]:
    from transforms.build import dbt_run

    dbt_run.TARGET_PATH = base / "target"
    dbt_run.LOG_PATH = base / "logs"
    extra = {"duckdb_memory_limit": memory_limit} if memory_limit else None
    started = time.perf_counter()
    dbt_run.run_dbt(args, warehouse=base / "warehouse.duckdb", as_of=AS_OF, extra_vars=extra)
    seconds = time.perf_counter() - started
    results = json.loads((base / "target" / "run_results.json").read_text())["results"]
    return {"seconds": seconds,
            "nodes": {r["unique_id"]: r["execution_time"] for r in results}}


def phase_baseline(base: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(base / "warehouse.duckdb"), read_only=True)
    started = time.perf_counter()
    rows = con.execute(BASELINE_SQL).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": seconds, "result": [[str(v) for v in r] for r in rows]}


def phase_counts(base: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(base / "warehouse.duckdb"), read_only=True)
    counts = {m: con.execute(f"select count(*) from {m}").fetchone()[0] for m in MARTS}
    exposure = con.execute("""
        select currency, period_start, sum(earned_exposure), sum(earned_premium)
        from actuarial.policy_exposure group by all order by all
    """).fetchall()
    con.close()
    return {"counts": counts, "exposure": [[str(v) for v in r] for r in exposure]}


def child_main(argv: list[str]) -> None:
    phase, base = argv[0], Path(argv[1])
    sys.path.insert(0, str(ROOT))
    if phase == "generate":
        result = phase_generate(base, int(argv[2]))
    elif phase == "ingest":
        result = phase_ingest(base)
    elif phase == "dbt":
        limit = argv[2] or None
        result = phase_dbt(base, argv[3:], limit)
    elif phase == "baseline":
        result = phase_baseline(base)
    elif phase == "counts":
        result = phase_counts(base)
    else:
        raise SystemExit(f"unknown phase {phase}")
    print(MARKER + json.dumps(result), flush=True)


# ------------------------------------------------------------------ the driver


def run_phase(base: Path, *args: str) -> dict[str, Any]:
    """Run one phase in a child process; its result plus wall seconds and peak RSS (MiB)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, __file__, "--child", args[0], str(base),
                                  *args[1:]], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    results = [line for line in text.splitlines() if line.startswith(MARKER)]
    if child.returncode != 0 or not results:
        print(text[-4000:], file=sys.stderr)
        raise SystemExit(f"phase {args[0]} failed ({child.returncode})")
    result = json.loads(results[-1][len(MARKER):])
    result.update(wall=wall, peak_mib=usage.ru_maxrss / 1024,
                  cpu=usage.ru_utime + usage.ru_stime)
    return result


def layer(unique_id: str) -> str:
    kind, _, name = unique_id.split(".", 2)
    if kind == "model":
        return "models " + ("staging" if name.startswith("stg_") else
                            "intermediate" if name.startswith("int_") else "marts")
    if kind == "test":
        return "data tests on " + ("staging" if "stg_" in name else
                                   "intermediate" if "int_" in name else "marts")
    return kind.replace("_", " ") + "s"


def print_node_times(nodes: dict[str, float]) -> None:
    """Where the build's time goes: execution time summed by layer (threads overlap), and the
    slowest nodes."""
    by_layer: dict[str, float] = {}
    for unique_id, seconds in nodes.items():
        by_layer[layer(unique_id)] = by_layer.get(layer(unique_id), 0.0) + seconds
    print("  node time by layer: " + ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in sorted(by_layer.items())))
    slowest = sorted(nodes.items(), key=lambda item: -item[1])[:5]
    print("  slowest: " + ", ".join(
        f"{uid.split('.')[-1][:48]} {seconds:.1f} s" for uid, seconds in slowest))


def bench_size(base: Path, contracts: int, memory_limit: str | None) -> dict[str, Any]:
    print(f"\n== {contracts:,} contracts ({DAYS} daily deliveries, as_of {AS_OF}) in {base}")
    limit = memory_limit or ""
    gen = run_phase(base, "generate", str(contracts))
    print(f"generate        {gen['wall']:7.1f} s   peak {gen['peak_mib']:7.0f} MiB")
    ing = run_phase(base, "ingest")
    print(f"ingest          {ing['wall']:7.1f} s   peak {ing['peak_mib']:7.0f} MiB   "
          f"{ing['rows_read']:,} rows read ({ing['rows_loaded']:,} loaded, "
          f"{ing['rows_quarantined']:,} quarantined): "
          f"{ing['rows_read'] / ing['seconds']:,.0f} rows/s")
    build = run_phase(base, "dbt", limit, "build")
    print(f"dbt build       {build['wall']:7.1f} s   peak {build['peak_mib']:7.0f} MiB   "
          f"(run_dbt {build['seconds']:.1f} s, CPU {build['cpu']:.1f} s; models, data tests "
          "and unit tests)")
    print_node_times(build["nodes"])
    idle = run_phase(base, "dbt", limit, "ls", "--quiet")
    print(f"dbt ls (floor)  {idle['wall']:7.1f} s   peak {idle['peak_mib']:7.0f} MiB")
    counts = run_phase(base, "counts")
    marts: dict[str, dict[str, Any]] = {}
    for mart in MARTS:
        one = run_phase(base, "dbt", limit, "run", "--select", mart.split(".")[1])
        model = next(k for k in one["nodes"] if k.endswith("." + mart.split(".")[1]))
        marts[mart] = {"rows": counts["counts"][mart], "seconds": one["nodes"][model],
                       "peak_mib": one["peak_mib"]}
    print(f"{'mart, rebuilt alone':<30}{'rows':>12}{'model s':>9}{'peak MiB':>10}"
          f"{'above floor':>13}")
    for mart, m in marts.items():
        print(f"{mart:<30}{m['rows']:>12,}{m['seconds']:>9.2f}{m['peak_mib']:>10.0f}"
              f"{m['peak_mib'] - idle['peak_mib']:>13.0f}")
    baseline = run_phase(base, "baseline")
    same = baseline["result"] and [r[:2] for r in baseline["result"]] == \
        [r[:2] for r in counts["exposure"]]
    print(f"baseline query  {baseline['seconds']:7.2f} s   peak {baseline['peak_mib']:7.0f} MiB   "
          f"(one hand-written DuckDB query: exposure and premium per currency and year, no "
          f"subject requests, no claims; same cells as policy_exposure: {bool(same)})")
    chain = sum(t for uid, t in build["nodes"].items() if uid.split(".")[-1] in EXPOSURE_CHAIN)
    print(f"ratio to the baseline: whole dbt build {build['seconds'] / baseline['seconds']:.0f}x; "
          f"the {len(EXPOSURE_CHAIN)} models policy_exposure is built from (dedupe, subject "
          f"requests, claims valued; node time) {chain:.2f} s = "
          f"{chain / baseline['seconds']:.1f}x")
    return {"contracts": contracts, "generate": gen, "ingest": ing, "build": build,
            "idle": idle, "marts": marts, "baseline": baseline}


def growth_table(runs: list[dict[str, Any]]) -> None:
    small, large = runs[0], runs[-1]
    print(f"\n== memory against output, {small['contracts']:,} -> {large['contracts']:,} "
          "contracts (memory above the idle dbt floor)")
    print(f"{'':<30}{'rows x':>9}{'memory x':>10}{'KiB/row small':>15}{'KiB/row large':>15}")
    rows = [("dbt build (all marts)",
             sum(m["rows"] for m in small["marts"].values()),
             sum(m["rows"] for m in large["marts"].values()),
             small["build"]["peak_mib"] - small["idle"]["peak_mib"],
             large["build"]["peak_mib"] - large["idle"]["peak_mib"])]
    for mart in MARTS:
        s, m = small["marts"][mart], large["marts"][mart]
        rows.append((mart, s["rows"], m["rows"], s["peak_mib"] - small["idle"]["peak_mib"],
                     m["peak_mib"] - large["idle"]["peak_mib"]))
    for name, rows_small, rows_large, mem_small, mem_large in rows:
        mem_small, mem_large = max(mem_small, 1.0), max(mem_large, 1.0)
        print(f"{name:<30}{rows_large / max(rows_small, 1):>9.1f}{mem_large / mem_small:>10.1f}"
              f"{mem_small * 1024 / max(rows_small, 1):>15.2f}"
              f"{mem_large * 1024 / max(rows_large, 1):>15.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--keep", type=Path, help="work under this folder and keep it")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit for dbt, e.g. 2GB "
                        "(default: the profile's)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    runs = []
    for contracts in args.sizes:
        if args.keep:
            base = args.keep / f"{contracts}"
            base.mkdir(parents=True, exist_ok=True)
            (base / "warehouse.duckdb").unlink(missing_ok=True)
            runs.append(bench_size(base, contracts, args.memory_limit))
        else:
            base = Path(tempfile.mkdtemp(prefix=f"bench_marts_{contracts}_"))
            try:
                runs.append(bench_size(base, contracts, args.memory_limit))
            finally:
                shutil.rmtree(base, ignore_errors=True)
    if len(runs) > 1:
        growth_table(runs)


if __name__ == "__main__":
    main()
