"""The Step protocol as the loop sees it, and the one path that runs researchers serially or in workers."""

from __future__ import annotations

import threading
import time

from enrich.agent.loop import FIELD_STEPS, STEPS, run_in_workers
from enrich.agent.steps.base import CallEstimate
from enrich.agent.steps.topics import MAX_WORKS as MAX_TOPIC_WORKS
from enrich.schemas import Work


def test_every_step_names_itself_and_its_needs():
    assert list(STEPS) == ["conflation", "affiliation", "topics", "summary"]
    for name, step in STEPS.items():
        assert step.name == name
        assert all(list(STEPS).index(n) < list(STEPS).index(name) for n in step.needs)
    assert FIELD_STEPS == ("affiliation", "topics", "summary")
    assert STEPS["conflation"].answer is None and STEPS["conflation"].estimate([]) is None


def test_each_step_estimates_its_own_call():
    works = [Work(title="t" * 80, abstract="a" * 1000) for _ in range(60)]
    assert STEPS["affiliation"].estimate(works) == CallEstimate(375, 60)
    topics = STEPS["topics"].estimate(works)
    assert topics == CallEstimate((1200 + MAX_TOPIC_WORKS * 100) // 4, 160)  # at most MAX_WORKS are shown
    summary = STEPS["summary"].estimate(works)
    assert summary is not None and summary.tokens_out == 150 and summary.tokens_in > topics.tokens_in // 3
    assert STEPS["topics"].estimate([]) == CallEstimate(300, 160)


def test_serial_run_checks_before_each_item():
    seen: list[int] = []
    results = list(run_in_workers(lambda i: seen.append(i) or i, range(5), 1, lambda: len(seen) < 3))
    assert results == [0, 1, 2] and seen == [0, 1, 2]
    assert threading.current_thread() is threading.main_thread()


def test_workers_stop_starting_items_and_return_the_started_ones():
    lock = threading.Lock()
    running, most, started = [0], [0], []

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.append(i)
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i

    results = list(run_in_workers(work, range(40), 3, lambda: len(started) < 10))
    assert sorted(results) == sorted(started)  # every started item comes back
    assert 10 <= len(started) <= 12 and most[0] <= 3
    assert sorted(run_in_workers(work, range(20), 4, lambda: True)) == list(range(20))
