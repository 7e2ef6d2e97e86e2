"""Schema migrations: from a blank database and from the previous schema, data kept."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from enrich.schemas import FieldValue
from enrich.schemas.listing import ParsedListing, StatedValue, Work
from enrich.store import Store, migrations

CORE_TABLES = {
    "listings",
    "researchers",
    "researcher_listings",
    "works",
    "field_values",
    "current_values",
    "derived_facts",
    "proposals",
    "jobs",
    "llm_calls",
    "llm_cache",
    "conflation",
    "audit_log",
}
CORE_TRIGGERS = {
    "field_values_append_only_update",
    "field_values_append_only_delete",
    "field_values_writer_status",
    "current_values_never_override",
    "current_values_never_override_delete",
    "audit_log_append_only_update",
}


def migration_names() -> list[str]:
    return [m.name for m in migrations.migrations._migrations]


def test_blank_database_gets_the_current_schema(tmp_path):
    store = Store.open(tmp_path / "blank.db")
    assert CORE_TABLES <= set(store.db.table_names())
    assert CORE_TRIGGERS <= set(t.name for t in store.db.triggers)
    applied = [m.name for m in migrations.migrations.applied(store.db)]
    assert applied == migration_names()
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_reopening_applies_nothing_twice(tmp_path):
    Store.open(tmp_path / "x.db").close()
    store = Store.open(tmp_path / "x.db")
    assert migrations.migrations.pending(store.db) == []
    assert len(migrations.migrations.applied(store.db)) == len(migration_names())
    store.close()


def test_previous_schema_is_upgraded_with_data_kept(tmp_path):
    names = migration_names()
    assert len(names) >= 1
    path = tmp_path / "old.db"
    db = Database(path)
    if len(names) > 1:
        migrations.migrations.apply(db, stop_before=names[-1])
        assert names[-1] not in {m.name for m in migrations.migrations.applied(db)}
    db.close()

    older = Store.open(path, migrate=False)
    if len(names) > 1:
        text = "Ada Lovelace\nAffiliation: Analytical Engine Society\n1843 Notes on the engine"
        parsed = ParsedListing(
            format="text",
            kind="person",
            name="Ada Lovelace",
            stated={
                "affiliation": StatedValue(
                    value={"name": "Analytical Engine Society"}, quote="Analytical Engine Society", start=26, end=51
                )
            },
            works=[Work(title="Notes on the engine", year=1843)],
        )
        res = older.record_import(parsed, text=text, path="ada.txt")
        rid = res.researcher_id
        older.set_value(rid, "affiliation", {"name": "Royal Society"}, "ann")
        older.submit(
            FieldValue(
                researcher_id=rid,
                field="affiliation",
                value={"name": "MIT"},
                status="proposed",
                origin="llm:fake/a",
                confidence=0.5,
            )
        )
    older.close()

    upgraded = Store.open(path)
    assert migrations.migrations.pending(upgraded.db) == []
    assert CORE_TABLES <= set(upgraded.db.table_names())
    if len(names) > 1:
        [r] = upgraded.researchers()
        assert r.name == "Ada Lovelace"
        [w] = upgraded.researcher_works(r.id)
        assert (w.title, w.year) == ("Notes on the engine", 1843)
        cur = upgraded.current(r.id, "affiliation")
        assert (cur.value, cur.status, cur.origin) == ({"name": "Royal Society"}, "verified", "human:ann")
        history = upgraded.history(r.id, "affiliation")
        assert [h["shown_status"] for h in history] == ["superseded", "verified", "proposed"]
        [p] = upgraded.proposals("pending")
        assert p.proposed.value == {"name": "MIT"}
        assert [a.action for a in upgraded.audit_entries(researcher_id=r.id)] == ["set", "import"]
        # the triggers still guard the upgraded data
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            upgraded.db.execute("DELETE FROM field_values")
    upgraded.close()
