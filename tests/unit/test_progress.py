"""Progress of a sweep: a bar only on a terminal; elsewhere at most one line per tenth."""

from __future__ import annotations

import io

from tqdm import tqdm

from research.search.progress import LOG_STEPS, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar() -> None:
    stream = Terminal()
    with progress_bar(100, stream=stream) as bar:
        bar.update(100)
    assert isinstance(bar, tqdm) and "\r" in stream.getvalue()


def test_a_log_gets_one_line_per_tenth_however_many_updates() -> None:
    stream = io.StringIO()  # not a terminal: a file, a pipe, a service's journal
    with progress_bar(12_806_400, stream=stream) as bar:
        for _ in range(667):  # a sweep's tasks, about 19,200 backtests each
            bar.update(19_200)
    lines = stream.getvalue().splitlines()
    assert len(lines) == LOG_STEPS and "\r" not in stream.getvalue()
    assert lines[0].startswith("sweep: 10% (") and lines[-1].startswith(
        "sweep: 100% (12,806,400 of 12,806,400 bt"
    )
    assert all(line.endswith(" s)") for line in lines)


def test_no_progress_writes_nothing() -> None:
    stream = Terminal()
    with progress_bar(10, enabled=False, stream=stream) as bar:
        bar.update(10)
    assert stream.getvalue() == ""
