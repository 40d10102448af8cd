"""Bounded submission: every task runs once, never more than the bound are in flight, and tasks
are drawn from the stream only as room frees up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from research.parallel import bounded, default_parallelism, open_executor


def test_bounded_yields_every_task_once_and_never_exceeds_the_bound() -> None:
    lock = threading.Lock()
    in_flight, peak = 0, 0
    drawn: list[int] = []

    def work(x: int) -> int:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        with lock:
            in_flight -= 1
        return x * x

    def tasks() -> Iterator[int]:
        for x in range(50):
            drawn.append(x)
            yield x

    with ThreadPoolExecutor(8) as executor:

        def submit(x: int) -> Future[int]:
            return executor.submit(work, x)

        stream = bounded(tasks(), submit, max_in_flight=3)
        first = next(stream)
        assert len(drawn) == 3  # lazily drawn: only the bound, not the whole stream
        results = dict([first, *stream])

    assert results == {x: x * x for x in range(50)}
    assert peak <= 3


def test_bounded_over_no_tasks_yields_nothing() -> None:
    def submit(x: int) -> Future[int]:
        raise AssertionError("nothing to submit")

    assert list(bounded(iter([]), submit, max_in_flight=2)) == []


def test_bounded_reraises_a_task_error() -> None:
    def fail(x: int) -> int:
        raise ValueError(f"task {x} failed")

    with ThreadPoolExecutor(2) as executor, pytest.raises(ValueError, match="task 0 failed"):
        list(bounded(iter([0]), lambda x: executor.submit(fail, x), max_in_flight=2))


def test_local_process_pool_runs_tasks_with_the_requested_parallelism() -> None:
    with open_executor(None, 1) as (executor, parallelism):
        assert parallelism == 1
        assert executor.submit(abs, -3).result() == 3
    assert default_parallelism() >= 1
