"""A job's state is honest: `running` only while a live process holds it, and two processes never run one job.
Job errors are recorded per researcher and step and counted on the job."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from enrich.schemas import Job, JobError
from enrich.store import Store, StoreError


@pytest.fixture
def db(tmp_path):
    return tmp_path / "jobs.db"


def test_a_job_run_here_is_running_until_released(db):
    store = Store.open(db)
    store.create_job(Job(id="J1", todo=[1]))
    job = store.get_job("J1")
    assert job.state == "running" and job.resume is None and job.pid is not None and job.host
    other = Store.open(db)  # another connection of this process sees the same
    assert other.get_job("J1").state == "running"
    store.release_job("J1")
    job = other.get_job("J1")
    assert job.state == "interrupted" and job.resume == "enrich run --resume J1"
    assert "ended before the job finished" in job.error
    store.close()
    other.close()


def test_a_claimed_job_cannot_be_claimed_twice_in_one_process(db):
    store = Store.open(db)
    store.create_job(Job(id="J1", todo=[1]))
    with pytest.raises(StoreError, match="running in another process"):
        store.claim_job("J1")
    store.release_job("J1")
    assert store.claim_job("J1").state == "running"
    store.release_job("J1")
    store.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from enrich.schemas import Job
    from enrich.store import Store
    store = Store.open(sys.argv[1])
    store.create_job(Job(id="J9", todo=[1]))
    print("holding", flush=True)
    time.sleep(60)
    """
)


def test_another_process_job_is_running_while_it_lives_and_interrupted_after_a_kill(db):
    Store.open(db).close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        store = Store.open(db)
        assert store.get_job("J9").state == "running"
        with pytest.raises(StoreError, match=r"running in another process \(pid \d+ on "):
            store.claim_job("J9")
        proc.kill()  # SIGKILL: no clean-up runs in the holder
        proc.wait(10)
        job = store.get_job("J9")
        assert job.state == "interrupted" and job.resume == "enrich run --resume J9"
        assert [j.state for j in store.jobs()] == ["interrupted"]
        assert store.claim_job("J9").state == "running"  # it can be taken over now
        store.release_job("J9")
        store.close()
    finally:
        proc.kill()


def test_finished_jobs_keep_their_state(db):
    store = Store.open(db)
    store.create_job(Job(id="J1", todo=[1]))
    store.update_job("J1", state="done")
    store.release_job("J1")
    assert store.get_job("J1").state == "done" and store.get_job("J1").resume is None
    store.close()


def test_job_errors_are_recorded_counted_and_listed(db):
    store = Store.open(db)
    with store.transaction():
        for rid in (1, 2, 3):
            store.insert_row("researchers", {"id": rid, "name": f"R{rid}", "created_at": "2026-01-01"})
    store.create_job(Job(id="J1", todo=[1, 2], state="done"))
    store.create_job(Job(id="J2", todo=[2], state="done"))
    for job_id, rid, step in (("J1", 1, "conflation"), ("J1", 2, "summary"), ("J2", 2, "topics")):
        store.record_job_error(
            JobError(job_id=job_id, researcher_id=rid, step=step, error_type="ValueError", message=f"bad {step}")
        )
    assert store.get_job("J1").errors == 2 and store.get_job("J2").errors == 1
    assert {j.id: j.errors for j in store.jobs()} == {"J1": 2, "J2": 1}
    assert [e.step for e in store.job_errors(job_id="J1")] == ["summary", "conflation"]  # newest first
    assert [e.job_id for e in store.job_errors(researcher_id=2)] == ["J2", "J1"]
    # the latest job that worked on researcher 2 is J2: its errors are the ones that still stand
    assert [e.step for e in store.latest_job_errors(2)] == ["topics"]
    assert [e.step for e in store.latest_job_errors(1)] == ["conflation"]
    assert store.latest_job_errors(3) == []
    store.close()


def test_an_in_memory_store_knows_its_own_jobs():
    store = Store.open(":memory:")
    store.create_job(Job(id="J1", todo=[]))
    assert store.get_job("J1").state == "running"
    store.release_job("J1")
    assert store.get_job("J1").state == "interrupted"
    store.close()
