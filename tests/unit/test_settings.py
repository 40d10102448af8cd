"""Settings: the TOML model, its errors (file + key), secrets refused, paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import EMBEDDED_SOURCE, load_settings, parse_settings
from daemon.core.ports import TimeInForce
from shared.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_default_is_a_local_broker_on_a_csv_feed(tmp_path: Path) -> None:
    settings = load_settings(None, base_dir=tmp_path)
    assert settings.source == EMBEDDED_SOURCE
    assert settings.broker.kind == "local"
    assert settings.data.feed == "csv"
    assert settings.data.csv_path == tmp_path / "adj_close_wide.csv"
    assert settings.broker.time_in_force is TimeInForce.CLS
    assert not settings.data.check_calendar  # CSV dates are the sessions


def test_documented_example_loads_and_resolves_paths_against_its_directory() -> None:
    settings = load_settings(REPO / "configs" / "daemon.toml")
    assert settings.config == REPO / "configs" / ".." / "kalman_prod_config.json"
    assert settings.alpaca.feed == "sip" and settings.alpaca.paper
    assert settings.alpaca.sip_delay_minutes == 15
    assert settings.schedule.timezone == "America/New_York"


def test_unknown_key_error_names_the_file_and_the_dotted_key(tmp_path: Path) -> None:
    path = _write(tmp_path, '[data]\nfeed = "csv"\ncsv_path = "p.csv"\ncsv_pth = "x"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and "data.csv_pth" in str(err.value)


def test_bad_value_error_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, '[broker]\ntime_in_force = "gtc"\n[data]\ncsv_path = "p.csv"\n')
    with pytest.raises(ConfigError, match=r"broker\.time_in_force"):
        load_settings(path)


def test_secret_in_the_settings_file_is_refused_and_not_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, '[alpaca]\napi_secret_key = "hunter2"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "alpaca.api_secret_key" in str(err.value)
    assert "hunter2" not in str(err.value)
    assert "environment" in str(err.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "config = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_settings(path)
    assert str(path) in str(err.value)


def test_missing_settings_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--settings"):
        load_settings(tmp_path / "absent.toml")


def test_live_alpaca_needs_explicit_consent(tmp_path: Path) -> None:
    text = '[data]\ncsv_path = "p.csv"\n[alpaca]\npaper = false\n'
    with pytest.raises(ConfigError, match="allow_live"):
        parse_settings(text, "t.toml", tmp_path)
    ok = parse_settings(text + "allow_live = true\n", "t.toml", tmp_path)
    assert not ok.alpaca.paper


def test_csv_feed_needs_a_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="csv_path"):
        parse_settings('[data]\nfeed = "csv"\n', "t.toml", tmp_path)


def test_real_feeds_check_the_calendar_by_default(tmp_path: Path) -> None:
    settings = parse_settings('[data]\nfeed = "yfinance"\n', "t.toml", tmp_path)
    assert settings.data.check_calendar


def test_kill_switch_file_engages_when_it_exists(tmp_path: Path) -> None:
    settings = parse_settings(
        '[data]\ncsv_path = "p.csv"\n[risk]\nkill_switch_file = "halt"\n', "t.toml", tmp_path
    )
    assert settings.kill_switch_engaged() is None
    (tmp_path / "halt").touch()
    assert "halt" in (settings.kill_switch_engaged() or "")


def test_negative_risk_limit_is_refused(tmp_path: Path) -> None:
    text = '[data]\ncsv_path = "p.csv"\n[risk]\nmax_order_notional = -5\n'
    with pytest.raises(ConfigError, match=r"risk\.max_order_notional"):
        parse_settings(text, "t.toml", tmp_path)
