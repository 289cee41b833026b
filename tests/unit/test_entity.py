"""Enterprise resolution: canonical names, dim_enterprise as a type-2 dimension, source
precedence and name-based matching of records quarantined for their USCC, on a small
synthetic DuckDB warehouse."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest
import sqlalchemy as sa

from safety_hub.domain.text import canonical_org_name
from safety_hub.domain.uscc import make_uscc
from safety_hub.config.registry import RegistryError, load_precedence
from safety_hub.warehouse.engine import ensure_schema
from safety_hub.warehouse.build import build_dimensions, canonical_name_sql

D1, D2, D3 = dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)
A = make_uscc("91", "120116", "1A2B3C4D")
B = make_uscc("91", "120101", "2B3C4D5E")
C = make_uscc("91", "120102", "3C4D5E6F")
E1 = make_uscc("91", "120103", "4D5E6F7G")
E2 = make_uscc("91", "120103", "5E6F7G8H")


@pytest.mark.parametrize(("raw", "canonical"), [
    ("天津宏远化工有限公司", "天津宏远化工有限公司"),
    ("天津宏远化工有限责任公司", "天津宏远化工有限公司"),
    ("天津市宏远化工有限公司", "天津宏远化工有限公司"),
    ("（天津）宏远化工有限公司", "天津宏远化工有限公司"),
    ("(天津)宏远化工有限责任公司", "天津宏远化工有限公司"),
    ("  天津宏远化工有限公司\u3000", "天津宏远化工有限公司"),
    ("天津宏远　化工有限公司", "天津宏远化工有限公司"),
    ("ＡＢＣ（天津）化工有限公司", "ABC(天津)化工有限公司"),  # brackets inside the name stay, half-width
    ("中国铁路北京局集团有限公司天津工务段", "中国铁路北京局集团有限公司天津工务段"),
    ("天津宏远〔集团〕有限公司", "天津宏远(集团)有限公司"),
    ("天津宏远【集团】股份有限公司", "天津宏远(集团)股份有限公司"),
    ("天津宏远化工股份有限公司", "天津宏远化工股份有限公司"),  # another legal form, not a variant
])
def test_canonical_org_name(raw, canonical):
    assert canonical_org_name(raw) == canonical


@pytest.mark.parametrize("blank", [None, "", "  ", "\u3000", float("nan")])
def test_canonical_org_name_of_blanks_is_none(blank):
    assert canonical_org_name(blank) is None


def test_a_rename_is_not_a_spelling_variant():
    assert canonical_org_name("天津宏远化工有限公司") != canonical_org_name("天津鑫源化工有限公司")


def test_canonical_name_sql_agrees_with_python(tmp_path):
    """The warehouse applies the same rules in SQL to names already normalised at load (half-width, trimmed)."""
    from safety_hub.domain.text import normalise_org_name

    names = ["天津市宏远化工有限责任公司", "（天津）宏远化工有限公司", "天津宏远 化工有限公司", "天津宏远［集团］有限公司",
             "天津宏远【集团】有限公司", "天津市", "(天津)", "中国铁路北京局集团有限责任公司天津工务段", "宏远天津市化工有限公司", "O'Brien 天津"]
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'c.duckdb'}")
    with engine.connect() as conn:
        for name in names:
            stored = normalise_org_name(name)
            got = conn.execute(sa.text(f"SELECT {canonical_name_sql('n')} FROM (SELECT CAST(:n AS TEXT) AS n) t"), {"n": stored}).scalar()
            assert got == canonical_org_name(name), name


# --- a small warehouse -------------------------------------------------------------------------

@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    ensure_schema(engine)
    yield engine
    engine.dispose()


def _stamp(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.timezone.utc)


def add_facts(engine, table: str, feed_id: str, rows: list[tuple]) -> None:
    """rows: (key, uscc, org_name as loaded, district_code, business_date[, hour])."""
    key = {"fact_hazard": "hazard_id", "fact_ent_registry": "uscc"}[table]
    with engine.begin() as conn:
        for n, (k, uscc, name, district, day, *hour) in enumerate(rows):
            values = {"uscc": uscc, "org_name": name, "district_code": district, "updated_at": _stamp(day, *(hour or [9])),
                      "feed_id": feed_id, "batch_id": f"run-{day}", "business_date": day, "raw_file": "x", "loaded_at": _stamp(day)}
            if key != "uscc":
                values[key] = k
            conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(':' + c for c in values)})"), values)
            # what the load writes beside the facts: the dimensions read the reports from here
            conn.execute(sa.text("INSERT INTO enterprise_observation (feed_id, business_date, uscc, org_name, district_code, updated_at) "
                                 "VALUES (:feed_id, :business_date, :uscc, :org_name, :district_code, :updated_at)"), values)


def dim(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(sa.text("SELECT * FROM dim_enterprise ORDER BY uscc, version")).mappings().all())
    for col in ("valid_from", "valid_to", "first_seen", "last_seen"):
        frame[col] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[col]]
    return frame


def test_spelling_variants_give_one_version(engine):
    add_facts(engine, "fact_hazard", "emb_hazard", [
        ("YH1", A, "天津宏远化工有限公司", "120116", D1),
        ("YH2", A, "天津市宏远化工有限责任公司", "120116", D2),
        ("YH3", A, "(天津)宏远化工有限公司", "120116", D3),
    ])
    assert build_dimensions(engine) == 1
    row = dim(engine).iloc[0]
    assert (row["uscc"], row["version"], row["canonical_name"]) == (A, 1, "天津宏远化工有限公司")
    assert (row["valid_from"], row["valid_to"], bool(row["is_current"])) == (D1, None, True)
    assert (row["first_seen"], row["last_seen"], row["name_variants"]) == (D1, D3, 3)
    assert row["org_name"] == "(天津)宏远化工有限公司", "the most recent spelling among equally authoritative reports"


def test_a_rename_gives_two_versions_with_validity(engine):
    add_facts(engine, "fact_hazard", "emb_hazard", [
        ("YH1", B, "天津甲化工有限公司", "120101", D1),
        ("YH2", B, "天津乙化工有限责任公司", "120101", D2),
        ("YH3", B, "天津甲化工有限公司", "120101", D3),  # a late update still carries the old name
    ])
    add_facts(engine, "fact_ent_registry", "emb_ent_registry", [(None, B, "天津乙化工有限公司", "120101", D3)])
    build_dimensions(engine)
    rows = dim(engine)
    assert list(rows["version"]) == [1, 2]
    old, new = rows.iloc[0], rows.iloc[1]
    assert (old["canonical_name"], old["valid_from"], old["valid_to"], bool(old["is_current"])) == ("天津甲化工有限公司", D1, D2, False)
    assert old["last_seen"] == D3, "the late old-name report shows in last_seen, it does not reopen the version"
    assert (new["canonical_name"], new["valid_from"], new["valid_to"], bool(new["is_current"])) == ("天津乙化工有限公司", D2, None, True)
    assert new["org_name"] == "天津乙化工有限公司", "the registry's spelling wins (precedence)"
    assert new["source_feeds"] == "emb_ent_registry,emb_hazard" and old["source_feeds"] == "emb_hazard"
    with engine.connect() as conn:
        current = conn.execute(sa.text("SELECT org_name FROM dim_enterprise WHERE uscc = :u AND is_current"), {"u": B}).scalars().all()
    assert current == ["天津乙化工有限公司"]


def test_registry_district_wins_over_a_later_hazard_report(engine):
    add_facts(engine, "fact_ent_registry", "emb_ent_registry", [(None, C, "天津丙化工有限公司", "120102", D1)])
    add_facts(engine, "fact_hazard", "emb_hazard", [("YH9", C, "天津丙化工有限责任公司", "120110", D3, 23)])
    build_dimensions(engine)
    row = dim(engine).iloc[0]
    assert (row["district_code"], row["org_name"], row["name_variants"]) == ("120102", "天津丙化工有限公司", 2)


def test_precedence_config_is_validated(tmp_path):
    from safety_hub.config import settings

    feeds = tmp_path / "feeds"
    shutil.copytree(settings.feeds_dir(), feeds)
    assert load_precedence(feeds).district_code[0] == "emb_ent_registry"
    (feeds / "_precedence.yaml").write_text("district_code: [emb_ent_registry, no_such_feed]\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="no_such_feed"):
        load_precedence(feeds)
    (feeds / "_precedence.yaml").write_text("district: [emb_ent_registry]\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="district"):
        load_precedence(feeds)
    (feeds / "_precedence.yaml").unlink()
    assert load_precedence(feeds).org_name == []


def quarantine(engine, row_number: int, rules: list[str], uscc: str, name: str, district: str, key: str) -> None:
    original = json.dumps({"yhbh": key, "tyshxydm": uscc, "dwmc": name, "ssq": district}, ensure_ascii=False)
    with engine.begin() as conn:
        for rule in rules:
            conn.execute(sa.text(
                "INSERT INTO quarantine (feed_id, batch_id, business_date, raw_file, row_number, record_key, rule_id, rule_description, "
                "original_values, quarantined_at) VALUES ('emb_hazard', 'run-q', :d, 'x', :n, :k, :r, 'r', :o, :t)"),
                {"d": D3, "n": row_number, "k": key, "r": rule, "o": original, "t": _stamp(D3)})


@pytest.mark.parametrize("page_rows", [None, 3], ids=["one page", "pages of 3 rows"])
def test_records_quarantined_for_their_uscc_are_matched_by_name_and_district(engine, monkeypatch, page_rows):
    """The records are read in keyset pages (bounded memory): pages of 3 rows split Q8's two rule rows
    across a page boundary unless the page's last record is read again with the next page."""
    from safety_hub.warehouse import build

    if page_rows:
        monkeypatch.setattr(build, "MATCH_PAGE_ROWS", page_rows)
    add_facts(engine, "fact_hazard", "emb_hazard", [
        ("YH1", A, "天津宏远化工有限公司", "120116", D1),
        ("YH2", B, "天津甲化工有限公司", "120101", D1),
        ("YH3", B, "天津乙化工有限公司", "120101", D2),
        ("YH4", E1, "天津同名化工有限公司", "120103", D1),
        ("YH5", E2, "天津同名化工有限责任公司", "120103", D1),
    ])
    broken_a = A[:17] + ("0" if A[17] != "0" else "1")
    quarantine(engine, 1, ["uscc.valid_uscc"], broken_a, "天津市宏远化工有限责任公司", "滨海新区", "Q1")  # variant, district by name
    quarantine(engine, 2, ["uscc.required"], "", "天津甲化工有限公司", "120101", "Q2")  # the old name still matches
    quarantine(engine, 3, ["uscc.valid_uscc"], "X", "天津同名化工有限公司", "120103", "Q3")  # two enterprises
    quarantine(engine, 4, ["uscc.valid_uscc"], "X", "天津无名化工有限公司", "120116", "Q4")  # nobody
    quarantine(engine, 5, ["uscc.valid_uscc"], "X", "天津宏远化工有限公司", "120101", "Q5")  # right name, other district
    quarantine(engine, 6, ["uscc.valid_uscc", "description.required"], "X", "天津宏远化工有限公司", "120116", "Q6")  # not only the USCC
    quarantine(engine, 7, ["grade.known"], A, "天津宏远化工有限公司", "120116", "Q7")  # not a USCC problem
    quarantine(engine, 8, ["uscc.valid_uscc", "uscc.required"], "", "天津乙化工有限公司", "120101", "Q8")  # both USCC rules
    build_dimensions(engine)
    with engine.connect() as conn:
        got = pd.DataFrame(conn.execute(sa.text("SELECT * FROM enterprise_match ORDER BY record_key")).mappings().all())
    assert list(got["record_key"]) == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q8"]
    assert list(got["match_method"]) == ["name_district", "name_district", "ambiguous", "unmatched", "unmatched", "name_district"]
    assert [None if pd.isna(u) else u for u in got["matched_uscc"]] == [A, B, None, None, None, B]
    assert list(got["candidates"]) == [1, 1, 2, 0, 0, 1]
    assert list(got["rule_id"])[-1] == "uscc.required,uscc.valid_uscc", "a record's rules once each, in rule order"
    first = got.iloc[0]
    assert (first["raw_uscc"], first["raw_org_name"], first["district_code"], first["canonical_name"]) == (
        broken_a, "天津市宏远化工有限责任公司", "120116", "天津宏远化工有限公司")


def test_a_warehouse_with_the_old_dim_enterprise_key_is_migrated(tmp_path):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'old.duckdb'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE dim_enterprise (uscc VARCHAR(18) PRIMARY KEY, org_name TEXT NOT NULL, district_code VARCHAR(6), "
                             "name_variants INTEGER NOT NULL, source_feeds TEXT NOT NULL, first_seen DATE NOT NULL, last_seen DATE NOT NULL)"))
    ensure_schema(engine)
    add_facts(engine, "fact_hazard", "emb_hazard", [("YH1", B, "天津甲化工有限公司", "120101", D1), ("YH2", B, "天津乙化工有限公司", "120101", D2)])
    assert build_dimensions(engine) == 2
    engine.dispose()
