"""Progress of a long search: a bar on a terminal, a few plain lines in a log.

A tqdm bar redraws itself in place with carriage returns; written to a file (a service's log,
``2> sweep.log``, CI) every refresh becomes text, hundreds of them per sweep. Off a terminal the
progress is a line at each tenth of the work instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from tqdm import tqdm

LOG_STEPS = 10  # lines per run off a terminal


class Progress(Protocol):
    def update(self, n: int) -> object: ...


class _Silent:
    def update(self, n: int) -> object:
        return None


class LogProgress:
    """One line per tenth of ``total``: "sweep: 40% (5,122,560 of 12,806,400 bt, 8.1 s)"."""

    def __init__(self, total: int, stream: TextIO, label: str = "sweep", unit: str = "bt") -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.label = label
        self.unit = unit
        self._started = time.perf_counter()
        self._next_step = 1

    def update(self, n: int) -> object:
        self.done += n
        if self.total <= 0:
            return None
        step = self.done * LOG_STEPS // self.total
        if step >= self._next_step:
            self._next_step = step + 1
            elapsed = time.perf_counter() - self._started
            print(
                f"{self.label}: {100 * self.done // self.total}% ({self.done:,} of "
                f"{self.total:,} {self.unit}, {elapsed:.1f} s)",
                file=self.stream,
                flush=True,
            )
        return None


@contextmanager
def progress_bar(
    total: int, enabled: bool = True, stream: TextIO | None = None, unit: str = "bt"
) -> Iterator[Progress]:
    """A tqdm bar when ``stream`` (stderr) is a terminal, else :class:`LogProgress`; nothing
    when not ``enabled``."""
    out = stream if stream is not None else sys.stderr
    if not enabled:
        yield _Silent()
    elif out.isatty():
        with tqdm(total=total, unit=unit, unit_scale=True, file=out) as bar:
            yield bar
    else:
        yield LogProgress(total, out, unit=unit)
