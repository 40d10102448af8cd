"""Where research runs in parallel: the executors (a local process pool or a Dask cluster) and
bounded submission, shared by the cointegration screen and the sweep.

Both submit a lazily built stream of tasks and keep only a bounded number in flight
(backpressure), so memory stays flat whatever the number of pairs or configs.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from shared.errors import PairsError

T = TypeVar("T")
R = TypeVar("R")


class SchedulerError(PairsError):
    """The distributed scheduler is unreachable or has no workers."""


def default_parallelism() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def open_executor(scheduler: str | None, workers: int | None) -> Iterator[tuple[Executor, int]]:
    """(executor, parallelism): a local process pool by default; ``"local"`` starts a Dask
    ``LocalCluster``; a ``tcp://host:port`` address joins a running Dask scheduler."""
    if scheduler is None:
        n = workers or default_parallelism()
        # spawn: workers start clean (no inherited threads or locks from the driver).
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool, n
        return
    from dask.distributed import Client, LocalCluster  # dask is heavy: import when asked

    if scheduler == "local":
        n = workers or default_parallelism()
        with (
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True) as cluster,
            Client(cluster) as client,
        ):
            yield client.get_executor(), n
        return
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as exc:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
            "`dask scheduler` and workers with `dask worker {scheduler}`, or omit --scheduler"
        ) from None
    with client:
        n = workers or sum(client.nthreads().values()) or 1
        yield client.get_executor(), n


def bounded(
    tasks: Iterator[T], submit: Callable[[T], Future[R]], max_in_flight: int
) -> Iterator[tuple[T, R]]:
    """(task, result) as tasks finish, with at most ``max_in_flight`` submitted at once; tasks
    are drawn from ``tasks`` only as room frees up."""
    in_flight: dict[Future[R], T] = {}
    exhausted = False
    while in_flight or not exhausted:
        while not exhausted and len(in_flight) < max_in_flight:
            try:
                task = next(tasks)
            except StopIteration:
                exhausted = True
            else:
                in_flight[submit(task)] = task
        if not in_flight:
            break
        finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in finished:
            yield in_flight.pop(future), future.result()
