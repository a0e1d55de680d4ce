"""Benchmark the pseudonymisation engine against the simple baselines, in one run.

Prints, for 1M and 10M generated identifiers of each type: values per second for the engine
(normalise + HMAC-SHA-256, vectorised), for a plain Python `hmac` loop over the same values
(timed on a sample: it is the slow baseline), and for single-core `openssl speed -hmac sha256`
on messages of similar length; then the peak resident memory of a bounded-batch run over a
10-million-row extract. Figures, not assertions: CI does not run this (see `make bench`).

    uv run python bench/pseudonymise.py [--sizes 1000000 10000000] [--batch-rows 500000]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transforms.privacy import identifiers as ids  # noqa: E402
from transforms.privacy.keys import DomainKeys  # noqa: E402
from transforms.privacy.pseudonymise import pseudonymise  # noqa: E402

VIN_ALPHABET = np.frombuffer(b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789", dtype="S1")
LETTERS = np.frombuffer(b"ABCDEFGHJKLMNPRSTUVWXY", dtype="S1")
SAMPLE_FOR_PYTHON = 300_000


def _chars(rng: np.random.Generator, alphabet: np.ndarray, n: int, width: int) -> pl.Series:
    raw = rng.choice(alphabet, size=(n, width)).view(f"S{width}").ravel()
    return pl.Series(raw).cast(pl.String)


def _digits(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    return pl.Series(rng.integers(0, 10**width, n)).cast(pl.String).str.zfill(width)


def generate(kind: str, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """n values of one identifier type, formatted as a source system would send them."""
    if kind == "vin":
        return pl.DataFrame({"v": _chars(rng, VIN_ALPHABET, n, 17)})
    if kind == "plate":
        return pl.DataFrame({"v": _chars(rng, LETTERS, n, 2) + _digits(rng, n, 2) + " "
                             + _chars(rng, LETTERS, n, 3)})
    if kind == "contract_number":
        return pl.DataFrame({"v": "OPW-" + _digits(rng, n, 7)})
    if kind == "claim_number":
        return pl.DataFrame({"v": "CLM-" + _digits(rng, n, 8)})
    if kind == "email":
        return pl.DataFrame({"v": _chars(rng, LETTERS, n, 6) + "." + _chars(rng, LETTERS, n, 8)
                             + _digits(rng, n, 3) + "@Example.co.uk"})
    if kind == "phone":
        return pl.DataFrame({"v": "07" + _digits(rng, n, 3) + " " + _digits(rng, n, 6)})
    if kind == "person":
        days = rng.integers(0, 25_000, n)
        return pl.DataFrame({
            "s": _chars(rng, LETTERS, n, 8), "f": _chars(rng, LETTERS, n, 6),
            "d": pl.Series(days - 10_957).cast(pl.Int32).cast(pl.Date),  # from 1940-01-01
        })
    raise ValueError(kind)


def engine_expr(kind: str, keys: DomainKeys) -> pl.Expr:
    if kind == "person":
        value = ids.normalise_person(pl.col("s"), pl.col("f"), pl.col("d"))
    else:
        value = ids.normalise(kind, pl.col("v"))
    return pseudonymise(value, keys, "actuarial")


def python_loop_rates(frame: pl.DataFrame, kind: str, keys: DomainKeys) -> tuple[float, float]:
    """The simple baselines over already-normalised values (normalisation excluded, which
    flatters them): a plain `hmac.new(key, value, sha256).hexdigest()` loop, and the fastest
    pure-Python variant we know (one pre-keyed object, `.copy()` per value)."""
    sample = frame.head(SAMPLE_FOR_PYTHON)
    if kind == "person":
        values = sample.select(ids.normalise_person(pl.col("s"), pl.col("f"), pl.col("d")))
    else:
        values = sample.select(ids.normalise(kind, pl.col("v")))
    encoded = [v.encode() for v in values.to_series().to_list()]
    key = keys.hmac_key("actuarial").encode("ascii")
    t = time.perf_counter()
    for v in encoded:
        hmac.new(key, v, hashlib.sha256).hexdigest()
    plain = len(encoded) / (time.perf_counter() - t)
    base = hmac.new(key, digestmod=hashlib.sha256)
    t = time.perf_counter()
    for v in encoded:
        h = base.copy()
        h.update(v)
        h.hexdigest()
    return plain, len(encoded) / (time.perf_counter() - t)


def openssl_rate(message_bytes: int) -> float | None:
    """Single-core `openssl speed -hmac sha256` operations per second at this message length."""
    try:
        out = subprocess.run(
            ["openssl", "speed", "-seconds", "2", "-bytes", str(message_bytes), "-hmac", "sha256"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"hmac\(sha256\)\s+([\d.]+)k", out)
    return float(m.group(1)) * 1000 / message_bytes if m else None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_rates(sizes: list[int], keys: DomainKeys) -> None:
    rng = np.random.default_rng(42)
    kinds = ["vin", "plate", "contract_number", "claim_number", "email", "phone", "person"]
    print(f"{'type':<16}{'n':>12}{'engine M/s':>12}{'py plain':>10}{'x plain':>9}"
          f"{'py pre-keyed':>14}{'x pre-keyed':>13}{'openssl M/s':>13}{'engine/openssl':>16}")
    openssl_cache: dict[int, float | None] = {}
    for n in sizes:
        for kind in kinds:
            frame = generate(kind, n, rng)
            expr = engine_expr(kind, keys)
            frame.head(1000).select(expr)  # warm-up
            t = time.perf_counter()
            out = frame.lazy().select(expr).collect(engine="streaming")
            engine = n / (time.perf_counter() - t)
            assert out.to_series().null_count() == 0
            plain, py = python_loop_rates(frame, kind, keys)
            if kind == "person":
                length = 8 + 6 + 10 + 2
            else:
                length = int(frame["v"].str.len_bytes().mean() or 17)
            if length not in openssl_cache:
                openssl_cache[length] = openssl_rate(length)
            ossl = openssl_cache[length]
            print(f"{kind:<16}{n:>12,}{engine / 1e6:>12.2f}{plain / 1e6:>10.2f}"
                  f"{engine / plain:>9.1f}{py / 1e6:>14.2f}{engine / py:>13.1f}"
                  + (f"{ossl / 1e6:>13.2f}{engine / ossl:>16.2f}" if ossl else f"{'n/a':>13}"))
            del frame, out


def run_memory(rows: int, batch_rows: int) -> None:
    """Pseudonymise a `rows`-row claim-transactions extract in bounded batches (subprocess)."""
    code = f"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from bench.extract import pseudonymise_extract
t = time.perf_counter()
n = pseudonymise_extract(Path(os.environ["BENCH_DIR"]), batch_rows={batch_rows})
dt = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
rss = int(hwm.split()[1]) / 1024
print(f"{{n:,}} rows in {{dt:.1f}} s = {{n / dt / 1e6:.2f}} M rows/s (validation, 2 HMAC "
      f"columns, DuckDB load); peak RSS {{rss:.0f}} MB")
"""
    import tempfile

    from bench.extract import write_extract

    with tempfile.TemporaryDirectory() as tmp:
        write_extract(rows, tmp)  # written here, so that only the pipeline's memory is measured
        env = {**os.environ, "BENCH_DIR": tmp}
        subprocess.run([sys.executable, "-c", code], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    args = parser.parse_args()
    keys = DomainKeys.derive(os.urandom(32))
    print(f"machine: {os.cpu_count()} cores; polars {pl.__version__}; "
          f"polars threads {pl.thread_pool_size()}")
    run_rates(args.sizes, keys)
    print(f"peak RSS of the rate runs: {peak_rss_mb():.0f} MB")
    print(f"\nbounded-batch pseudonymisation of a {args.memory_rows:,}-row extract "
          f"(batches of {args.batch_rows:,} rows):")
    run_memory(args.memory_rows, args.batch_rows)


if __name__ == "__main__":
    main()
