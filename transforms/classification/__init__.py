"""Load and check the column classification (`config/classification.yml`).

The classification is the one source of truth for every source column; this module turns the
YAML into typed objects and refuses a file that is inconsistent, so that a mistake in it stops the
pipeline instead of silently letting a column through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from transforms.classification.schema import (
    ClassificationSpec,
    ColumnClass,
    ColumnSpec,
    ColumnType,
    DisclosureDefaults,
    EntitySpec,
    MartClass,
    MartSpec,
    Unit,
)
from transforms.classification.yaml_marks import (
    MarkedDocument,
    Position,
    YamlShapeError,
    read_marked,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLASSIFICATION_PATH = PROJECT_ROOT / "config" / "classification.yml"

# The vocabularies, as the schema declares them (transforms/classification/schema.py).
CLASSES = frozenset(get_args(ColumnClass))
TYPES = frozenset(get_args(ColumnType))
MART_CLASSES = frozenset(get_args(MartClass))
VERBS = frozenset({"hash", "keep", "generalise"})


Path_ = tuple[Any, ...]  # a key path into the document: keys and list indexes


@dataclass(frozen=True)
class Problem:
    """One mistake in the classification: where (key path, line:column) and what."""

    path: str
    message: str
    position: Position | None = None

    def render(self, source: str) -> str:
        where = f"{source}:{self.position}" if self.position else source
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


class ClassificationError(ValueError):
    """The classification file is inconsistent; the message names the entry to fix.

    Each problem names the file, the line and column and the key path, and says what is
    expected. The classification is ours (no delivery value is in it), so it may quote its own
    names; pydantic's messages are taken without the input value all the same.
    """

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    @classmethod
    def of(cls, source: str, problems: list[Problem]) -> ClassificationError:
        return cls("\n".join(p.render(source) for p in problems), tuple(problems))


class _Problem(Exception):  # noqa: N818 - internal signal, turned into a ClassificationError
    """Raised while building; `parse` turns it into a positioned ClassificationError."""

    def __init__(self, path: Path_, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


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


UNITS = frozenset(get_args(Unit))


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


def _spec_treatments(path: Path_, spec: Any, purposes: dict[str, Any]
                     ) -> tuple[Treatment, ...]:
    """The typed treatments of a field; each purpose must be one the file declares."""
    if spec == "drop":
        return ()
    out = []
    for purpose, t in spec.items():
        if purpose not in purposes:
            raise _Problem((*path, purpose), f"unknown purpose {purpose!r} (not under purposes)")
        if t.verb == "generalise":
            out.append(Treatment(purpose, t.verb, t.output, t.generalise, t.params))
        else:
            out.append(Treatment(purpose, t.verb, t.output))
    return tuple(out)


SIMPLE_CHECKS = frozenset({"non_negative", "not_future", "non_negative_payment"})
CHECK_TYPES = {"one_of": ("string",), "range": ("integer", "decimal"), "window": ("date",)}
CHECK_RULES = {"one_of": "one_of needs a string column and values",
               "range": "range [min, max] is for numbers",
               "window": "window [earliest date, years after delivery] is for dates"}


def _check_checks(path: Path_, col_type: str, checks: list[Any]) -> None:
    """Every check fits the column's type (their shapes the schema has checked)."""
    for i, chk in enumerate(checks):
        if isinstance(chk, str):
            continue
        name = next(k for k in CHECK_TYPES if k in chk)
        if col_type not in CHECK_TYPES[name]:
            raise _Problem((*path, i, name), CHECK_RULES[name])


def _check_closed(path: Path_, col: Column) -> None:
    """Allow-lists, not deny-lists: a field that any purpose receives is closed.

    A category has its allowed values, an identifier its format (a hashed field always has
    one), a number a plausible range, a date a window; free text never passes.
    """
    if not col.treatments:
        return
    verbs = {t.verb for t in col.treatments}
    if "hash" in verbs and not col.identifier:
        raise _Problem(path, "a hashed field needs its identifier format")
    if col.type == "string" and "keep" in verbs and not (col.identifier
                                                         or col.check("one_of")):
        raise _Problem(
            path, "a kept text field needs allowed values (one_of) or an identifier format")
    if col.type in ("integer", "decimal") and not col.check("range"):
        raise _Problem(path, "a number that passes needs a plausible range")
    if col.type == "date" and not col.check("window"):
        raise _Problem(path, "a date that passes needs a window")


def _column(path: Path_, name: str, spec: ColumnSpec, raw: dict[str, Any],
            purposes: dict[str, Any]) -> Column:
    treatments = _spec_treatments((*path, "treatment"), spec.treatment, purposes)
    checks = list(raw.get("checks") or ())  # as written: validation reads them
    _check_checks((*path, "checks"), spec.type, checks)
    if spec.cls == "direct_identifier" and any(t.verb != "hash" for t in treatments):
        raise _Problem((*path, "treatment"), "a direct identifier is hashed or dropped")
    if spec.cls == "sensitive" and treatments:
        raise _Problem((*path, "treatment"), "sensitive fields never pass")
    column = Column(name=name, cls=spec.cls, category=spec.category, type=spec.type,
                    identifier=spec.identifier, required=spec.required,
                    on_invalid=spec.on_invalid, checks=tuple(checks), treatments=treatments)
    _check_closed(path, column)
    return column


def _entity(system: str, name: str, spec: EntitySpec, raw: dict[str, Any],
            purposes: dict[str, Any]) -> Entity:
    path: Path_ = ("sources", system, name)
    cols = tuple(_column((*path, "columns", cname), cname, c, raw["columns"][cname], purposes)
                 for cname, c in spec.columns.items())
    names = {c.name for c in cols}
    comps = []
    for comp_name, cs in (spec.composites or {}).items():
        cpath = (*path, "composites", comp_name)
        missing = [s for s in cs.from_ if s not in names]
        if missing:
            raise _Problem((*cpath, "from"), f"unknown source columns {missing}")
        comps.append(Composite(name=comp_name, identifier=cs.identifier, sources=tuple(cs.from_),
                               cls=cs.cls, category=cs.category,
                               treatments=_spec_treatments((*cpath, "treatment"), cs.treatment,
                                                           purposes)))
    entity = Entity(system, name, spec.description, tuple(spec.key), cols, tuple(comps))
    for i, k in enumerate(entity.key):
        if k not in names:
            raise _Problem((*path, "key", i), f"key column {k!r} is not a column")
    for item in (*entity.columns, *entity.composites):
        kind = "columns" if isinstance(item, Column) else "composites"
        for t in item.treatments:
            for param in ("reference", "country"):
                if param in t.params and t.params[param] not in names:
                    raise _Problem((*path, kind, item.name, "treatment", t.purpose, param),
                                   f"{param} {t.params[param]!r} is not a column")
    for purpose in entity.purposes():
        outs = [t.output for item in (*entity.columns, *entity.composites)
                if (t := item.treatment_for(purpose))]
        dupes = sorted({o for o in outs if outs.count(o) > 1})
        if dupes:
            raise _Problem(path, f"{purpose} outputs repeat {dupes}")
    return entity


def _disclosure(mname: str, ms: MartSpec, defaults: DisclosureDefaults,
                hierarchies: dict[str, Any]) -> Disclosure | None:
    """The mart's `disclosure:` block, checked against its columns and the hierarchies."""
    raw = ms.disclosure
    if raw is None:
        return None
    path: Path_ = ("marts", mname, "disclosure")
    columns = set(ms.columns)
    named = [*raw.quasi_identifiers, *raw.order_by, *([raw.unit_key] if raw.unit_key else [])]
    unknown = sorted(set(named) - columns)
    if unknown:
        raise _Problem(path, f"not columns of the mart: {unknown}")
    if ms.aggregated and ms.count_column not in columns:
        raise _Problem(("marts", mname, "count_column") if ms.count_column else path,
                       "an aggregate needs its count_column")
    if not ms.aggregated and not raw.unit_key:
        raise _Problem(path, "a row-level mart needs its unit_key")
    missing = [h for h in raw.pooling if h not in hierarchies]
    if missing:
        raise _Problem((*path, "pooling"), f"unknown hierarchies {missing}")
    share = raw.max_unique_share if raw.max_unique_share is not None \
        else defaults.max_unique_share
    return Disclosure(
        unit=raw.unit, quasi_identifiers=tuple(raw.quasi_identifiers),
        k=raw.k if raw.k is not None else defaults.k,
        count_column=ms.count_column if ms.aggregated else None, unit_key=raw.unit_key,
        order_by=tuple(raw.order_by),
        max_unique_share=None if ms.aggregated or share is None else float(share),
        pooling=tuple(raw.pooling), ledger=raw.ledger, rationale=raw.rationale.strip(),
    )


def _mart(mname: str, ms: MartSpec, purposes: dict[str, Any], defaults: DisclosureDefaults,
          hierarchies: dict[str, Any]) -> Mart:
    if ms.purpose not in purposes:
        raise _Problem(("marts", mname, "purpose"), "unknown purpose (not under purposes)")
    return Mart(
        name=mname, purpose=ms.purpose, grain=ms.grain, aggregated=ms.aggregated,
        count_column=ms.count_column, extract=ms.extract, retention=ms.retention,
        columns=tuple(MartColumn(c, mc.cls, mc.data_type, mc.description)
                      for c, mc in ms.columns.items()),
        disclosure=_disclosure(mname, ms, defaults, hierarchies),
    )


def _build(doc: dict[str, Any], spec: ClassificationSpec) -> Classification:
    """Typed objects from the checked document, with the checks that span blocks."""
    purposes = doc["purposes"]
    hierarchies = doc.get("hierarchies") or {}
    entities = tuple(_entity(system, name, es, doc["sources"][system][name], purposes)
                     for system, ents in spec.sources.items() for name, es in ents.items())
    marts = tuple(_mart(mname, ms, purposes, spec.disclosure, hierarchies)
                  for mname, ms in spec.marts.items())
    return Classification(
        version=spec.version,
        purposes=purposes,
        retention=doc.get("retention") or {},
        entities=entities,
        marts=marts,
        bands=doc.get("bands") or {},
        disclosure_defaults=doc.get("disclosure") or {},
        hierarchies=hierarchies,
    )


# -- errors that name the file position -------------------------------------------------------


def _path_text(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the document)"


def _problem(marked: MarkedDocument, loc: Path_, message: str, *, missing: bool = False
             ) -> Problem:
    found, position = marked.locate(loc)
    if missing and loc:
        found = [*found, loc[-1]]
    return Problem(_path_text(found), message, position)


def _validation_problems(exc: ValidationError, marked: MarkedDocument) -> list[Problem]:
    """pydantic's errors, each at its key path and file position. The messages name the
    expected shape, never the value found (include_input=False)."""
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(_problem(marked, err["loc"], message, missing=err["type"] == "missing"))
    return out


def parse(doc: Any, *, marked: MarkedDocument | None = None,
          source: str = "classification") -> Classification:
    """Build a :class:`Classification` from the YAML document, checking it as it goes.

    `marked` (from :func:`load`) gives the errors their line and column; a plain document (a
    test's edited copy) still gets the key path.
    """
    marked = marked or MarkedDocument(doc, None)
    try:
        spec = ClassificationSpec.model_validate(doc)
    except ValidationError as exc:
        raise ClassificationError.of(source, _validation_problems(exc, marked)) from None
    try:
        return _build(doc, spec)
    except _Problem as p:
        raise ClassificationError.of(source, [_problem(marked, p.path, p.message)]) from None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


@cache
def load(path: Path = CLASSIFICATION_PATH) -> Classification:
    """Read and check the classification file (cached: it does not change during a run)."""
    try:
        marked = read_marked(path)
    except YamlShapeError as exc:
        raise ClassificationError.of(_display(path), [Problem("", exc.message, exc.position)]
                                     ) from None
    return parse(marked.data, marked=marked, source=_display(path))
