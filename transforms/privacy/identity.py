"""The normalised identity of a row: which subject's identifiers it carries, per identifier kind.

Why here, in privacy: the suppression of erased subjects (ingest), subject resolution (rights)
and the raw-file rewrites all have to agree on what "the same contract number" or "the same
person" is, and that is the pipeline's own normalisation before hashing
(transforms/privacy/identifiers.py). Works on raw string rows (landing, quarantine) and on
validated rows alike, because every normalisation is idempotent.
"""

from __future__ import annotations

import polars as pl

from transforms.classification import Entity
from transforms.privacy.identifiers import (
    UNIT_SEPARATOR,
    blank_to_null,
    normalise,
    normalise_email,
    normalise_name,
    normalise_person,
)

# Identifier kinds that name a subject's records, and the warehouse column of each kind.
REFERENCE_KINDS = ("contract_number", "customer_number", "claim_number", "quote_number",
                   "transaction_id")
PERSON = "person"
NAMES_EMAIL = "names_email"  # raw-only: never hashed, never stored
KINDS = (PERSON, *REFERENCE_KINDS)


def date_expr(frame: pl.DataFrame, name: str) -> pl.Expr:
    """The column as a date, whether it is typed already or still the delivered text."""
    col = pl.col(name)
    if frame.schema[name] == pl.Date:
        return col
    return blank_to_null(col.cast(pl.String)).str.to_date("%Y-%m-%d", strict=False)


def text_expr(name: str) -> pl.Expr:
    """The column as text, blanks as null."""
    return blank_to_null(pl.col(name).cast(pl.String))


def identity_exprs(frame: pl.DataFrame, entity: Entity) -> dict[str, pl.Expr]:
    """kind -> expression of the normalised identifier of that kind, for the kinds the entity
    carries."""
    out: dict[str, pl.Expr] = {}
    cols = set(frame.columns)
    for col in entity.columns:
        if col.identifier in REFERENCE_KINDS and col.name in cols:
            out[col.identifier] = normalise(col.identifier, text_expr(col.name))
    for comp in entity.composites:
        if comp.identifier == PERSON and set(comp.sources) <= cols:
            surname, first_name, dob = comp.sources
            out[PERSON] = normalise_person(text_expr(surname), text_expr(first_name),
                                           date_expr(frame, dob))
    if {"surname", "first_name", "email"} <= cols:
        out[NAMES_EMAIL] = pl.concat_str(
            [normalise_name(text_expr("surname")), normalise_name(text_expr("first_name")),
             normalise_email(text_expr("email"))],
            separator=UNIT_SEPARATOR, ignore_nulls=False,
        )
    return out


def identity_frame(frame: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """One column per identifier kind the entity carries (normalised), same rows as `frame`."""
    exprs = identity_exprs(frame, entity)
    if not exprs:
        return pl.DataFrame(schema={})
    return frame.select([e.alias(k) for k, e in exprs.items()])
