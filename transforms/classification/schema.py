"""The shape of `config/classification.yml`, as strict pydantic models.

Why a schema of its own: a typo in the classification (`treatement:`, `class: direct_identifer`,
`range: [100, 0]`) must stop the pipeline with the file position of the mistake, not be read as
"no treatment" or "no range". These models say what each block may hold: unknown keys are
refused, the vocabularies are closed (literals), numbers and dates are range-checked. What
relates one block to another (a treatment's purpose is declared, a key is a column, a check fits
its column's type) is checked where the typed objects are built (transforms/classification.py),
because it needs the whole document.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    model_validator,
)

# The purposes are the pseudonym domains: transforms/privacy/keys.py derives one key per purpose.
Purpose = Literal["actuarial", "marketing", "dpo"]
ColumnClass = Literal["direct_identifier", "quasi_identifier", "sensitive", "non_personal"]
ColumnType = Literal["string", "date", "decimal", "integer", "boolean"]
MartClass = Literal["pseudonym", "generalised", "dimension", "period", "measure", "count",
                    "metadata"]
Unit = Literal["contract", "customer", "claim"]
# transforms/generalise.py RULES implements each of these (a test keeps the two in step).
GeneraliseRule = Literal["age_band", "vehicle_age_band", "mileage_band", "month", "make_group",
                         "postcode_region"]
SimpleCheck = Literal["non_negative", "not_future", "non_negative_payment"]

Name = Annotated[StrictStr, Field(min_length=1)]
Text = StrictStr
Number = StrictInt | StrictFloat
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


def _iso_date(value: object) -> date:
    """A date written as YAML's date or as an ISO `YYYY-MM-DD` string, nothing else."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO date (YYYY-MM-DD)") from None
    raise ValueError("must be an ISO date (YYYY-MM-DD)")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class _Block(BaseModel):
    """Every block: unknown keys are an error, not something to ignore."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class PurposeSpec(_Block):
    title: Name
    legal_basis: Name
    policy_sections: list[Name] = Field(min_length=1)


class RetentionSpec(_Block):
    prospects_years_after_last_contact: NonNegativeInt | None = None
    contract_prescription_years: NonNegativeInt | None = None
    billing_years_after_contract_end: NonNegativeInt | None = None
    landing_grace_days: NonNegativeInt | None = None
    telephone_recordings_months: NonNegativeInt | None = None


class TreatmentSpec(_Block):
    """One purpose's treatment: exactly one of `hash`, `keep`, `generalise` (with `as`)."""

    hash: Name | None = None
    keep: Name | None = None
    generalise: GeneraliseRule | None = None
    as_: Name | None = Field(default=None, alias="as")
    reference: Name | None = None  # generalise: the column the age is measured to
    country: Name | None = None  # generalise: the column that says which postcode format

    @model_validator(mode="after")
    def _one_verb(self) -> TreatmentSpec:
        verbs = [v for v in ("hash", "keep", "generalise") if getattr(self, v) is not None]
        if len(verbs) != 1:
            raise ValueError("exactly one of hash/keep/generalise")
        if self.generalise is not None and self.as_ is None:
            raise ValueError("generalise needs 'as'")
        if self.generalise is None and (self.as_, self.reference, self.country) != (None,) * 3:
            raise ValueError("'as', 'reference' and 'country' go with generalise only")
        return self

    @property
    def verb(self) -> str:
        return next(v for v in ("hash", "keep", "generalise") if getattr(self, v) is not None)

    @property
    def output(self) -> str:
        return str(self.as_ if self.generalise is not None else getattr(self, self.verb))

    @property
    def params(self) -> dict[str, Any]:
        return {k: v for k in ("reference", "country") if (v := getattr(self, k)) is not None}


def _treatment_tag(value: object) -> str | None:
    if isinstance(value, str):
        return "drop"
    return "by_purpose" if isinstance(value, dict) else None


Treatments = Annotated[
    Annotated[Literal["drop"], Tag("drop")]
    | Annotated[Annotated[dict[Purpose, TreatmentSpec], Field(min_length=1)], Tag("by_purpose")],
    Discriminator(_treatment_tag, custom_error_type="treatment",
                  custom_error_message="treatment must be 'drop' or a mapping of purposes"),
]


def _ordered(bounds: list[Any]) -> list[Any]:
    if bounds[0] > bounds[1]:
        raise ValueError("range [min, max] needs min <= max")
    return bounds


class OneOfCheck(_Block):
    one_of: list[StrictStr | StrictInt] = Field(min_length=1)
    unknown: Literal["other"] | None = None


class RangeCheck(_Block):
    range: Annotated[list[Number], Field(min_length=2, max_length=2), AfterValidator(_ordered)]


class WindowCheck(_Block):
    """`[earliest date, years after the delivery date]`."""

    window: tuple[IsoDate, NonNegativeInt]


def _check_tag(value: object) -> str | None:
    if isinstance(value, str):
        return "simple"
    if isinstance(value, dict):
        return next((k for k in ("one_of", "range", "window") if k in value), None)
    return None


Check = Annotated[
    Annotated[SimpleCheck, Tag("simple")]
    | Annotated[OneOfCheck, Tag("one_of")]
    | Annotated[RangeCheck, Tag("range")]
    | Annotated[WindowCheck, Tag("window")],
    Discriminator(_check_tag, custom_error_type="check",
                  custom_error_message="a check is non_negative, not_future, "
                                       "non_negative_payment, {one_of}, {range} or {window}"),
]


class ColumnSpec(_Block):
    cls: ColumnClass = Field(alias="class")
    category: Text = ""
    type: ColumnType
    identifier: Name | None = None
    required: StrictBool = False
    on_invalid: Literal["quarantine", "null"] = "null"
    checks: list[Check] = []
    treatment: Treatments


class CompositeSpec(_Block):
    identifier: Name
    from_: list[Name] = Field(alias="from", min_length=2)
    cls: ColumnClass = Field(default="direct_identifier", alias="class")
    category: Text = ""
    treatment: Treatments


class EntitySpec(_Block):
    description: Text = ""
    key: list[Name] = Field(min_length=1)
    composites: dict[Name, CompositeSpec] | None = None
    columns: dict[Name, ColumnSpec] = Field(min_length=1)


class BandSpec(_Block):
    """Ascending lower `edges` and as many `labels`, which sort as text in edge order."""

    measure: Name
    edges: list[Number] = Field(min_length=1)
    labels: list[Name] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> BandSpec:
        if len(self.edges) != len(self.labels) or self.edges != sorted(set(self.edges)):
            raise ValueError("ascending edges, one label per edge")
        if self.labels != sorted(self.labels):
            raise ValueError("labels must sort as text in edge order")
        return self


class HierarchySpec(_Block):
    """Levels that pool small cells: each maps a coarser label to the finer labels it pools."""

    band: Name | None = None
    column: Name | None = None
    levels: list[Name] = []
    open: StrictBool = False
    pool: list[dict[Name, list[Name]]] = Field(min_length=1)

    @model_validator(mode="after")
    def _band_or_column(self) -> HierarchySpec:
        if (self.band is None) == (self.column is None):
            raise ValueError("a hierarchy names exactly one of band or column")
        return self


class DisclosureDefaults(_Block):
    k: Annotated[StrictInt, Field(ge=2)] = 10
    max_unique_share: Annotated[Number, Field(gt=0, le=1)] | None = None


class DisclosureSpec(_Block):
    unit: Unit
    quasi_identifiers: list[Name] = Field(min_length=1)
    k: Annotated[StrictInt, Field(ge=2)] | None = None
    unit_key: Name | None = None
    order_by: list[Name] = []
    max_unique_share: Annotated[Number, Field(gt=0, le=1)] | None = None
    pooling: list[Name] = []
    ledger: Name | None = None
    rationale: Text = ""


class MartColumnSpec(_Block):
    cls: MartClass = Field(alias="class")
    data_type: Name
    description: Name


MartName = Annotated[StrictStr, Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")]


class MartSpec(_Block):
    purpose: Purpose
    grain: Name
    aggregated: StrictBool = False
    count_column: Name | None = None
    extract: StrictBool = False
    retention: Text = ""
    disclosure: DisclosureSpec | None = None
    columns: dict[Name, MartColumnSpec] = Field(min_length=1)


class ClassificationSpec(_Block):
    """The whole file."""

    version: Literal[1]
    purposes: dict[Purpose, PurposeSpec] = Field(min_length=1)
    retention: RetentionSpec = RetentionSpec()
    sources: dict[Name, dict[Name, EntitySpec]] = Field(min_length=1)
    bands: dict[Name, BandSpec] = {}
    disclosure: DisclosureDefaults = DisclosureDefaults()
    hierarchies: dict[Name, HierarchySpec] = {}
    marts: dict[MartName, MartSpec] = {}
