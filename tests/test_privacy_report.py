"""The auditor's documents: the privacy report as a browser renders it, and docs/classification.md
kept in step with the classification.

The report is checked in a real headless Chromium (Debian's package; scripts/install-chromium.sh
installs it). Without Chromium the browser tests are skipped, except in CI (CI set), where they
must run.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
import yaml
from browser import Browser
from synthetic_marts import KEY_VERSION, synthetic_marts

from expectations import run_gate
from transforms.classification import CLASSIFICATION_PATH, parse
from transforms.classification import load as load_classification
from transforms.publish.privacy_report import DOCS_PATH, main, render_markdown, render_report
from transforms.publish.publication import publish
from transforms.publish.templating import TEMPLATES, environment

CLASSIFICATION = load_classification()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_committed_classification_doc_is_up_to_date() -> None:
    assert DOCS_PATH.read_text(encoding="utf-8") == render_markdown(CLASSIFICATION), (
        "docs/classification.md is stale: run `python -m transforms.publish.privacy_report docs`"
    )
    assert main(["docs", "--check"]) == 0


def test_classification_doc_covers_every_source_field_and_mart() -> None:
    text = render_markdown(CLASSIFICATION)
    for entity in CLASSIFICATION.entities:
        assert f"### {entity.system}.{entity.name}" in text
        for col in entity.columns:
            assert f"| {col.name} |" in text
    for mart in CLASSIFICATION.marts:
        assert f"### {mart.name}" in text


HOSTILE = "<script>alert('x')</script>"


def _hostile_classification():
    """The real classification with markup where the report quotes our own texts."""
    doc = copy.deepcopy(yaml.safe_load(CLASSIFICATION_PATH.read_text(encoding="utf-8")))
    doc["purposes"]["actuarial"]["title"] = HOSTILE
    doc["purposes"]["marketing"]["legal_basis"] = '<img src=x onerror="alert(1)">'
    doc["marts"]["marketing.segments"]["columns"]["customers"]["description"] = HOSTILE + " | x"
    doc["marts"]["actuarial.policy_exposure"]["grain"] = "</td></tr></table>" + HOSTILE
    return parse(doc)


def test_report_escapes_every_value_it_quotes() -> None:
    classification = _hostile_classification()
    gate = {"passed": False, "min_cell_size": 10, "skipped_rules": ["<b>rule</b>"],
            "rules": {"columns": HOSTILE},
            "checks": [{"table": "marketing.segments", "rule": "columns", "passed": False,
                        "count": 3}],
            "tables": {}}
    html = render_report(classification, {}, gate_summary=gate,
                         data_docs_href='x" onmouseover="alert(1)', run_id="</title>" + HOSTILE)
    assert "<script" not in html.lower() and "<img" not in html and "<b>" not in html
    assert "</title><" not in html and 'onmouseover="' not in html
    assert html.count("&lt;script&gt;") >= 5
    assert 'href="x&#34; onmouseover=&#34;alert(1)"' in html
    # markup the template owns still renders: the failed rule, its count, the verdict
    assert ('<td>columns</td><td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td><td>1</td>'
            '<td>3</td><td><span class="fail">FAILED</span></td>') in html
    assert '<dd id="gate-verdict">FAILED</dd>' in html


def test_templates_have_no_escape_bypass() -> None:
    env = environment()
    assert env.autoescape("privacy_report.html.j2") is True
    assert env.autoescape("classification.md.j2") is False
    for template in TEMPLATES.iterdir():
        source = template.read_text(encoding="utf-8")
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source


def test_classification_doc_escapes_table_pipes_not_markup() -> None:
    text = render_markdown(_hostile_classification())
    assert f"| {HOSTILE} \\| x |" in text  # a pipe in a cell does not open a new column
    assert "| customers | count | bigint |" in text


@pytest.fixture(scope="module")
def publication(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real gate run and publication over synthetic marts."""
    data = tmp_path_factory.mktemp("report") / "data"
    data.mkdir()
    synthetic_marts(data / "warehouse.duckdb", rows=200)
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    try:  # what the ingest records per delivery: counts only
        con.execute("create schema audit")
        con.execute("create table audit.deliveries as select * from (values "
                    "('claims', 'claims', 900, 12, 888), ('policy_admin', 'contracts', 1500, "
                    "20, 1480)) t(system, entity, rows_read, rows_quarantined, rows_loaded)")
    finally:
        con.close()
    gate = run_gate(data / "warehouse.duckdb", gx_root=data / "gx", foreign_pseudonyms={})
    assert gate.passed, gate.summary()
    result = publish(data / "warehouse.duckdb", data / "published", run_id="report-run",
                     reports=gate.report_files())
    return result.publication


def test_report_names_every_mart_column_and_basis(publication: Path) -> None:
    html = (publication / "reports" / "privacy-report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    for mart in CLASSIFICATION.marts:
        assert mart.name in html and mart.retention in html
        for col in mart.columns:
            assert f"<td>{col.name}</td>" in html
    assert "Legitimate interest" in html and "Consent" in html
    assert KEY_VERSION in html
    assert 'href="data-docs/index.html"' in html
    assert (publication / "reports" / "data-docs" / "index.html").is_file()


class _Sections(HTMLParser):
    """Visible text per <section id=...> of the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, list[str]] = {"": []}
        self._stack: list[str] = [""]
        self._depth: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            sid = dict(attrs).get("id") or ""
            self._stack.append(sid)
            self.text.setdefault(sid, [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and len(self._stack) > 1:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text[self._stack[-1]].append(data.strip())


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI: run scripts/install-chromium.sh")
        pytest.skip("chromium is not installed (scripts/install-chromium.sh installs it)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def test_report_renders_in_a_browser(publication: Path, tmp_path: Path) -> None:
    report = publication / "reports" / "privacy-report.html"
    dom = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile").stdout
    parsed = _Sections()
    parsed.feed(dom)
    for mart in CLASSIFICATION.marts:
        section = " ".join(parsed.text.get(mart.name.replace(".", "-"), []))
        assert mart.name in section, mart.name
        assert CLASSIFICATION.purposes[mart.purpose]["title"] in section
        for col in mart.columns:
            assert col.name in section.split(), (mart.name, col.name)
        assert "This run's gate results" in section and "passed" in section
        # statistical disclosure control: the figures and a chart of cell sizes against k
        for figure in ("Disclosure risk", "Smallest cell / class (k-anonymity)",
                       "Records in classes below k", "Average prosecutor risk",
                       "Highest prosecutor risk", "k = 10"):
            assert figure in section, (mart.name, figure)
    assert dom.count("<svg") == len(CLASSIFICATION.marts)
    for purpose in {m.purpose for m in CLASSIFICATION.marts}:
        section = " ".join(parsed.text.get(f"sources-{purpose}", []))
        assert "dropped: no purpose receives it" in section

    shot = tmp_path / "report.png"
    _chromium(["--window-size=1280,2400", f"--screenshot={shot}", report.as_uri()],
              tmp_path / "profile")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_data_docs_link_opens_in_a_browser(publication: Path, tmp_path: Path) -> None:
    docs = publication / "reports" / "data-docs" / "index.html"
    dom = _chromium(["--dump-dom", docs.as_uri()], tmp_path / "profile").stdout
    for mart in CLASSIFICATION.marts:
        assert mart.name in dom


def test_validation_results_render_offline(publication: Path, tmp_path: Path) -> None:
    """Our own page of the gate's results: readable with the network cut (GX's Data Docs are
    blank there), every suite and expectation named, counts only."""
    page = publication / "reports" / "validation-results.html"
    gate = json.loads((publication / "reports" / "gate-summary.json").read_text())
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "http" not in html
    assert not re.search(r"[0-9a-f]{64}", html), "a pseudonym-like value on the page"
    with Browser(tmp_path / "profile") as browser:
        browser.goto(page.as_uri())
        text = browser.text()
        assert browser.external_requests() == []
    assert "Validation results" in text and "passed" in text
    assert len(text) > 2_000
    for mart in CLASSIFICATION.marts:
        assert mart.name in text and f"{mart.name}.privacy_scan" in text
    expectations = {c["expectation"] for c in gate["checks"]}
    assert len(expectations) >= 3 and None not in expectations
    for name in expectations:
        assert name in text, name
    report = (publication / "reports" / "privacy-report.html").read_text(encoding="utf-8")
    assert 'href="validation-results.html"' in report


def test_privacy_report_charts_render_offline(publication: Path, tmp_path: Path) -> None:
    """The row flow (delivered, quarantined, loaded, published) as an inline chart beside the
    per-mart charts of cell sizes against k: decoded, not empty, nothing fetched."""
    with Browser(tmp_path / "profile") as browser:
        browser.goto((publication / "reports" / "privacy-report.html").as_uri())
        images = browser.images()
        flow = browser.evaluate("document.getElementById('row-flow').innerText")
        svgs = browser.evaluate("document.querySelectorAll('svg.cells rect').length")
        assert browser.external_requests() == []
    assert [i["alt"] for i in images] == ["Rows delivered, quarantined, loaded and published"]
    assert all(i["scheme"] == "data" and i["complete"] and i["width"] > 200
               and i["height"] > 50 for i in images), images
    assert svgs > 0
    for figure in ("delivered", "2,400", "quarantined", "32", "loaded", "2,368",
                   "policy_admin.contracts", "published (mart rows)"):
        assert figure in flow, figure
