"""Generate the synthetic insurer's daily deliveries into the landing zone.

    python -m transforms.sources.generate --out data/landing --contracts 50000 --days 3 \\
        --as-of 2026-11-26 --seed 42 [--horizon-days 7] [--force | --if-missing] \\
        [--shard-contracts 1000000]
    python -m transforms.sources.generate --out data/landing --append-day

The same seed and parameters give byte-identical files. `--days N` writes deliveries for
as_of-(N-1) .. as_of: the first is the full extract of history to that date, the others daily
increments. The planted-defect truth goes to `<out>/../synthetic_truth/<as-of>/defects.json`
(outside the landing zone: the pipeline never reads it, the tests do).

The book's history runs to its horizon (as_of + `--horizon-days`, default as_of; `--contracts`
counts the contracts started by the horizon), so that later days exist for the same book:
`--append-day` adds the next day's deliveries to an existing landing zone, byte-identical to
what one generation up to that day writes for it (transforms/sources/landing_book.py keeps the
book's parameters in `<out>/_book.json`). `--if-missing` keeps an existing landing zone only
when it holds the same book (seed, contracts, shards, first delivery), adding the days up to
as_of if they are missing; another book is refused (exit 2) rather than silently kept.

A book of more than `--shard-contracts` contracts (default 1,000,000) is built in shards of
near-equal size, one after the other (transforms/sources/shards.py): each shard builds its own
history, appends its rows of every delivery date to the files and is dropped before the next,
so that memory stays about one shard's (1.9 GiB at 1M contracts) instead of growing with the
book (19 GB at 10M). The defects are planted in shard 0, whose rows come first in every file;
each shard numbers its contracts, customers, claims... in its own block of each number's
format, so that they stay unique and keep their width up to the limit of 10,000,000 contracts
(contract numbers are `OPW-` + 7 digits), above which a book is refused before anything is
written. A book of one shard is byte-identical to what the generator wrote before shards. Each
file is written beside its name and renamed when every shard is in; the manifest comes last.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from transforms.classification import Classification, load
from transforms.files import write_text_atomic
from transforms.progress import Progress
from transforms.sources import policy_admin_db as policy_admin
from transforms.sources import shards
from transforms.sources.claims import build_claims
from transforms.sources.common import HISTORY_START, day_number, rng_for
from transforms.sources.contracts import build_book
from transforms.sources.defects import KINDS, Defect, plant
from transforms.sources.deliveries import (
    ENTITIES,
    SYSTEMS,
    DeliveryFiles,
    History,
    categorical_history,
    delivery_frames,
)
from transforms.sources.dpo import build_consent_changes, build_subject_requests
from transforms.sources.people import Pools, build_pools
from transforms.sources.quotes import build_quotes
from transforms.sources.shards import DEFAULT_SHARD_CONTRACTS, BookTooLargeError, Shard, whole_book

log = logging.getLogger(__name__)


class DeliveryExistsError(FileExistsError):
    """A delivery folder to be written already exists; rerun with --force to replace it."""


def build_history(seed: int, contracts: int, as_of: date, *, shard: Shard | None = None,
                  pools: Pools | None = None) -> History:
    """The three source systems' whole history for one book (nothing written), to `as_of`
    (the book's horizon); or for one `shard` of a larger book (`contracts` its share, `seed`
    the book's), with the book's name pools when given."""
    shard = shard or whole_book(seed, contracts)
    pools = pools or build_pools(seed)
    own = shard.seed
    book = build_book(own, contracts, day_number(as_of), pools, shard)
    claims = build_claims(own, book)
    quotes = build_quotes(own, book, pools)
    requests = build_subject_requests(own, book, quotes, pools)
    consent = build_consent_changes(own, book, requests)
    return History(book=book, claims=claims, quotes=quotes, consent_changes=consent,
                   subject_requests=requests)


def delivery_dates(as_of: date, days: int) -> list[date]:
    return [as_of - timedelta(days=days - 1 - i) for i in range(days)]


MENTIONS = ("name", "plate", "phone")
MATCHES = ("customer", "prospect", "nobody")
LISTED_MATCHES = ("prospect", "nobody")


@dataclass
class DayTruth:
    """What the truth file records of one delivery date, gathered shard by shard.

    The defects are shard 0's (the only one they are planted in: its rows come first in every
    file, so their positions are the file's); the mentions and request matches are summed over
    the shards, and a request's position is offset by the rows of the shards before it.
    """

    defects: list[Defect] = field(default_factory=list)
    mentions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MENTIONS, 0))
    matches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MATCHES, 0))
    request_rows: dict[str, list[int]] = field(
        default_factory=lambda: {k: [] for k in LISTED_MATCHES})
    requests_before: int = 0

    def add(self, frames: dict[tuple[str, str], pl.DataFrame]) -> None:
        mentions = frames[("claims", "claims")]["_mentions"].value_counts(sort=True)
        for k in MENTIONS:
            self.mentions[k] += int(mentions.filter(pl.col("_mentions") == k)["count"].sum())
        match = frames[("dpo", "subject_requests")]["_match"]
        matches = match.value_counts(sort=True)
        for k in MATCHES:
            self.matches[k] += int(matches.filter(pl.col("_match") == k)["count"].sum())
        for i, m in enumerate(match.to_list()):
            if m in self.request_rows:
                self.request_rows[m].append(self.requests_before + i)
        self.requests_before += match.len()


def _truth_entry(d: date, full: bool, truth: DayTruth, previous: date | None) -> dict[str, Any]:
    defects = truth.defects
    counts: dict[str, dict[str, int]] = {}
    for x in defects:
        per = counts.setdefault(f"{x.entity[0]}/{x.entity[1]}", {})
        per[x.kind] = per.get(x.kind, 0) + 1
    return {
        "delivery_date": d.isoformat(),
        "full_extract": full,
        "totals": {k: sum(1 for x in defects if x.kind == k) for k in KINDS},
        "counts": dict(sorted(counts.items())),
        "defects": [x.to_json(previous.isoformat() if previous else None) for x in defects],
        "description_mentions": dict(truth.mentions),
        "subject_request_matches": dict(truth.matches),
        "subject_request_rows": {k: list(v) for k, v in truth.request_rows.items()},
    }


@dataclass(frozen=True)
class _Run:
    """What every shard of one generation shares."""

    seed: int
    horizon: date
    dates: list[date]
    classification: Classification
    pools: Pools
    keys: dict[tuple[str, str], str]
    files: DeliveryFiles
    truth: dict[date, DayTruth]
    policy_admin_db: Any | None
    progress: Progress


def _generate_shard(run: _Run, shard: Shard) -> None:
    """Build one shard's history, cut its frames for every date (planting the defects in shard
    0), append them to the files (or load them into the database) and drop the history.

    Dates inside the shard, in order: the defects planted on a day depend on the previous day's
    frames of the same shard."""
    history = categorical_history(build_history(run.seed, shard.contracts, run.horizon,
                                                shard=shard, pools=run.pools),
                                  run.classification)
    previous: dict[tuple[str, str], pl.DataFrame] | None = None
    previous_rows: dict[tuple[str, str], set[int]] | None = None
    for i, d in enumerate(run.dates):
        day = day_number(d)
        frames = delivery_frames(history, run.classification, day, full=i == 0)
        if shard.index == 0:
            frames, defects = plant(rng_for(run.seed, f"defects/{d.isoformat()}"), frames,
                                    run.keys, day, previous, previous_rows)
            run.truth[d].defects = defects
            previous = frames
            previous_rows = {}
            for x in defects:
                previous_rows.setdefault(x.entity, set()).add(x.row)
        if run.policy_admin_db is not None:
            policy_admin.load_delivery(run.policy_admin_db, run.classification, d, {
                name: frames[(policy_admin.SYSTEM, name)] for name in policy_admin.TABLES})
        run.files.append(d, frames)
        run.truth[d].add(frames)
        run.progress.update(1)


def generate_book(out_dir: Path, contracts: int = 50_000, days: int = 3,
                  as_of: date = date(2026, 11, 26), seed: int = 42, *, force: bool = False,
                  truth_dir: Path | None = None, horizon: date | None = None,
                  only: date | None = None, policy_admin_db: Any | None = None,
                  write_files: bool = True,
                  shard_contracts: int = DEFAULT_SHARD_CONTRACTS) -> dict[str, Any]:
    """Write `days` deliveries of every system under `out_dir` and the defect truth file.

    The history is built to `horizon` (default `as_of`), and recorded in `<out>/_book.json`.
    A book of more than `shard_contracts` contracts is built in shards, one after the other,
    each appended to the same files (transforms/sources/shards.py: memory stays one shard's);
    a book of one shard is what the generator always wrote. A book too large for the contract
    numbers' format is refused (BookTooLargeError) before anything is written.
    `only` writes that one delivery date's folders (the others are computed, as the defects
    planted on a day depend on the previous day's delivery, but not written): how
    `landing_book.append_day` adds a day byte-identical to a generation up to it.
    Refuses (DeliveryExistsError) to replace an existing delivery folder unless `force`.
    With `policy_admin_db` (a DB-API connection to the policy-administration database), the
    policy-admin rows of every date up to `as_of` are loaded into its tables instead (replacing
    what they held; transforms/sources/policy_admin_db.py) and no policy_admin folder is
    written: the extract writes them. `write_files=False` writes no delivery folder at all
    (reloading the database for a landing zone that is kept).
    Returns a summary: rows and bytes per file, defects per kind, per delivery.
    """
    from transforms.sources.landing_book import BookRecord, write_record

    if days < 1 or contracts < 1:
        raise ValueError("days and contracts must be at least 1")
    dates = delivery_dates(as_of, days)
    if dates[0] < HISTORY_START:
        raise ValueError(f"the first delivery must not precede the history start {HISTORY_START}")
    horizon = horizon or as_of
    if horizon < as_of:
        raise ValueError(f"the book's horizon {horizon} precedes the as-of date {as_of}")
    if only is not None and only not in dates:
        raise ValueError(f"{only} is not one of the delivery dates {dates[0]}..{dates[-1]}")
    plan = shards.plan(seed, contracts, shard_contracts)
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir else out_dir.parent / "synthetic_truth"
    written = [d for d in dates if write_files and (only is None or d == only)]
    file_systems = [s for s in SYSTEMS if policy_admin_db is None or s != policy_admin.SYSTEM]
    folders = [out_dir / system / d.isoformat() for d in written for system in file_systems]
    existing = [f for f in folders if f.exists()]
    if existing and not force:
        raise DeliveryExistsError(
            f"{len(existing)} delivery folder(s) already exist, e.g. {existing[0]}; "
            "use --force to replace them")
    started = time.perf_counter()
    for f in existing:
        shutil.rmtree(f)

    classification = load()
    if policy_admin_db is not None:
        policy_admin.create_tables(policy_admin_db, classification, replace=True)
    label = f"generate {contracts:,} contracts" + (f" in {len(plan)} shards"
                                                   if len(plan) > 1 else "")
    run = _Run(seed=seed, horizon=horizon, dates=dates, classification=classification,
               pools=build_pools(seed),
               keys={(s, e): classification.entity(s, e).key[0] for s, e in ENTITIES},
               files=DeliveryFiles(out_dir, written, file_systems, classification),
               truth={d: DayTruth() for d in dates}, policy_admin_db=policy_admin_db,
               progress=Progress(label, total=len(plan) * len(dates),
                                 unit="shard-days" if len(plan) > 1 else "days", every=1,
                                 logger=log))
    try:
        for shard in plan:
            _generate_shard(run, shard)
        deliveries = run.files.finish()
    except BaseException:
        run.files.discard()
        raise
    run.progress.close()

    summary: dict[str, Any] = {"as_of": as_of.isoformat(), "seed": seed, "contracts": contracts,
                               "days": days, "shards": len(plan), "deliveries": [],
                               "defects": {}}
    for w in deliveries:
        summary["deliveries"].append({
            "delivery_date": w.delivery_date.isoformat(), "system": w.system,
            "path": str(w.folder), "rows": {k: v["rows"] for k, v in w.files.items()},
            "bytes": w.sizes,
            "defects": {k: sum(1 for x in run.truth[w.delivery_date].defects
                               if x.kind == k and x.entity[0] == w.system) for k in KINDS},
        })
    for d in dates:
        summary["defects"][d.isoformat()] = {
            k: sum(1 for x in run.truth[d].defects if x.kind == k) for k in KINDS}

    truth_path = truth_dir / as_of.isoformat() / "defects.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "as_of": as_of.isoformat(), "seed": seed, "contracts": contracts, "days": days,
        "row": "0-based position of the data row in its file, header excluded",
        "deliveries": [_truth_entry(d, i == 0, run.truth[d], dates[i - 1] if i else None)
                       for i, d in enumerate(dates)],
    }
    write_text_atomic(truth_path, json.dumps(doc, indent=2) + "\n")
    summary["truth"] = str(truth_path)
    if only is None or not (out_dir / "_book.json").exists():
        write_record(out_dir, BookRecord(
            seed=seed, contracts=contracts, first=dates[0], horizon=horizon,
            shard_contracts=shard_contracts if len(plan) > 1 else None))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for d in summary["deliveries"]:
        files = ", ".join(f"{name} {rows:,}" for name, rows in d["rows"].items())
        planted = ", ".join(f"{k}={v}" for k, v in d["defects"].items() if v) or "none"
        lines.append(f"{d['delivery_date']} {d['system']:<12} {files}; defects: {planted}")
    return lines


def _reload_database(out: Path, db: Any, truth_dir: Path | None) -> None:
    """Load the book a kept landing zone holds into the policy-admin database, up to its last
    delivery (the same rows a generation writes: the database may be new, or hold another
    book); no delivery folder is written."""
    from transforms.sources import landing_book

    record = landing_book.read_record(out)
    last = landing_book.last_delivery(out)
    if record is None or last is None:
        return
    generate_book(out, record.contracts, (last - record.first).days + 1, last, record.seed,
                  truth_dir=truth_dir, horizon=record.horizon, policy_admin_db=db,
                  write_files=False, shard_contracts=record.shard_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transforms.sources.generate",
        description="Write the synthetic source systems' deliveries to the landing zone.")
    parser.add_argument("--out", type=Path, default=Path("data/landing"))
    parser.add_argument("--contracts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 26))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--truth-dir", type=Path, default=None,
                        help="default: <out>/../synthetic_truth")
    parser.add_argument("--force", action="store_true",
                        help="replace delivery folders that already exist")
    parser.add_argument("--horizon-days", type=int, default=0,
                        help="the book's history runs this many days past --as-of, so that "
                             "--append-day can add them later (default 0)")
    parser.add_argument("--if-missing", action="store_true",
                        help="keep the deliveries when they are the same book (make run's "
                             "rerun), adding missing days up to --as-of; refuse another book")
    parser.add_argument("--append-day", action="store_true",
                        help="add the next day's deliveries of the book already in --out "
                             "(its parameters come from <out>/_book.json)")
    parser.add_argument("--policy-admin-dsn", default=None,
                        help="libpq DSN of the policy-administration database: its rows go "
                             "there (tables replaced) instead of to landing files "
                             "(python -m transforms.sources.postgres_server start prints it)")
    parser.add_argument("--shard-contracts", type=int, default=DEFAULT_SHARD_CONTRACTS,
                        help="a larger book is built in shards of about this many contracts, "
                             "one after the other, so that memory stays one shard's (default "
                             f"{DEFAULT_SHARD_CONTRACTS:,}; --append-day takes the book's)")
    parser.add_argument("--last-date", action="store_true",
                        help="print the last delivery date in --out and exit")
    args = parser.parse_args(argv)
    from transforms.sources import landing_book

    # progress: a bar on a terminal, else one line per delivery day on stderr (transforms/progress)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    if args.last_date:
        last = landing_book.last_delivery(args.out)
        print(last.isoformat() if last else "")
        return 0 if last else 2
    db = None
    if args.policy_admin_dsn:
        import psycopg2

        db = psycopg2.connect(args.policy_admin_dsn)
    try:
        if args.append_day:
            summary = landing_book.append_day(args.out, truth_dir=args.truth_dir,
                                              policy_admin_db=db)
        elif args.if_missing and landing_book.has_deliveries(args.out):
            kept = landing_book.ensure_book(args.out, contracts=args.contracts, days=args.days,
                                            as_of=args.as_of, seed=args.seed,
                                            truth_dir=args.truth_dir, policy_admin_db=db,
                                            shard_contracts=args.shard_contracts)
            if db is not None:
                _reload_database(args.out, db, args.truth_dir)
                kept += "; policy-admin database loaded with the same book"
            print(kept)
            return 0
        else:
            summary = generate_book(args.out, args.contracts, args.days, args.as_of, args.seed,
                                    force=args.force, truth_dir=args.truth_dir,
                                    horizon=args.as_of + timedelta(days=args.horizon_days),
                                    policy_admin_db=db, shard_contracts=args.shard_contracts)
    except (DeliveryExistsError, BookTooLargeError, landing_book.LandingBookError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if db is not None:
            db.close()
    for line in _summary_lines(summary):
        print(line)
    print(f"done in {summary['seconds']} s; defect truth: {summary['truth']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
