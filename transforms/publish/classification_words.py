"""The classification in words: what each purpose receives of each source field.

Shared by the two auditor's documents (the privacy report and docs/classification.md), so that
both say the same thing in the same words.
"""

from __future__ import annotations

from transforms.classification import Classification, Mart, Treatment


def treatment_text(t: Treatment) -> str:
    if t.verb == "hash":
        return f"keyed hash (HMAC-SHA-256, {t.purpose} domain) as {t.output}"
    if t.verb == "keep":
        return f"kept as {t.output}"
    params = ", ".join(f"{k}: {v}" for k, v in t.params.items())
    return f"generalised by {t.rule}" + (f" ({params})" if params else "") + f" as {t.output}"


def fate(treatments: tuple[Treatment, ...], purpose: str) -> str:
    """What `purpose` receives of a field, including what it does not."""
    mine = next((t for t in treatments if t.purpose == purpose), None)
    if mine:
        return treatment_text(mine)
    if not treatments:
        return "dropped: no purpose receives it"
    return "not received by this purpose (only: " + ", ".join(t.purpose for t in treatments) + ")"


def source_rows(classification: Classification, purpose: str) -> list[dict[str, str]]:
    """Every source field and composite with what `purpose` receives of it."""
    rows = []
    for e in classification.entities:
        for c in e.columns:
            rows.append({"source": f"{e.system}.{e.name}.{c.name}", "class": c.cls,
                         "category": c.category, "treatment": fate(c.treatments, purpose)})
        for comp in e.composites:
            rows.append({"source": f"{e.system}.{e.name}.{comp.name} ({' + '.join(comp.sources)})",
                         "class": comp.cls, "category": comp.category,
                         "treatment": fate(comp.treatments, purpose)})
    return rows


def fed_by(classification: Classification, mart: Mart, column: str) -> list[str]:
    """Source fields whose treatment for the mart's purpose outputs this column."""
    out = []
    for e in classification.entities:
        for item in (*e.columns, *e.composites):
            t = item.treatment_for(mart.purpose)
            if t and t.output == column:
                out.append(f"{e.system}.{e.name}.{item.name}: {treatment_text(t)}")
    return out
