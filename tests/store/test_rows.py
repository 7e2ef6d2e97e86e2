"""Rows read back as models (store/rows.py): one conversion, per-column decoders."""

from __future__ import annotations

from enrich.schemas import Job, Researcher
from enrich.store.rows import JOB, RESEARCHER, to_model


def _job_row(**over):
    row = {
        "id": "J1",
        "kind": "run",
        "state": "done",
        "params": None,
        "cursor": 0,
        "todo": None,
        "counts": '{"applied": 2}',
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.0,
        "error": None,
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": None,
        "pid": None,
        "host": None,
    }
    return {**row, **over}


def test_json_columns_decode_and_null_gives_a_fresh_empty_container():
    a, b = to_model(Job, _job_row(), JOB), to_model(Job, _job_row(), JOB)
    assert (a.params, a.todo, a.counts) == ({}, [], {"applied": 2})
    a.params["x"] = 1
    a.todo.append(1)
    assert (b.params, b.todo) == ({}, [])


def test_columns_that_are_no_field_are_left_out_and_given_values_win():
    row = {
        "id": 3,
        "name": "A. Person",
        "name_origin": "import:acl",
        "split_from": None,
        "single_person": 0,
        "created_at": "2026-01-01T00:00:00Z",
        "linked_works": "[]",
    }
    r = to_model(Researcher, row, RESEARCHER)
    assert r.single_person is False and r.merged_into is None
    assert to_model(Researcher, {**row, "single_person": None}, RESEARCHER).single_person is None
    assert to_model(Researcher, row, RESEARCHER, name="B. Person").name == "B. Person"


def test_in_chunks_covers_every_key_once_within_the_variable_limit():
    import sqlite3

    from enrich.store.rows import in_chunks

    keys = list(range(1201))
    chunks = list(in_chunks(keys))
    assert [len(c) for c, _ in chunks] == [500, 500, 201]
    assert [k for c, _ in chunks for k in c] == keys
    assert all(marks.count("?") == len(c) for c, marks in chunks)
    assert list(in_chunks([])) == []
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?)", [(k,) for k in keys])
    found = [r[0] for c, marks in in_chunks(keys) for r in conn.execute(f"SELECT id FROM t WHERE id IN ({marks})", c)]
    assert sorted(found) == keys
