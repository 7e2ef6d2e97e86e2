"""One researcher's step raising does not end the job: the exception is recorded (type, message, where, researcher,
step), counted on the job, the others are enriched, an unchanged re-run does not run into it again, and
`--retry-failed` runs it again. What concerns every researcher still stops the job at once."""

from __future__ import annotations

import json

import pytest
from agent_pages import HEADER_PAGE, INJECTION_PAGE, ingest
from click.testing import CliRunner
from store_sql import rows

from enrich.agent import loop
from enrich.agent.cli import cli
from enrich.agent.llm.base import LLMError
from enrich.agent.loop import JobRunner, RunOptions

THIRD_PAGE = HEADER_PAGE.replace("Jane Doe", "Mia Park").replace("University of Testing", "Testing Institute")


class RaisingStep:
    """A fake step (the Step protocol): raises for the researchers named in `broken`, runs the real step for the
    others."""

    def __init__(self, real, broken: set[str], exc: BaseException):
        self.real, self.broken, self.exc, self.calls = real, broken, exc, []
        self.name, self.needs, self.answer, self.estimate = real.name, real.needs, real.answer, real.estimate

    def run(self, ctx):
        self.calls.append(ctx.researcher.name)
        if ctx.researcher.name in self.broken:
            raise self.exc
        return self.real.run(ctx)


def three(store):
    return {
        n: ingest(store, page, f"{n}.txt")
        for n, page in (("jane", HEADER_PAGE), ("john", INJECTION_PAGE), ("mia", THIRD_PAGE))
    }


def test_a_step_raising_for_one_researcher_is_recorded_and_the_job_enriches_the_others(
    store, fake, settings, monkeypatch
):
    ids = three(store)
    step = RaisingStep(loop.STEPS["summary"], {"John Roe"}, ZeroDivisionError("float division by zero"))
    monkeypatch.setitem(loop.STEPS, "summary", step)
    job = JobRunner(store, fake, settings).start(RunOptions())
    assert job.state == "done" and job.cursor == len(job.todo) == 3
    assert job.errors == 1 and job.counts["summary:error"] == 1 and job.counts["summary:applied"] == 2
    [err] = store.job_errors(job_id=job.id)
    assert (err.researcher_id, err.step, err.error_type, err.message) == (
        ids["john"],
        "summary",
        "ZeroDivisionError",
        "float division by zero",
    )
    # where: the innermost frame of the project's code (the fake step lives in this test file, see the traceback)
    assert err.location.startswith("agent/loop.py:") and "test_step_isolation.py" in err.traceback
    assert store.current(ids["john"], "summary") is None and store.current(ids["john"], "topics") is not None
    assert all(store.current(ids[n], "summary") is not None for n in ("jane", "mia"))
    assert [e.step for e in store.latest_job_errors(ids["john"])] == ["summary"]

    # an unchanged re-run does not run into it again; it says so
    again = JobRunner(store, fake, settings).start(RunOptions())
    assert step.calls.count("John Roe") == 1 and again.errors == 0 and again.counts["not_retried"] == 1
    # --retry-failed runs it again: fixed now, the value lands and the failure is forgotten
    step.broken.clear()
    retried = JobRunner(store, fake, settings).start(RunOptions(retry_failed=True))
    assert retried.errors == 0 and retried.counts["summary:applied"] == 1
    assert store.current(ids["john"], "summary") is not None
    assert rows(store, "SELECT * FROM step_misses WHERE field = 'summary'") == []
    assert store.latest_job_errors(ids["john"]) == []


def test_a_conflation_error_holds_back_affiliation_and_summary_only(store, fake, settings, monkeypatch):
    ids = three(store)
    step = RaisingStep(loop.STEPS["conflation"], {"Jane Doe"}, IndexError("list index out of range"))
    monkeypatch.setitem(loop.STEPS, "conflation", step)
    job = JobRunner(store, fake, settings).start(RunOptions())
    assert job.state == "done" and job.errors == 1 and job.counts["conflation:error"] == 1
    # without the check the listing might mix people: no single summary; the topics do not depend on it
    assert store.current(ids["jane"], "summary") is None and store.current(ids["jane"], "topics") is not None
    assert store.current(ids["mia"], "summary") is not None
    again = JobRunner(store, fake, settings).start(RunOptions())
    assert step.calls.count("Jane Doe") == 1 and again.errors == 0
    step.broken.clear()
    JobRunner(store, fake, settings).start(RunOptions(retry_failed=True))
    assert store.current(ids["jane"], "summary") is not None
    assert rows(store, "SELECT * FROM step_misses") == []


def test_an_error_that_concerns_every_researcher_still_stops_the_job(store, fake, settings, monkeypatch):
    three(store)
    fatal = LLMError("the model server at http://127.0.0.1:9 is unreachable", fatal=True)
    monkeypatch.setitem(loop.STEPS, "topics", RaisingStep(loop.STEPS["topics"], {"Jane Doe"}, fatal))
    with pytest.raises(LLMError):
        JobRunner(store, fake, settings).start(RunOptions())
    [job] = store.jobs()
    assert job.state == "interrupted" and job.cursor == 0 and job.errors == 0
    assert job.resume == f"enrich run --resume {job.id}"


def test_cli_reports_the_errors_and_goes_on(tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    for name, page in (("jane", HEADER_PAGE), ("john", INJECTION_PAGE)):
        (tmp_path / f"{name}.txt").write_text(page)
    step = RaisingStep(loop.STEPS["topics"], {"Jane Doe"}, KeyError("tag"))
    monkeypatch.setitem(loop.STEPS, "topics", step)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["--db", str(db), "run", str(tmp_path / "jane.txt"), str(tmp_path / "john.txt"), "--backend", "fake"]
    )
    assert out.exit_code == 0, out.output
    assert "topics: error - KeyError: 'tag'" in out.output
    assert "1 step(s) raised an error and were recorded" in out.output
    [job] = json.loads(runner.invoke(cli, ["--db", str(db), "jobs", "--json", "--errors"]).stdout)
    assert job["state"] == "done" and job["errors"] == 1
    assert [(e["step"], e["error_type"]) for e in job["error_details"]] == [("topics", "KeyError")]
    shown = json.loads(runner.invoke(cli, ["--db", str(db), "show", "Jane Doe", "--json"]).stdout)
    assert [e["step"] for e in shown["errors"]] == ["topics"] and shown["fields"]["summary"] is not None
