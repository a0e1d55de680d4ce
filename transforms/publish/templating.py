"""The Jinja2 environment of the auditor's documents (templates in transforms/publish/templates/).

Why templates: the report's markup used to be built from f-strings, with an escape bypass for
the cells that carried markup. Here every value is escaped by Jinja2's autoescape in the HTML
templates (`.html.j2`) and the markup lives in the template, so there is nothing to bypass.
Markdown (`.md.j2`) is not HTML: it is not HTML-escaped, its table cells go through the `md`
filter instead. An undefined variable is an error, not an empty string.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


def md_cell(value: object) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                     disabled_extensions=("md.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.filters["md"] = md_cell
    return env
