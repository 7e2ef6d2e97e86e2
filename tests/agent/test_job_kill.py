"""A job whose process is killed with SIGKILL half-way reads as `interrupted` (with the command that resumes it),
cannot be run twice at once, and `enrich run --resume` finishes it with exactly what an uninterrupted run writes:
no duplicated values, proposals or call-log rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from click.testing import CliRunner
from store_sql import one as sql_one
from store_sql import rows as sql_rows

from enrich.agent.cli import cli
from enrich.store import Store

# `enrich` in a subprocess with a slow fake model: each answer waits, and says on a marker file that it started.
SLOW_ENRICH = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import enrich.agent.fake_answers as fake_answers

    marker, delay, real = Path(sys.argv[1]), float(sys.argv[2]), fake_answers.grounded_answer

    def slow(model, messages, context):
        with marker.open("a") as f:
            f.write(model.__name__ + "\\n")
        time.sleep(delay)
        return real(model, messages, context)

    fake_answers.grounded_answer = slow
    from enrich.agent.cli import main
    sys.argv = ["enrich", *sys.argv[3:]]
    main()
    """
)

TOPICS = [
    ("Graph Neural Networks for Molecules", "We learn molecular graphs with message passing networks."),
    ("Dense Retrieval for Questions", "We retrieve passages with dual encoders for open-domain questions."),
    ("Parsing Tables with Transformers", "We parse tables with pretrained transformers and show gains."),
    ("Speech Recognition in Noise", "We recognise speech under noise with robust acoustic models."),
]


def page(i: int) -> str:
    works = []
    for k, (title, abstract) in enumerate(TOPICS[: 2 + i % 3]):
        works.append(
            f"{title} {i}\nPerson{i} Tester; Coauthor{k} Helper\nProceedings of Workshop {k}\n"
            f"Year: {2015 + k} | Conference Paper | ACL Anthology W{i}-{k}\nAbstract: {abstract}\n"
        )
    return f"Person{i} Tester\n\nPublications ({len(works)})\n\n" + "\n".join(works)


def counts(db: Path) -> dict[str, object]:
    store = Store.open(db)
    try:
        one = lambda sql: sql_one(store, sql)["n"]  # noqa: E731
        return {
            "values": one("SELECT count(*) AS n FROM field_values"),
            "distinct_values": one(
                "SELECT count(*) AS n FROM (SELECT DISTINCT researcher_id, field, value_hash, status FROM field_values)"
            ),
            "proposals": one("SELECT count(*) AS n FROM proposals"),
            "distinct_proposals": one(
                "SELECT count(*) AS n FROM (SELECT DISTINCT kind, researcher_id, field, value_id FROM proposals)"
            ),
            "calls": one("SELECT count(*) AS n FROM llm_calls"),
            "distinct_calls": one("SELECT count(*) AS n FROM (SELECT DISTINCT input_hash, attempt FROM llm_calls)"),
            "current": sorted(
                (r["researcher_id"], r["field"], r["value_hash"])
                for r in sql_rows(
                    store,
                    "SELECT c.researcher_id, c.field, fv.value_hash FROM current_values c "
                    "JOIN field_values fv ON fv.id = c.value_id",
                )
            ),
        }
    finally:
        store.close()


def enrich(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def test_a_killed_job_is_interrupted_and_resumes_without_duplicates(tmp_path):
    listings = tmp_path / "listings"
    listings.mkdir()
    for i in range(12):
        (listings / f"person{i}.txt").write_text(page(i))
    db, baseline = tmp_path / "killed.db", tmp_path / "baseline.db"
    for d in (db, baseline):
        assert enrich(d, "ingest", str(listings)).exit_code == 0

    marker = tmp_path / "calls.txt"
    args = [str(marker), "2.0", "--db", str(db), "run", "--backend", "fake", "--concurrency", "1", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_ENRICH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and len(marker.read_text().splitlines()) >= 2):  # the 2nd answer is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        [job] = json.loads(enrich(db, "jobs", "--json").stdout)
        assert job["state"] == "running" and job["pid"] == proc.pid
        refused = enrich(db, "run", "--resume", job["id"], "--backend", "fake")
        assert refused.exit_code == 1 and f"job {job['id']} is running in another process" in refused.output
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.communicate()

    [job] = json.loads(enrich(db, "jobs", "--json").stdout)
    assert job["state"] == "interrupted" and job["resume"] == f"enrich run --resume {job['id']}"
    assert job["cursor"] < len(job["todo"])
    assert f"resume it with `enrich run --resume {job['id']}`" in enrich(db, "jobs").output

    resumed = enrich(db, "run", "--resume", job["id"], "--backend", "fake", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["state"] == "done"
    [job] = json.loads(enrich(db, "jobs", "--json").stdout)
    assert job["state"] == "done" and job["cursor"] == len(job["todo"]) and job["resume"] is None

    assert enrich(baseline, "run", "--backend", "fake", "--concurrency", "1").exit_code == 0
    after, expected = counts(db), counts(baseline)
    assert after == expected  # the same values, proposals and calls as a run that was never killed
    assert after["values"] == after["distinct_values"] and after["proposals"] == after["distinct_proposals"]
    assert after["calls"] == after["distinct_calls"] and after["calls"] > 4
