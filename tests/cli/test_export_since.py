"""`enrich export --since JOB|TIME`: only researchers with anything written, imported, reviewed or rolled back since
then; and the batched export gives the same lines as one researcher at a time."""

from __future__ import annotations

import time

from click.testing import CliRunner

from enrich.agent.cli import cli
from enrich.agent.export import export_lines, researcher_line
from enrich.schemas import ExportLine, FieldValue, Job, utcnow
from enrich.schemas.listing import ParsedListing, Work
from enrich.store import Store


def person(store: Store, name: str) -> int:
    works = [Work(title=f"{name} paper {i}", year=2020 + i) for i in range(2)]
    text = f"{name}\nPublications\n" + "\n".join(w.title for w in works)
    return store.record_import(
        ParsedListing(format="text", kind="person", name=name, name_origin="page", works=works),
        text=text,
        path=f"{name}.txt",
    ).researcher_id


def export(db, *args) -> list[ExportLine]:
    res = CliRunner().invoke(cli, ["--db", str(db), "export", *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return [ExportLine.model_validate_json(x) for x in res.stdout.splitlines()]


def llm_value(rid: int, job: str) -> FieldValue:
    return FieldValue(
        researcher_id=rid,
        field="affiliation",
        value={"name": "Uni"},
        status="proposed",
        origin="llm:fake/m",
        confidence=0.9,
        job_id=job,
    )


def wait_a_second() -> None:
    time.sleep(1.05)  # the store's timestamps have a one-second resolution


def test_since_a_time_a_job_and_each_kind_of_change(tmp_path):
    db = tmp_path / "x.db"
    store = Store.open(db)
    ada, bob, cy, dee = (person(store, n) for n in ("Ada", "Bob", "Cy", "Dee"))
    proposed = store.submit(llm_value(cy, "J0"))  # a proposal made before the cut
    wait_a_second()
    cut = utcnow()
    store.create_job(Job(id="J1", kind="run", state="done"))
    store.submit(llm_value(ada, "J1"), auto_apply=True)  # written (generated) by the job
    store.accept(proposed.proposal_id, "ann")  # reviewed
    eve = person(store, "Eve")  # imported
    store.close()

    assert [line.researcher_id for line in export(db)] == [ada, bob, cy, dee, eve]
    assert [line.researcher_id for line in export(db, "--since", cut)] == [ada, cy, eve]
    assert [line.researcher_id for line in export(db, "--since", "J1")] == [ada, cy, eve]
    assert [line.researcher_id for line in export(db, "--since", "2999-01-01")] == []

    wait_a_second()
    store = Store.open(db)
    later = utcnow()
    store.rollback_job("J1", "ann")  # rolled back
    store.close()
    assert [line.researcher_id for line in export(db, "--since", later.replace("+00:00", "Z"))] == [ada]
    csv = CliRunner().invoke(cli, ["--db", str(db), "export", "--since", later, "--format", "csv"]).stdout
    assert [row.split(",")[0] for row in csv.splitlines()] == ["researcher_id", str(ada)]


def test_since_refuses_what_is_neither_a_job_nor_a_time(tmp_path):
    res = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "export", "--since", "yesterday-ish"])
    assert res.exit_code == 1 and "neither a job id" in res.output


def test_batched_lines_equal_one_at_a_time(tmp_path):
    store = Store.open(tmp_path / "x.db")
    ids = [person(store, f"P{i}") for i in range(7)]
    store.submit(llm_value(ids[2], "J1"), auto_apply=True)
    assert [line.model_dump() for line in export_lines(store)] == [
        researcher_line(store, rid).model_dump() for rid in ids
    ]
    store.close()
