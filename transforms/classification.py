"""Load and check the column classification (`config/classification.yml`).

The classification is the one source of truth for every source column; this module turns the
YAML into typed objects and refuses a file that is inconsistent, so that a mistake in it stops the
pipeline instead of silently letting a column through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLASSIFICATION_PATH = PROJECT_ROOT / "config" / "classification.yml"

CLASSES = frozenset({"direct_identifier", "quasi_identifier", "sensitive", "non_personal"})
TYPES = frozenset({"string", "date", "decimal", "integer", "boolean"})
MART_CLASSES = frozenset(
    {"pseudonym", "generalised", "dimension", "period", "measure", "count", "metadata"}
)
VERBS = frozenset({"hash", "keep", "generalise"})


class ClassificationError(ValueError):
    """The classification file is inconsistent; the message names the entry to fix."""


@dataclass(frozen=True)
class Treatment:
    """What one purpose receives of one source field."""

    purpose: str
    verb: str  # hash | keep | generalise
    output: str
    rule: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    name: str
    cls: str
    category: str
    type: str
    identifier: str | None
    required: bool
    on_invalid: str  # quarantine | null
    checks: tuple[Any, ...]
    treatments: tuple[Treatment, ...]

    def treatment_for(self, purpose: str) -> Treatment | None:
        return next((t for t in self.treatments if t.purpose == purpose), None)

    def check(self, name: str) -> dict[str, Any] | None:
        """The mapping check of that name (`one_of`, `range`, `window`), if declared."""
        return next((c for c in self.checks if isinstance(c, dict) and name in c), None)

    def allowed_values(self) -> tuple[str, ...] | None:
        """The closed vocabulary of a category (with `other` when unknowns map to it)."""
        spec = self.check("one_of")
        if spec is None:
            return None
        extra = (str(spec["unknown"]),) if spec.get("unknown") else ()
        return tuple(str(v) for v in spec["one_of"]) + extra


@dataclass(frozen=True)
class Composite:
    """An identifier made of several fields (the person: surname, first name, date of birth)."""

    name: str
    identifier: str
    sources: tuple[str, ...]
    cls: str
    category: str
    treatments: tuple[Treatment, ...]

    def treatment_for(self, purpose: str) -> Treatment | None:
        return next((t for t in self.treatments if t.purpose == purpose), None)


@dataclass(frozen=True)
class Entity:
    system: str
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    composites: tuple[Composite, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def purposes(self) -> list[str]:
        """Purposes that receive at least one field of this entity, in a stable order."""
        seen: list[str] = []
        for item in (*self.columns, *self.composites):
            for t in item.treatments:
                if t.purpose not in seen:
                    seen.append(t.purpose)
        return sorted(seen)

    def table_name(self, purpose: str) -> str:
        return f"pseudo_{purpose}.{self.system}__{self.name}"


@dataclass(frozen=True)
class MartColumn:
    name: str
    cls: str
    data_type: str
    description: str


UNITS = frozenset({"contract", "customer", "claim"})


@dataclass(frozen=True)
class Disclosure:
    """A mart's statistical disclosure rule (expectations/disclosure_rules.py enforces it).

    Aggregates: every non-empty cell counts at least `k` distinct units in `count_column`;
    `pooling` names the hierarchies (top-level `hierarchies:`) small cells climb, in order.
    Row-level: at most `max_unique_share` of the units (`unit_key`) are unique on the
    quasi-identifiers of their first row (by `order_by`).
    """

    unit: str
    quasi_identifiers: tuple[str, ...]
    k: int
    count_column: str | None = None
    unit_key: str | None = None
    order_by: tuple[str, ...] = ()
    max_unique_share: float | None = None
    pooling: tuple[str, ...] = ()
    ledger: str | None = None  # intermediate model: per cell, pooled level and suppression
    rationale: str = ""


@dataclass(frozen=True)
class Mart:
    name: str  # schema.table
    purpose: str
    grain: str
    aggregated: bool
    count_column: str | None
    extract: bool
    retention: str
    columns: tuple[MartColumn, ...]
    disclosure: Disclosure | None = None

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Classification:
    version: int
    purposes: dict[str, dict[str, Any]]
    retention: dict[str, Any]
    entities: tuple[Entity, ...]
    marts: tuple[Mart, ...]
    bands: dict[str, dict[str, Any]] = field(default_factory=dict)
    disclosure_defaults: dict[str, Any] = field(default_factory=dict)
    hierarchies: dict[str, dict[str, Any]] = field(default_factory=dict)

    def entity(self, system: str, name: str) -> Entity:
        for e in self.entities:
            if e.system == system and e.name == name:
                return e
        raise KeyError(f"{system}/{name}")

    def entities_of(self, system: str) -> list[Entity]:
        return [e for e in self.entities if e.system == system]

    @property
    def systems(self) -> list[str]:
        return sorted({e.system for e in self.entities})

    def mart(self, name: str) -> Mart:
        for m in self.marts:
            if m.name == name:
                return m
        raise KeyError(name)


def _treatments(where: str, raw: Any, purposes: dict[str, Any]) -> tuple[Treatment, ...]:
    if raw == "drop":
        return ()
    if not isinstance(raw, dict) or not raw:
        raise ClassificationError(f"{where}: treatment must be 'drop' or a mapping of purposes")
    out = []
    for purpose, spec in raw.items():
        if purpose not in purposes:
            raise ClassificationError(f"{where}: unknown purpose {purpose!r}")
        if not isinstance(spec, dict):
            raise ClassificationError(f"{where}.{purpose}: treatment must be a mapping")
        verbs = VERBS & spec.keys()
        if len(verbs) != 1:
            raise ClassificationError(f"{where}.{purpose}: exactly one of hash/keep/generalise")
        verb = verbs.pop()
        if verb == "generalise":
            if "as" not in spec:
                raise ClassificationError(f"{where}.{purpose}: generalise needs 'as'")
            params = {k: v for k, v in spec.items() if k not in ("generalise", "as")}
            out.append(Treatment(purpose, verb, spec["as"], spec["generalise"], params))
        else:
            out.append(Treatment(purpose, verb, spec[verb]))
    return tuple(out)


SIMPLE_CHECKS = frozenset({"non_negative", "not_future", "non_negative_payment"})


def _check_checks(where: str, col_type: str, checks: list[Any]) -> None:
    """Every check is known and fits the column's type."""
    for chk in checks:
        if isinstance(chk, str) and chk in SIMPLE_CHECKS:
            continue
        if not isinstance(chk, dict):
            raise ClassificationError(f"{where}: unknown check {chk!r}")
        if "one_of" in chk:
            if col_type != "string" or not chk["one_of"]:
                raise ClassificationError(f"{where}: one_of needs a string column and values")
            if set(chk) - {"one_of", "unknown"} or chk.get("unknown") not in (None, "other"):
                raise ClassificationError(f"{where}: one_of takes only `unknown: other`")
        elif "range" in chk:
            lo, hi = chk["range"]
            if col_type not in ("integer", "decimal") or not lo <= hi:
                raise ClassificationError(f"{where}: range [min, max] is for numbers")
        elif "window" in chk:
            earliest, years_after = chk["window"]
            if col_type != "date" or not isinstance(years_after, int):
                raise ClassificationError(
                    f"{where}: window [earliest date, years after delivery] is for dates")
            date.fromisoformat(str(earliest))
        else:
            raise ClassificationError(f"{where}: unknown check {chk!r}")


def _check_closed(where: str, col: Column) -> None:
    """Allow-lists, not deny-lists: a field that any purpose receives is closed.

    A category has its allowed values, an identifier its format (a hashed field always has
    one), a number a plausible range, a date a window; free text never passes.
    """
    if not col.treatments:
        return
    verbs = {t.verb for t in col.treatments}
    if "hash" in verbs and not col.identifier:
        raise ClassificationError(f"{where}: a hashed field needs its identifier format")
    if col.type == "string" and "keep" in verbs and not (col.identifier
                                                         or col.check("one_of")):
        raise ClassificationError(
            f"{where}: a kept text field needs allowed values (one_of) or an identifier format")
    if col.type in ("integer", "decimal") and not col.check("range"):
        raise ClassificationError(f"{where}: a number that passes needs a plausible range")
    if col.type == "date" and not col.check("window"):
        raise ClassificationError(f"{where}: a date that passes needs a window")


def parse(doc: dict[str, Any]) -> Classification:
    """Build a :class:`Classification` from the YAML document, checking it as it goes."""
    purposes = doc["purposes"]
    entities = []
    for system, ents in doc["sources"].items():
        for name, spec in ents.items():
            where = f"sources.{system}.{name}"
            cols = []
            for cname, c in spec["columns"].items():
                cw = f"{where}.columns.{cname}"
                if c.get("class") not in CLASSES:
                    raise ClassificationError(f"{cw}: class must be one of {sorted(CLASSES)}")
                if c.get("type") not in TYPES:
                    raise ClassificationError(f"{cw}: type must be one of {sorted(TYPES)}")
                if "treatment" not in c:
                    raise ClassificationError(f"{cw}: every column states its treatment")
                on_invalid = str(c.get("on_invalid", "null"))
                if on_invalid not in ("quarantine", "null"):
                    raise ClassificationError(f"{cw}: on_invalid must be quarantine or null")
                treatments = _treatments(cw, c["treatment"], purposes)
                _check_checks(cw, c["type"], list(c.get("checks", ())))
                if c["class"] == "direct_identifier" and any(
                    t.verb != "hash" for t in treatments
                ):
                    raise ClassificationError(f"{cw}: a direct identifier is hashed or dropped")
                if c["class"] == "sensitive" and treatments:
                    raise ClassificationError(f"{cw}: sensitive fields never pass")
                column = Column(
                    name=cname,
                    cls=c["class"],
                    category=c.get("category", ""),
                    type=c["type"],
                    identifier=c.get("identifier"),
                    required=bool(c.get("required", False)),
                    on_invalid=on_invalid,
                    checks=tuple(c.get("checks", ())),
                    treatments=treatments,
                )
                _check_closed(cw, column)
                cols.append(column)
            comps = []
            for comp_name, cs in (spec.get("composites") or {}).items():
                cw = f"{where}.composites.{comp_name}"
                missing = [s for s in cs["from"] if s not in {c.name for c in cols}]
                if missing:
                    raise ClassificationError(f"{cw}: unknown source columns {missing}")
                comps.append(
                    Composite(
                        name=comp_name,
                        identifier=cs["identifier"],
                        sources=tuple(cs["from"]),
                        cls=cs.get("class", "direct_identifier"),
                        category=cs.get("category", ""),
                        treatments=_treatments(cw, cs["treatment"], purposes),
                    )
                )
            key = tuple(spec["key"])
            entity = Entity(system, name, spec.get("description", ""), key, tuple(cols),
                            tuple(comps))
            for k in key:
                if k not in entity.column_names:
                    raise ClassificationError(f"{where}: key column {k!r} is not a column")
            for purpose in entity.purposes():
                outs = [
                    t.output
                    for item in (*entity.columns, *entity.composites)
                    if (t := item.treatment_for(purpose))
                ]
                dupes = sorted({o for o in outs if outs.count(o) > 1})
                if dupes:
                    raise ClassificationError(f"{where}: {purpose} outputs repeat {dupes}")
            entities.append(entity)
    defaults = doc.get("disclosure") or {}
    hierarchies = doc.get("hierarchies") or {}
    marts = []
    for mname, ms in (doc.get("marts") or {}).items():
        if ms["purpose"] not in purposes:
            raise ClassificationError(f"marts.{mname}: unknown purpose")
        mcols = []
        for cname, c in ms["columns"].items():
            if c.get("class") not in MART_CLASSES:
                raise ClassificationError(f"marts.{mname}.{cname}: class not in {MART_CLASSES}")
            mcols.append(MartColumn(cname, c["class"], c["data_type"], c["description"]))
        marts.append(
            Mart(
                name=mname,
                purpose=ms["purpose"],
                grain=ms["grain"],
                aggregated=bool(ms.get("aggregated", False)),
                count_column=ms.get("count_column"),
                extract=bool(ms.get("extract", False)),
                retention=ms.get("retention", ""),
                columns=tuple(mcols),
                disclosure=_disclosure(mname, ms, [c.name for c in mcols], defaults,
                                       hierarchies),
            )
        )
    return Classification(
        version=int(doc["version"]),
        purposes=purposes,
        retention=doc.get("retention", {}),
        entities=tuple(entities),
        marts=tuple(marts),
        bands=_bands(doc.get("bands") or {}),
        disclosure_defaults=defaults,
        hierarchies=hierarchies,
    )


def _bands(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Band declarations: ascending lower `edges` and as many `labels` that sort as text."""
    for name, spec in raw.items():
        edges, labels = spec.get("edges") or [], spec.get("labels") or []
        if len(edges) != len(labels) or not edges or list(edges) != sorted(set(edges)):
            raise ClassificationError(f"bands.{name}: ascending edges, one label per edge")
        if list(labels) != sorted(labels):
            raise ClassificationError(f"bands.{name}: labels must sort as text in edge order")
    return raw


def _disclosure(mname: str, ms: dict[str, Any], columns: list[str], defaults: dict[str, Any],
                hierarchies: dict[str, Any]) -> Disclosure | None:
    """The mart's `disclosure:` block, checked against its columns and the hierarchies."""
    raw = ms.get("disclosure")
    if raw is None:
        return None
    where = f"marts.{mname}.disclosure"
    if raw.get("unit") not in UNITS:
        raise ClassificationError(f"{where}: unit must be one of {sorted(UNITS)}")
    qis = tuple(raw.get("quasi_identifiers") or ())
    named = [*qis, *raw.get("order_by", ()), *[raw[c] for c in ("unit_key",) if raw.get(c)]]
    unknown = sorted(set(named) - set(columns))
    if unknown:
        raise ClassificationError(f"{where}: not columns of the mart: {unknown}")
    count_column = ms.get("count_column")
    aggregated = bool(ms.get("aggregated", False))
    if aggregated and count_column not in columns:
        raise ClassificationError(f"{where}: an aggregate needs its count_column")
    if not aggregated and not raw.get("unit_key"):
        raise ClassificationError(f"{where}: a row-level mart needs its unit_key")
    pooling = tuple(raw.get("pooling") or ())
    missing = [h for h in pooling if h not in hierarchies]
    if missing:
        raise ClassificationError(f"{where}: unknown hierarchies {missing}")
    share = raw.get("max_unique_share", defaults.get("max_unique_share"))
    return Disclosure(
        unit=raw["unit"], quasi_identifiers=qis, k=int(raw.get("k", defaults.get("k", 10))),
        count_column=count_column if aggregated else None, unit_key=raw.get("unit_key"),
        order_by=tuple(raw.get("order_by") or ()),
        max_unique_share=None if aggregated or share is None else float(share),
        pooling=pooling, ledger=raw.get("ledger"), rationale=str(raw.get("rationale", "")).strip(),
    )


@cache
def load(path: Path = CLASSIFICATION_PATH) -> Classification:
    """Read and check the classification file (cached: it does not change during a run)."""
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))
