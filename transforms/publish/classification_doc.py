"""docs/classification.md: the classification in words, for auditors.

Generated so that it cannot drift from config/classification.yml (a test checks the committed
file). The layout is the template `templates/classification.md.j2`; this module prepares the
rows. Written or checked by `python -m transforms.publish.privacy_report docs [--check]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from transforms.classification import PROJECT_ROOT, Classification, Mart
from transforms.classification import load as load_classification
from transforms.publish.classification_words import fate, fed_by
from transforms.publish.templating import environment

DOCS_PATH = PROJECT_ROOT / "docs" / "classification.md"


def _rule_text(m: Mart) -> str:
    rule = m.disclosure
    if rule is None:
        return "none declared"
    if m.aggregated:
        return (f"unit {rule.unit}; quasi-identifiers {', '.join(rule.quasi_identifiers)}; every "
                f"non-empty cell counts at least k = {rule.k} in `{rule.count_column}`; pooled up"
                f" {', '.join(rule.pooling) or 'nothing'}" + (f"; ledger `{rule.ledger}`"
                                                              if rule.ledger else ""))
    return (f"unit {rule.unit} (`{rule.unit_key}`); quasi-identifiers "
            f"{', '.join(rule.quasi_identifiers)} of the unit's first row; at most "
            f"{rule.max_unique_share:.0%} unique. {rule.rationale}")


def _entity_rows(classification: Classification, purposes: list[str]) -> list[dict[str, Any]]:
    out = []
    for e in classification.entities:
        rows: list[list[object]] = []
        for c in e.columns:
            rows.append([c.name, c.cls, c.category, c.type, c.identifier or "",
                         "yes" if c.required else "", *(fate(c.treatments, p) for p in purposes)])
        for comp in e.composites:
            rows.append([f"{comp.name} ({' + '.join(comp.sources)})", comp.cls, comp.category,
                         "composite", comp.identifier, "",
                         *(fate(comp.treatments, p) for p in purposes)])
        out.append({"title": f"{e.system}.{e.name}", "description": e.description,
                    "key": ", ".join(e.key), "rows": rows})
    return out


def _band_rows(classification: Classification) -> list[list[object]]:
    return [[name, b["measure"], ", ".join(f"{lab} from {edge:,}" for edge, lab in
                                           zip(b["edges"], b["labels"], strict=True))]
            for name, b in classification.bands.items()]


def _hierarchy_rows(classification: Classification) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, h in classification.hierarchies.items():
        levels = ["; ".join(f"{coarse} = {' + '.join(finer) or 'any small cell'}"
                            for coarse, finer in level.items()) for level in h.get("pool", ())]
        rows.append([name, " then ".join(levels)])
    return rows


def _marts(classification: Classification) -> list[dict[str, Any]]:
    return [{
        "mart": m,
        "aggregated": "yes" if m.aggregated else "no",
        "rule": _rule_text(m),
        "rows": [[c.name, c.cls, c.data_type, c.description,
                  "; ".join(fed_by(classification, m, c.name))] for c in m.columns],
    } for m in classification.marts]


def render_markdown(classification: Classification) -> str:
    """docs/classification.md: the classification in words, for auditors."""
    purposes = list(classification.purposes)
    text = environment().get_template("classification.md.j2").render(
        purposes=classification.purposes,
        purpose_names=purposes,
        retention=[[k, v] for k, v in classification.retention.items()],
        entities=_entity_rows(classification, purposes),
        bands=_band_rows(classification),
        hierarchies=_hierarchy_rows(classification),
        marts=_marts(classification),
    )
    return text.rstrip() + "\n"


def main(argv: list[str] | None = None,
         prog: str = "python -m transforms.publish.privacy_report") -> int:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Generate the auditor's documentation.")
    sub = parser.add_subparsers(dest="command", required=True)
    docs = sub.add_parser("docs", help="write docs/classification.md from the classification")
    docs.add_argument("--check", action="store_true",
                      help="only check that the committed file is up to date (exit 1 if not)")
    docs.add_argument("--out", type=Path, default=DOCS_PATH)
    args = parser.parse_args(argv)
    text = render_markdown(load_classification())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run "
                  "python -m transforms.publish.privacy_report docs")
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
