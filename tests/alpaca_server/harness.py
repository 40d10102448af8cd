"""Test wiring: a running server plus the adapters built the way the daemon builds them
(``build_alpaca_broker``/``build_alpaca_bars`` from an environment), with a retry policy whose
sleep only records how long it would have slept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from daemon.adapters.alpaca.bars import AlpacaBars
from daemon.adapters.alpaca.broker import AlpacaBroker
from daemon.adapters.alpaca.factory import build_alpaca_bars, build_alpaca_broker
from daemon.adapters.alpaca.retry import RetryPolicy
from daemon.config.settings import AlpacaSettings
from tests.alpaca_server.server import AlpacaServer
from tests.alpaca_server.state import AccountBook

# Short enough that a timeout fault costs a fraction of a second, long enough for a loaded CI
# machine to answer a normal request.
TEST_TIMEOUT_S = 1.0
SLOW_ANSWER_S = 1.5


@dataclass
class Harness:
    server: AlpacaServer
    timeout_s: float = TEST_TIMEOUT_S
    sleeps: list[float] = field(default_factory=list)

    @property
    def book(self) -> AccountBook:
        return self.server.book

    @property
    def env(self) -> dict[str, str]:
        return {
            "APCA_API_KEY_ID": self.book.key_id,
            "APCA_API_SECRET_KEY": self.book.secret_key,
            "APCA_API_BASE_URL": self.server.url,
            "APCA_API_DATA_URL": self.server.url,
        }

    @property
    def settings(self) -> AlpacaSettings:
        return AlpacaSettings(timeout_s=self.timeout_s)

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(attempts=4, base_delay_s=0.5, max_delay_s=8.0, sleep=self.sleeps.append)

    def broker(self, *, preflight: bool = True, logger: Any = None) -> AlpacaBroker:
        broker = build_alpaca_broker(
            self.env, self.settings, retry=self.retry, preflight=preflight, logger=logger
        )
        assert isinstance(broker, AlpacaBroker)
        return broker

    def bars(self, feed: str = "iex") -> AlpacaBars:
        settings = self.settings.model_copy(update={"feed": feed})
        bars = build_alpaca_bars(self.env, settings, retry=self.retry)
        assert isinstance(bars, AlpacaBars)
        return bars


@contextmanager
def running_harness(
    book: AccountBook | None = None, *, bars_page_size: int = 1000, actions_page_size: int = 1000
) -> Iterator[Harness]:
    with AlpacaServer(
        book, bars_page_size=bars_page_size, actions_page_size=actions_page_size
    ) as server:
        yield Harness(server)
