"""The publication gate: each planted leak blocks publication with a finding that names the rule,
the table, the column and a count; the previous publication stays intact; and the planted value
appears in no file that the gate wrote. Look-alikes that fail validation do not block.

One clean warehouse, gate run and publication is made per module and copied for each test: the
Great Expectations import (several seconds) happens once per process. Plants share gate runs
(`GROUPS`): a group plants in different marts, so each finding is still the work of its own
plant, and each plant is still asserted on its own (rule, table, column, kind).
"""

from __future__ import annotations

import csv
import json
import logging
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
from synthetic_marts import synthetic_marts

from expectations import GateFailed, GateResult, KnownValues, collect_known_values, run_gate
from expectations.detectors import KINDS, detect
from expectations.findings import Rule
from transforms.classification import load as load_classification
from transforms.publish.publication import (
    PublishError,
    current_publication,
    list_publications,
    publication_is_intact,
    publish,
    snapshot,
)

ROWS = 300
LANDING = [
    {
        "contract_number": "OPW-1234567", "customer_number": "C12345678", "surname": "Ford",
        "first_name": "Anna", "address_line": "17 Quillfeather Lane",
        "email": "anna.ford.k7@example.org", "phone": "07700 900123",
        "vin": "1M8GDM9AXKP042788", "registration_plate": "AB12 CDE",
        "iban": "GB82 WEST 1234 5698 7654 32", "country": "GB",
    },
    {
        "contract_number": "OPW-7654321", "customer_number": "C87654321", "surname": "Martin",
        "first_name": "Léa", "address_line": "4 rue des Glycines",
        "email": "lea.martin.q3@example.fr", "phone": "06 12 34 56 78",
        "vin": "WP0ZZZ99ZTS392124", "registration_plate": "AB-123-CD",
        "iban": "FR14 2004 1010 0505 0001 3M02 606", "country": "FR",
    },
]


@dataclass
class Env:
    data: Path
    known: KnownValues
    foreign: dict[str, pl.Series]
    actuarial_pseudonym: str

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"

    @property
    def gx(self) -> Path:
        return self.data / "gx"

    @property
    def published(self) -> Path:
        return self.data / "published"

    def sql(self, *statements: str) -> None:
        con = duckdb.connect(str(self.warehouse))
        try:
            for s in statements:
                con.execute(s)
        finally:
            con.close()

    def gate(self):
        return run_gate(self.warehouse, known_values=self.known, foreign_pseudonyms=self.foreign,
                        gx_root=self.gx)


def _write_landing(data: Path) -> Path:
    delivery = data / "landing" / "policy_admin" / "2026-11-01"
    delivery.mkdir(parents=True)
    with open(delivery / "contracts.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(LANDING[0]))
        writer.writeheader()
        writer.writerows(LANDING)
    return delivery


def _pseudonyms(warehouse: Path, table: str, column: str) -> pl.Series:
    con = duckdb.connect(str(warehouse))
    try:
        return con.sql(f"select distinct {column} as p from {table}").pl()["p"]
    finally:
        con.close()


@dataclass
class Template:
    data: Path
    delivery: Path
    known: KnownValues
    foreign: dict[str, pl.Series]
    actuarial_pseudonym: str
    clean: GateResult | None = None


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A clean warehouse that passes the gate, and a first publication made from it."""
    data = tmp_path_factory.mktemp("template") / "data"
    data.mkdir()
    warehouse = data / "warehouse.duckdb"
    synthetic_marts(warehouse, rows=ROWS)
    delivery = _write_landing(data)
    actuarial = _pseudonyms(warehouse, "actuarial.policy_exposure", "contract_key")
    marketing = _pseudonyms(warehouse, "marketing.renewal_audience", "customer_key")
    t = Template(data, delivery, collect_known_values([delivery]),
                 {"marketing": actuarial, "actuarial": marketing}, actuarial[0])
    t.clean = Env(data, t.known, t.foreign, t.actuarial_pseudonym).gate()
    assert t.clean.passed, t.clean.summary()
    publish(warehouse, data / "published", run_id="clean", reports=t.clean.report_files())
    return t


@pytest.fixture
def env(template: Template, tmp_path: Path) -> Env:
    """A copy of the template (warehouse, GX project, publications) for one test to change."""
    data = tmp_path / "data"
    shutil.copytree(template.data, data, symlinks=True)
    return Env(data, template.known, template.foreign, template.actuarial_pseudonym)


def _files(*roots: Path) -> list[Path]:
    return [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file()]


def _hits(value: str, *roots: Path) -> list[str]:
    needle = value.lower().encode("utf-8")
    return [str(p) for p in _files(*roots) if needle in p.read_bytes().lower()]


@dataclass(frozen=True)
class Plant:
    id: str
    sql: tuple[str, ...]
    value: str
    rule: str
    table: str
    column: str | None
    kind: str | None = None


PLANTS = [
    Plant("email in kept text",
          ("update actuarial.claims_development set component_group = "
           "'engine noise, call back zed.planted.x9@example.net' where rowid = 0",),
          "zed.planted.x9@example.net", Rule.IDENTIFIER, "actuarial.claims_development",
          "component_group", "email"),
    Plant("unclassified column",
          ("alter table marketing.segments add column contact varchar",
           "update marketing.segments set contact = 'tom.planted.v4@example.com' where rowid = 1"),
          "tom.planted.v4@example.com", Rule.COLUMN_SET, "marketing.segments", "contact",
          "unexpected"),
    Plant("vin in mart column",
          ("update actuarial.policy_exposure set tier = '1HGCM82633A004352' "
           "where rowid = 2",),
          "1HGCM82633A004352", Rule.IDENTIFIER, "actuarial.policy_exposure", "tier", "vin"),
    Plant("cell of 3 customers",
          ("update marketing.segments set customers = 3, region = 'GB-QX' where rowid = 3",),
          "GB-QX", Rule.SMALL_CELL, "marketing.segments", "customers"),
    Plant("actuarial pseudonym in marketing",
          ("update marketing.renewal_audience set customer_key = '{actuarial}' where rowid = 4",),
          "{actuarial}", Rule.FOREIGN_PSEUDONYM, "marketing.renewal_audience", "customer_key"),
    Plant("known raw value, whole",
          ("update actuarial.frequency_severity set tier = '17 Quillfeather Lane' "
           "where rowid = 5",),
          "Quillfeather", Rule.KNOWN_VALUE, "actuarial.frequency_severity", "tier"),
    Plant("known raw value, inside text",
          ("update actuarial.claims_development set product = "
           "'towed from 4 RUE DES GLYCINES' where rowid = 6",),
          "Glycines", Rule.KNOWN_VALUE, "actuarial.claims_development", "product"),
    Plant("second key version",
          ("update actuarial.policy_exposure set key_version = 'k2027planted' where rowid = 7",),
          "k2027planted", Rule.KEY_VERSION, "actuarial.policy_exposure", "key_version"),
    Plant("malformed pseudonym",
          ("update actuarial.policy_exposure set contract_key = 'OPW-7654329' where rowid = 8",),
          "OPW-7654329", Rule.PSEUDONYM_FORMAT, "actuarial.policy_exposure", "contract_key"),
    # statistical disclosure control (issue 9): a small cell, unique units, an unpooled level
    Plant("GLM cell of 3 contracts",
          ("update actuarial.frequency_severity set contracts = 3, tier = 'tierplanted3' "
           "where rowid = 9",),
          "tierplanted3", Rule.SMALL_CELL, "actuarial.frequency_severity", "contracts"),
    Plant("triangle cell of 3 claims",
          ("update actuarial.claims_development set claims = 3, product = 'prodplanted3' "
           "where rowid = 10",),
          "prodplanted3", Rule.SMALL_CELL, "actuarial.claims_development", "claims"),
    Plant("unique contracts",
          ("update actuarial.policy_exposure set period_start = date '1990-07-01' "
           "+ cast(rowid as integer) where rowid % 5 = 0",),
          "1990-07-", Rule.UNIQUE_SHARE, "actuarial.policy_exposure", None),
    Plant("unique customer",
          ("update marketing.renewal_audience set tenure_band = 'tenureplanted' "
           "|| cast(rowid as varchar) where rowid < 60",),
          "tenureplanted", Rule.UNIQUE_SHARE, "marketing.renewal_audience", None),
    Plant("new unpooled category",
          ("update actuarial.frequency_severity set mileage_band = '999k-planted' "
           "where rowid = 11",),
          "999k-planted", Rule.UNPOOLED_CATEGORY, "actuarial.frequency_severity",
          "mileage_band"),
    Plant("identifier as a column name",
          ('alter table marketing.segments add column "ann.planted.z2@example.org" varchar',),
          "ann.planted.z2@example.org", Rule.COLUMN_NAME, "marketing.segments", None),
]


# Plants that share a gate run: no two in one group touch the same mart, so a finding on a
# mart's column can only come from that mart's plant (the clean template passes). Group 4 also
# drops a mart and plants a known value in 25 rows, for the tests below that need them.
GROUPS = (
    ("email in kept text", "unclassified column", "vin in mart column",
     "actuarial pseudonym in marketing", "known raw value, whole"),
    ("known raw value, inside text", "cell of 3 customers", "second key version",
     "unique customer", "GLM cell of 3 contracts"),
    ("triangle cell of 3 claims", "identifier as a column name", "malformed pseudonym",
     "new unpooled category"),
    ("unique contracts",),
)
GROUP_EXTRA = {
    3: ("drop table marketing.segments",
        "update actuarial.frequency_severity set tier = '17 Quillfeather Lane' where rowid < 25"),
}
BY_ID = {p.id: p for p in PLANTS}


def test_every_plant_is_in_one_group_and_groups_plant_in_different_marts() -> None:
    grouped = [i for g in GROUPS for i in g]
    assert sorted(grouped) == sorted(BY_ID)
    for g in GROUPS:
        tables = [BY_ID[i].table for i in g]
        assert len(set(tables)) == len(tables), g


@dataclass
class GroupRun:
    env: Env
    result: GateResult
    message: str
    log: str
    published_before: dict
    publications: list
    publish_refused: bool


@pytest.fixture(scope="module")
def group_runs(template: Template, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[int, GroupRun]:
    """One copy of the template per group, every plant of the group applied, one gate run and
    one attempt to publish; log records of the gate are captured per group."""
    runs: dict[int, GroupRun] = {}
    for n, ids in enumerate(GROUPS):
        data = tmp_path_factory.mktemp(f"group{n}") / "data"
        shutil.copytree(template.data, data, symlinks=True)
        env = Env(data, template.known, template.foreign, template.actuarial_pseudonym)
        before = snapshot(env.published)
        publications = list_publications(env.published)
        env.sql(*(s.format(actuarial=env.actuarial_pseudonym)
                  for i in ids for s in BY_ID[i].sql), *GROUP_EXTRA.get(n, ()))
        handler = _Capture()
        logging.getLogger().addHandler(handler)
        try:
            result = env.gate()
        finally:
            logging.getLogger().removeHandler(handler)
        try:
            result.raise_for_failure()
            message = ""
        except GateFailed as failed:
            message = str(failed)
        try:
            publish(env.warehouse, env.published, run_id="planted",
                    reports=result.report_files())
            refused = False
        except PublishError:
            refused = True
        runs[n] = GroupRun(env, result, message, handler.text(), before, publications, refused)
    return runs


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


def _group_of(plant: Plant) -> int:
    return next(n for n, ids in enumerate(GROUPS) if plant.id in ids)


@pytest.mark.parametrize("plant", PLANTS, ids=[p.id for p in PLANTS])
def test_planted_leak_blocks_publication(plant: Plant, group_runs: dict[int, GroupRun]) -> None:
    run = group_runs[_group_of(plant)]
    env, result, message = run.env, run.result, run.message
    value = plant.value.format(actuarial=env.actuarial_pseudonym)

    assert not result.passed
    matching = [f for f in result.findings
                if (f.rule, f.table, f.column, f.kind) == (plant.rule, plant.table, plant.column,
                                                         plant.kind)]
    assert matching and all(f.count >= 1 for f in matching), result.summary()
    assert str(plant.rule) in message and plant.table in message
    assert plant.column is None or plant.column in message

    assert run.publish_refused
    assert snapshot(env.published) == run.published_before
    assert publication_is_intact(current_publication(env.published))
    assert list_publications(env.published) == run.publications

    # everything the gate wrote (its GX project and summary) and every report folder; the
    # previous publication's marts legitimately hold actuarial pseudonyms, and are unchanged
    reports = list((env.data / "publications").glob("*/reports"))
    assert _hits(value, env.gx, *reports) == []
    assert value.lower() not in message.lower()
    assert run.log and value.lower() not in run.log.lower()


def test_clean_marts_pass_with_every_rule(template: Template) -> None:
    result, gx = template.clean, template.data / "gx"
    assert result.passed, result.summary()
    assert result.skipped == []
    rules = {c.rule for c in result.checks}
    assert rules >= {str(r) for r in Rule} - {str(Rule.GX_ERROR)}
    assert (gx / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()
    summary = json.loads((gx / "gate-summary.json").read_text())
    assert summary["passed"] is True
    assert set(summary["tables"]) == {m.name for m in load_classification().marts}


def test_look_alikes_do_not_block(env: Env) -> None:
    # a 17-character code with a wrong check digit, an IBAN failing mod 97, a number failing
    # Luhn, a never-issued NI prefix, a miles range and a year in lower-case prose. Every mart
    # column is now closed (allow-lists, pooling hierarchies), so these are still findings of
    # value_not_allowed or unpooled_category; what must not fire is an identifier rule.
    env.sql(*(
        f"update actuarial.frequency_severity set tier = '{text}' where rowid = {i}"
        for i, text in enumerate(["1M8GDM9A1KP042788", "GB82WEST12345698765433",
                                  "ref 4111111111111112", "GB123456A", "10000-20000 miles",
                                  "at 123 km in 2024"])
    ))
    result = env.gate()
    identifier_rules = {Rule.IDENTIFIER, Rule.KNOWN_VALUE, Rule.SPLIT_IDENTIFIER, Rule.NUMBER}
    assert not [f for f in result.findings if f.rule in identifier_rules], result.summary()
    assert {f.rule for f in result.findings} <= {Rule.NOT_ALLOWED, Rule.UNPOOLED_CATEGORY}


def test_a_key_version_of_digits_is_no_identifier(env: Env) -> None:
    """A key version is `kv-` and 12 hex characters of a hash of the key; for about one key in
    280 all twelve are digits, which a French driving licence number matches (such a key
    blocked a 1M-contract run: identifier_pattern on key_version and on currency+key_version).
    Well-formed, it is exempt from the identifier scans; the column is closed to that format,
    so anything else in it is still a finding."""
    marts = [m.name for m in load_classification().marts if "key_version" in m.column_names]
    assert marts, "marts carry the key version"
    env.sql(*(f"update {m} set key_version = 'kv-037902158816'" for m in marts))
    result = env.gate()
    assert result.passed, result.summary()

    env.sql(f"update {marts[0]} set key_version = 'kv-0790.planted@example.org'")
    result = env.gate()
    found = {(f.rule, f.table, f.column) for f in result.findings}
    assert (Rule.KEY_VERSION, marts[0], "key_version") in found, result.summary()
    assert (Rule.IDENTIFIER, marts[0], "key_version") in found, result.summary()
    assert "planted@example.org" not in result.summary()


def _rows(env: Env, table: str) -> int:
    con = duckdb.connect(str(env.warehouse))
    try:
        return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])
    finally:
        con.close()


def test_a_mart_validated_in_parts_gets_the_same_verdict_and_figures(
        template: Template, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mart larger than the gate's batch is read, scanned and validated by GX part by part
    (memory of one batch); the checks and the disclosure figures are those of one whole pass,
    and a leak or a second key version in a later part is still found."""
    monkeypatch.setenv("PIPELINE_DUCKDB_THREADS", "1")  # rows stream in table order
    table = "actuarial.policy_exposure"
    rows = _rows(env, table)
    batch = rows // 3 + 1  # three parts

    def gate(batch_rows: int | None) -> GateResult:
        return run_gate(env.warehouse, known_values=env.known, foreign_pseudonyms=env.foreign,
                        gx_root=env.gx, batch_rows=batch_rows)

    whole, parted = gate(None), gate(batch)
    assert whole.passed and parted.passed, parted.summary()
    assert parted.tables[table]["parts"] == 3 and whole.tables[table]["parts"] == 1
    assert parted.tables[table]["disclosure"] == whole.tables[table]["disclosure"]

    def key(c: object) -> str:
        return repr((c.rule, c.table, c.column, c.kind, c.count, c.passed, c.evaluated))

    cross = [c for c in parted.checks if c.rule == Rule.KEY_VERSION and c.column is None]
    # only the marts read in parts check the key version across them
    assert table in {c.table for c in cross}
    assert all(parted.tables[c.table]["parts"] > 1 for c in cross)
    assert sorted(map(key, (c for c in parted.checks if c not in cross))) == \
        sorted(map(key, whole.checks))
    validations = (env.gx / "uncommitted" / "validations").rglob("*.json")
    assert any("policy_exposure part 3 of 3" in str(p) for p in validations)

    # a VIN in the last part; the last part's rows all under another well-formed key version
    env.sql(f"update {table} set tier = '1HGCM82633A004352' where rowid = {rows - 1}",
            f"update {table} set key_version = 'kv-0123456789ab' where rowid >= {2 * batch}")
    result = gate(batch)
    found = {(f.rule, f.table, f.column, f.kind) for f in result.findings}
    assert (Rule.IDENTIFIER, table, "tier", "vin") in found, result.summary()
    assert (Rule.KEY_VERSION, table, None, None) in found, result.summary()
    assert "1HGCM82633A004352" not in result.summary()
    assert _hits("1HGCM82633A004352", env.gx) == []


def test_gx_results_hold_counts_only(group_runs: dict[int, GroupRun]) -> None:
    # groups 0 and 2 planted an email in kept text and a malformed pseudonym
    forbidden = {"partial_unexpected_list", "partial_unexpected_counts", "unexpected_list",
                 "unexpected_rows", "partial_unexpected_index_list", "unexpected_index_list"}
    for n in (0, 2):
        results = list((group_runs[n].env.gx / "uncommitted" / "validations").rglob("*.json"))
        assert results
        for path in results:
            for r in json.loads(path.read_text())["results"]:
                assert not forbidden & set(r["result"]), path
                observed = r["result"].get("observed_value")
                assert observed is None or isinstance(observed, int | float | list)


def test_missing_mart_is_a_finding(group_runs: dict[int, GroupRun]) -> None:
    result = group_runs[3].result  # group 3 dropped marketing.segments
    assert (Rule.MISSING_TABLE, "marketing.segments") in {(f.rule, f.table)
                                                          for f in result.findings}


# -- detectors and known values, without Great Expectations ----------------------------------

POSITIVES = {
    "email": "write to Ann.Example+x@mail.example.co.uk today",
    "phone": "call +44 (0)20 7946 0958 or 06 12 34 56 78",
    "vin": "vehicle 1m8gdm9axkp042788 towed",
    "iban": "pay GB82 WEST 1234 5698 7654 32 now",
    "card": "card 4111 1111 1111 1111 exp",
    "uk_postcode": "lives at SW1A 1AA",
    "fr_postcode": "69003 Lyon",
    "plate": "plate AB12 CDE seen",
    "nino": "NI AB 12 34 56 C",
    "driving_licence": "licence MORGA753116SM9IJ",
    "contract_number": "contract OPW-1234567",
    "claim_number": "claim CLM-12345678",
    "customer_number": "customer C12345678",
    "quote_number": "quote Q123456789",
    "transaction_id": "payment TX1234567890",
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_found_inside_text(kind: str) -> None:
    flags = detect(pl.Series([POSITIVES[kind]]))
    assert flags[kind][0], kind


@pytest.mark.parametrize("text", [
    "1M8GDM9A1KP042788", "GB82WEST12345698765433", "4111111111111112", "GB123456A",
    "QQ123456C", "10000-20000", "12000 km", "at 123 km in 2024", "mechanical_breakdown", "GB-SW",
    "FR-974", "100-150k", "k2026a", "bad@", "0-1",
])
def test_look_alikes_are_not_identifiers(text: str) -> None:
    flags = detect(pl.Series([text]))
    assert not any(flags[k][0] for k in KINDS), [k for k in KINDS if flags[k][0]]


def test_known_values_stay_in_memory(template: Template) -> None:
    known = collect_known_values([template.delivery])
    assert len(known) > 0 and "Quillfeather" not in repr(known)
    with pytest.raises(TypeError):
        pickle.dumps(known)


def test_known_values_match_forms_not_name_parts(template: Template) -> None:
    known = template.known
    values = pl.Series("v", [
        "+447700900123",  # the landing's national UK number, in E.164
        "ab12cde",  # the plate, compact and lower case
        "ANNA FORD",  # the full name
        "ford",  # a surname alone is a vehicle make, not an identifier
        "martin",
        "gold",
    ])
    assert known.matches(values).to_list() == [True, True, True, False, False, False]


def test_placeholders_in_identifier_fields_are_not_known_values(tmp_path: Path) -> None:
    delivery = tmp_path / "policy_admin" / "2026-11-02"
    delivery.mkdir(parents=True)
    (delivery / "contracts.csv").write_text(
        "contract_number,address_line,email,phone,country\n"
        "OPW-1111111,unknown,none,N/A,GB\n"
        "OPW-2222222,Not known,see notes,tbc,FR\n",
        encoding="utf-8",
    )
    known = collect_known_values([delivery])
    values = pl.Series(["unknown", "none", "see notes", "not known", "OPW-2222222"])
    assert known.matches(values).to_list() == [False, False, False, False, True]


def test_summary_count_equals_great_expectations_count(group_runs: dict[int, GroupRun]
                                                      ) -> None:
    """GX reports pandas metrics as numpy integers; the summary must carry GX's count, not 1."""
    env, result = group_runs[3].env, group_runs[3].result  # 25 rows of a known raw value
    finding = next(f for f in result.findings
                   if (f.rule, f.table, f.column) == (Rule.KNOWN_VALUE,
                                                      "actuarial.frequency_severity", "tier"))
    observed = None
    for path in (env.gx / "uncommitted" / "validations").rglob("*.json"):
        for r in json.loads(path.read_text())["results"]:
            if r["expectation_config"]["kwargs"].get("column") == "known_value:tier":
                meta = r["expectation_config"].get("meta") or {}
                if meta.get("table") == "actuarial.frequency_severity":
                    observed = r["result"]["observed_value"]
    assert observed == 25
    assert finding.count == observed
    summary = json.loads((env.gx / "gate-summary.json").read_text())
    assert {"rule": "known_value", "table": "actuarial.frequency_severity", "column": "tier",
            "count": 25, "kind": None} in summary["findings"]


# -- one matcher for gate and scanner; the gate's inputs in DuckDB ----------------------------


def test_gate_and_leak_scanner_share_the_candidates(template: Template) -> None:
    """transforms/privacy/raw_values.py decides for both: every value the scanner looks for
    inside text is one the gate's fingerprints match; a name part alone is neither's substring."""
    from transforms.operations.leak_scan import identifier_values

    needles = identifier_values(sorted(template.delivery.glob("*.csv")))
    inside = sorted(needles.substrings)
    assert len(inside) >= 20
    assert template.known.matches(pl.Series(inside)).all()
    assert {"Ford", "Anna"} <= needles - needles.substrings
    assert "Anna Ford" in needles.substrings and "Ford Anna" in needles.substrings
    assert not template.known.matches(pl.Series(["Ford", "Anna"])).any()


def test_other_domain_pseudonyms_are_joined_in_the_warehouse(tmp_path: Path) -> None:
    from expectations.pseudonyms import WarehousePseudonyms

    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema pseudo_other")
    con.execute("create table pseudo_other.t as select sha256('x' || i) as p from range(1000) "
                "t(i)")
    known = con.execute("select sha256('x7')").fetchall()[0][0]
    con.close()
    matcher = WarehousePseudonyms(warehouse, [("pseudo_other", "t", "p")])
    values = pl.Series([known, "0" * 64, "x7", None, known])
    assert matcher.matches(values).to_list() == [True, False, False, False, True]


def test_the_gate_refuses_a_warehouse_loaded_without_fingerprints(tmp_path: Path) -> None:
    """A delivery loaded before the ingest fingerprinted would make the gate look for fewer
    values than were delivered: refused, not silently weaker."""
    import os
    from datetime import date

    from transforms.ingest.load import ensure_audit
    from transforms.privacy.keys import DomainKeys

    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    ensure_audit(con)
    con.execute("insert into audit.deliveries values ('policy_admin', 'contracts', ?, 'x', 1, 0, "
                "1, 'kv-x', current_timestamp)", [date(2026, 11, 1)])
    # an empty file delivered no value: it needs no fingerprint (not counted below)
    con.execute("insert into audit.deliveries values ('claims', 'claims', ?, 'y', 0, 0, "
                "0, 'kv-x', current_timestamp)", [date(2026, 11, 1)])
    con.close()
    with pytest.raises(RuntimeError, match="1 loaded delivery file"):
        KnownValues.from_warehouse(warehouse, DomainKeys.derive(os.urandom(32)))


def test_substring_windows_come_in_bounded_batches() -> None:
    """The gate's memory is set by its batch size: the same windows, however they are cut."""
    from transforms.privacy.raw_values import windows

    texts = pl.DataFrame({"i": pl.Series(range(50), dtype=pl.UInt32),
                          "t": [f"abcdefghij{i:04d}" for i in range(50)]})
    whole = pl.concat(windows(texts, (6, 7, 14), budget=10**9))
    batches = list(windows(texts, (6, 7, 14), budget=40))
    assert len(batches) > 10 and max(b.height for b in batches) < 40 + 20
    assert pl.concat(batches).sort("i", "w").equals(whole.sort("i", "w"))
    assert whole.height == 50 * ((14 - 6 + 1) + (14 - 7 + 1) + 1)


def test_importing_the_gate_from_python_c_does_not_end_the_process() -> None:
    """`python -c` has a `__main__` without `__file__`; pyspark's Spark Connect package, which
    GX imports, takes that for a doctest run and exits 0 at import. The gate's import must
    not: the process goes on to the next statement (expectations/main_module.py)."""
    import subprocess
    import sys

    code = "import expectations.gx_project, expectations.suites\nprint('still running')\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                          capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "still running" in proc.stdout, proc.stderr[-2000:]


def test_gx_gets_the_same_pandas_frame_column_by_column() -> None:
    """The gate hands GX its pandas copy of a mart built column by column while the polars
    columns are dropped (so that two whole copies are never held): the same dtypes and values
    as polars' own whole-frame conversion, and the polars frame is emptied."""
    from datetime import date
    from decimal import Decimal

    from expectations.gate import _hand_to_pandas

    frame = pl.DataFrame({
        "contract_key": ["a" * 64, None, "b" * 64],
        "period_start": [date(2026, 1, 1), date(2026, 2, 1), None],
        "earned_exposure": [Decimal("0.25"), None, Decimal("1.00")],
        "claim_count": [0, 3, None],
    }, schema_overrides={"earned_exposure": pl.Decimal(18, 2)})
    whole = frame.to_pandas(use_pyarrow_extension_array=True)
    handed = _hand_to_pandas(frame)
    assert frame.width == 0
    assert list(handed.dtypes) == list(whole.dtypes)
    assert handed.equals(whole)


def test_gx_keeps_no_validated_frame(tmp_path: Path) -> None:
    """GX's pandas engine caches every batch it validated, and the context outlives the gate
    (GX registers it as the process's project): the mart's pandas copy must not stay with it,
    or the next mart and the next task of the same Airflow process start on it (1M: 0.47 GiB)."""
    import gc
    import weakref

    import great_expectations as gx
    import pandas as pd

    from expectations import gx_project

    project = gx_project.open_project(tmp_path / "gx", "keeps-nothing")
    frame = pd.DataFrame({"band": ["a", "b", "c"]})
    seen = weakref.ref(frame)
    suite = gx.ExpectationSuite(name="kept", expectations=[
        gx.expectations.ExpectColumnToExist(column="band")])
    result = gx_project.validate(project, "kept", suite, frame)
    assert result.success
    del frame
    gc.collect()
    assert seen() is None


def test_a_delivered_value_as_a_column_name_is_found_unless_the_classification_declares_it(
        ) -> None:
    """A column named after a delivered value that no detector recognises (a full name) is
    found through the delivered values' fingerprints; a name the classification declares is
    the schema's own word and is not looked up among them; the detectors read every name."""
    from expectations.known_values import fold
    from expectations.scan import identifier_like_names

    delivered = ["Annabel Planted-Example", "product"]
    known = KnownValues.from_folded(
        pl.DataFrame({"v": delivered}).select(fold(pl.col("v")))["v"])
    names = ["product", "annabel planted-example", "ann.planted.z2@example.org"]
    assert identifier_like_names(names, known) == set(names)  # positive control
    assert identifier_like_names(names, known, declared=["product"]) == set(names[1:])
    assert identifier_like_names(names, known, declared=names) == {names[2]}
    assert identifier_like_names(names, None) == {names[2]}
