"""Publish the marts that passed the gate: a new publication folder, then one atomic switch.

Why this shape: readers (actuaries, the campaign tool, auditors) open `data/published/...`.
Each run writes a complete, self-contained publication under `data/publications/<run_id>/`
(marts.duckdb, the Parquet extracts, the reports and a manifest with every file's SHA-256) in a
hidden staging folder, renames it into place, and only then points the `data/published` symlink
at it with a rename over the old link (os.replace: atomic on POSIX). A reader therefore sees the
old publication or the new one, never half of one; a failure at any step before the switch
leaves the previous publication exactly as it was; and readers that still hold the old files
open keep reading them, as the last three publications are kept.

Incremental runs (transforms/operations/build_skip.py): the manifest records the fingerprint of
the marts' inputs (`inputs`, transforms/build/input_fingerprint.py) so that the next run can tell
nothing changed and keep this publication, and a content hash of every mart (`marts`). An
extract whose mart has the same content hash as in the current publication is not written again:
its file is hard-linked (copied where links are impossible) from the current publication, and its
checksum taken from that manifest; `publication_is_intact` still checks every file's bytes.

Publishing needs the gate's summary (`reports["gate-summary.json"]`, from
GateResult.report_files()): a failed gate, or marts whose row counts changed since the gate ran,
are refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from transforms import settings
from transforms.checksums import file_sha256
from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.publish import privacy_report, validation_report

log = logging.getLogger(__name__)

KEEP = 3
MANIFEST = "publication.json"
MARTS_FILE = "marts.duckdb"
GATE_SUMMARY = "gate-summary.json"
DATA_DOCS = "data-docs"
PRIVACY_REPORT = "privacy-report.html"
ACTUARIAL_REPORT = "actuarial-report.html"
_STAGING = ".staging-"


class PublishError(RuntimeError):
    """Nothing was switched: the previous publication is still the published one."""


@dataclass(frozen=True)
class PublishResult:
    run_id: str
    publication: Path  # data/publications/<name>
    published: Path  # the data/published symlink, now pointing at `publication`
    tables: dict[str, int]  # mart -> rows
    extracts: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)  # older publications pruned

    @property
    def privacy_report(self) -> Path:
        return self.publication / "reports" / PRIVACY_REPORT


def publications_root(published_dir: Path) -> Path:
    return published_dir.parent / "publications"


def _safe_name(run_id: str) -> str:
    """Airflow run ids carry ':' and '+': keep a portable folder name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip(".-_")
    if not name:
        raise PublishError("run_id gives an empty folder name")
    return name


def _free_name(root: Path, run_id: str) -> str:
    """<run_id>, or <run_id>.2, .3 ... when a retry of the same run publishes again."""
    base = _safe_name(run_id)
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}.{n}"
    return name


def _sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _read_gate(reports: dict[str, Path] | None, required: bool) -> dict | None:
    source = (reports or {}).get(GATE_SUMMARY)
    if source is None:
        if required:
            raise PublishError("no gate summary given (reports['gate-summary.json']): "
                               "run the publication gate first")
        return None
    summary = json.loads(Path(source).read_text(encoding="utf-8"))
    if not summary.get("passed"):
        raise PublishError("the publication gate failed: nothing is published")
    return summary


@dataclass
class _Previous:
    """What the current publication holds, to reuse its unchanged extract files."""

    folder: Path | None = None
    marts: dict[str, str] = field(default_factory=dict)  # mart -> content hash
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    @classmethod
    def of(cls, folder: Path | None) -> _Previous:
        if folder is None:
            return cls()
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(folder, dict(manifest.get("marts") or {}), dict(manifest.get("files") or {}))

    def reusable(self, mart: str, content: str, rel: str) -> Path | None:
        """The previous file for `rel` when its mart had the same content and the file still
        has the checksum its manifest records (a damaged file is written afresh), else None."""
        if self.folder is None or self.marts.get(mart) != content or rel not in self.files:
            return None
        source = self.folder / rel
        if not source.is_file() or file_sha256(source) != self.files[rel]:
            return None
        return source


def _content_hash(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Rows and two independent order-free 64-bit row-hash sums (one scan): equal for equal
    content, whatever the row order."""
    rows, h1, h2 = con.execute(
        f"select count(*), coalesce(sum(hash(t)), 0)::varchar, "
        f"coalesce(sum(hash(t::varchar)), 0)::varchar from {table} t").fetchall()[0]
    return f"{rows}:{h1}:{h2}"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _copy_marts(warehouse: Path, staging: Path, classification: Classification,
                previous: _Previous | None = None) -> tuple[
    dict[str, int], list[Path], dict[str, str], dict[str, str]
]:
    """Copy every mart into staging/marts.duckdb (same schemas, same column types) and write
    the Parquet extracts from that copy, so that extracts and database hold the same rows.

    Returns rows per mart, the extracts, each mart's content hash, and the checksums of the
    extracts reused from `previous` (relative path -> sha256)."""
    previous = previous or _Previous()
    target = staging / MARTS_FILE
    extracts_dir = staging / "extracts"
    tables: dict[str, int] = {}
    extracts: list[Path] = []
    contents: dict[str, str] = {}
    reused: dict[str, str] = {}
    con = duckdb.connect(str(warehouse))  # not read_only: dbt-duckdb may hold it in-process
    try:
        # bounded: the extracts' total sort (`order by all`) of the largest mart took DuckDB's
        # default limit (80% of RAM) and made publish the pipeline's peak at 3M contracts
        # (2.92 GiB); under the limit it spills to the temporary directory
        settings.bound_duckdb(con)
        con.execute(f"attach {_sql_str(target)} as pub")
        try:
            for mart in classification.marts:
                src, dst = f'"{mart.schema}"."{mart.table}"', f'pub."{mart.schema}"."{mart.table}"'
                con.execute(f'create schema if not exists pub."{mart.schema}"')
                try:
                    con.execute(f"create table {dst} as select * from {src}")
                except duckdb.CatalogException as exc:
                    raise PublishError(f"mart {mart.name} is missing from the warehouse") from exc
                tables[mart.name] = con.execute(f"select count(*) from {dst}").fetchall()[0][0]
                contents[mart.name] = _content_hash(con, dst)
                if mart.extract:
                    extracts_dir.mkdir(exist_ok=True)
                    out = extracts_dir / f"{mart.schema}__{mart.table}.parquet"
                    rel = str(out.relative_to(staging))
                    same = previous.reusable(mart.name, contents[mart.name], rel)
                    if same is not None:
                        _link_or_copy(same, out)
                        reused[rel] = previous.files[rel]
                    else:
                        # a total order on every column: identical marts give identical bytes
                        con.execute(f"copy (select * from {dst} order by all) to "
                                    f"{_sql_str(out)} (format parquet)")
                    extracts.append(out)
            con.execute("checkpoint pub")
        finally:
            con.execute("detach pub")
    finally:
        con.close()
    return tables, extracts, contents, reused


def _check_against_gate(tables: dict[str, int], gate: dict | None) -> None:
    """Refuse marts that changed after the gate validated them (another build in between)."""
    if gate is None:
        return
    gated = gate.get("tables") or {}
    for name, rows in tables.items():
        seen = (gated.get(name) or {}).get("rows")
        if seen != rows:
            raise PublishError(
                f"{name}: {rows} rows now, {seen} when the gate ran: run the gate again"
            )


def _copy_reports(reports: dict[str, Path] | None, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, source in (reports or {}).items():
        source = Path(source)
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def _write_manifest(folder: Path, run_id: str, tables: dict[str, int], *,
                    marts: dict[str, str] | None = None, inputs: dict | None = None,
                    known: dict[str, str] | None = None) -> None:
    """The manifest: every file's SHA-256 (`known` gives those of files reused unchanged from
    the previous publication), the marts' content hashes and the inputs' fingerprint."""
    known = known or {}
    manifest: dict[str, object] = {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "tables": tables,
        "files": {rel: known.get(rel) or file_sha256(p)
                  for p in _files(folder) for rel in [str(p.relative_to(folder))]},
    }
    if marts is not None:
        manifest["marts"] = marts
    if inputs is not None:
        manifest["inputs"] = inputs
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _switch(published_dir: Path, publication: Path) -> None:
    """Point published_dir at the publication: a new symlink renamed over the old one."""
    parent = published_dir.parent
    if published_dir.exists() and not published_dir.is_symlink():
        # a folder from before publications existed: keep it as a publication of its own
        legacy = publications_root(published_dir) / f"legacy-{uuid.uuid4().hex[:8]}"
        os.rename(published_dir, legacy)
    tmp = parent / f".{published_dir.name}.{uuid.uuid4().hex}.tmp"
    os.symlink(os.path.relpath(publication, parent), tmp)
    try:
        os.replace(tmp, published_dir)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(parent)


def _created(folder: Path) -> str:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["created_at"]
    except (OSError, ValueError, KeyError):
        return ""


def list_publications(published_dir: Path) -> list[Path]:
    """Complete publications (with a manifest), oldest first."""
    root = publications_root(published_dir)
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
    return sorted(done, key=lambda p: (_created(p), p.name))


def current_publication(published_dir: Path) -> Path | None:
    """The folder data/published points at, or None before the first publication."""
    if not published_dir.is_symlink():
        return None
    return published_dir.resolve()


def _prune(published_dir: Path, keep: int, current: Path) -> list[Path]:
    removed: list[Path] = []
    pubs = list_publications(published_dir)
    for old in pubs[: max(0, len(pubs) - keep)]:
        if old.resolve() != current.resolve():
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


def _clear_staging(root: Path) -> None:
    """Staging folders left by a crashed run (one publisher at a time)."""
    for p in root.glob(f"{_STAGING}*"):
        shutil.rmtree(p, ignore_errors=True)


def publish(
    warehouse: Path,
    published_dir: Path,
    *,
    classification: Classification | None = None,
    run_id: str,
    reports: dict[str, Path] | None = None,
    gate_required: bool = True,
    keep: int = KEEP,
    inputs: dict | None = None,
    actuarial: bool = False,
) -> PublishResult:
    """Write data/publications/<run_id>/ and switch published_dir to it atomically.

    `reports` maps names in the publication's reports/ folder to files or folders to copy,
    normally GateResult.report_files(): the gate summary (required unless gate_required is
    False, and it must say passed) and the Data Docs. The privacy report is written here.
    `inputs` is the fingerprint of what the marts were built from (InputFingerprint.as_dict()),
    recorded in the manifest for the next run's skip decision. `actuarial` adds the actuarial
    report (charts: about 2 s of CPU, matplotlib), as the pipeline's publish task does; callers
    that only move marts (tests, tools) leave it out.
    """
    classification = classification or load_classification()
    published_dir = Path(published_dir)
    root = publications_root(published_dir)
    root.mkdir(parents=True, exist_ok=True)
    _clear_staging(root)
    gate = _read_gate(reports, gate_required)
    name = _free_name(root, run_id)
    staging = root / f"{_STAGING}{name}-{uuid.uuid4().hex[:8]}"
    final = root / name
    try:
        staging.mkdir()
        previous = _Previous.of(current_publication(published_dir))
        tables, extracts, contents, reused = _copy_marts(Path(warehouse), staging,
                                                         classification, previous)
        _check_against_gate(tables, gate)
        _copy_reports(reports, staging / "reports")
        if gate is not None:
            validation_report.write(staging / "reports" / validation_report.FILE, gate,
                                    run_id=run_id)
        privacy_report.write_report(
            staging / "reports" / PRIVACY_REPORT,
            marts_db=staging / MARTS_FILE,
            classification=classification,
            gate_summary=gate,
            data_docs_href=f"{DATA_DOCS}/index.html"
            if (staging / "reports" / DATA_DOCS / "index.html").is_file() else None,
            run_id=run_id,
            flow=privacy_report.row_flow(Path(warehouse), tables),
            validation_href=validation_report.FILE if gate is not None else None,
        )
        if actuarial:
            # imported here: its charts import matplotlib (0.7 s), which every task that only
            # reads publications (retirement, the build's skip decision) would pay for
            from transforms.publish import actuarial_report

            actuarial_report.write_report(staging / "reports" / ACTUARIAL_REPORT,
                                          marts_db=staging / MARTS_FILE, run_id=run_id)
        _write_manifest(staging, run_id, tables, marts=contents, inputs=inputs, known=reused)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _switch(published_dir, final)
    removed = _prune(published_dir, keep, final)
    log.info("published %s: %s; %d of %d extract(s) unchanged, reused", final.name,
             ", ".join(f"{t} {n} rows" for t, n in tables.items()), len(reused), len(extracts))
    return PublishResult(
        run_id=run_id,
        publication=final,
        published=published_dir,
        tables=tables,
        extracts=[final / p.relative_to(staging) for p in extracts],
        removed=removed,
    )


def recorded_inputs(publication: Path | None) -> dict | None:
    """The inputs' fingerprint a publication's manifest records (None when it has none)."""
    if publication is None:
        return None
    try:
        manifest = json.loads((publication / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    inputs = manifest.get("inputs")
    return inputs if isinstance(inputs, dict) else None


def publication_is_intact(publication: Path) -> bool:
    """Every file of the manifest present with its SHA-256, and no file added or missing."""
    try:
        manifest = json.loads((publication / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    listed: dict[str, str] = manifest.get("files") or {}
    present = {str(p.relative_to(publication)) for p in _files(publication)}
    if present != set(listed):
        return False
    return all(file_sha256(publication / rel) == digest for rel, digest in listed.items())


def snapshot(published_dir: Path) -> dict[str, object]:
    """What a reader sees now: the target and its manifest, to compare before/after a run."""
    current = current_publication(published_dir)
    if current is None:
        return {"target": None}
    return {
        "target": str(current),
        "manifest": (current / MANIFEST).read_text(encoding="utf-8")
        if (current / MANIFEST).is_file() else None,
        "intact": publication_is_intact(current),
    }
