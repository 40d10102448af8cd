"""Every feed and broker the settings accept has a builder in the registry, and no more."""

from __future__ import annotations

from daemon.adapters.registry import BROKERS, FEEDS, declared_names


def test_the_registry_builds_exactly_the_names_the_settings_accept() -> None:
    feeds, brokers = declared_names()
    assert sorted(FEEDS) == sorted(feeds)
    assert sorted(BROKERS) == sorted(brokers)
