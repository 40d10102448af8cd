"""Pure parts of the Alpaca adapters: credentials, endpoints, status folding, quantities,
error classification and the backoff schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from structlog.testing import capture_logs

from daemon.adapters.alpaca.clients import (
    LIVE_TRADING_URL,
    PAPER_TRADING_URL,
    load_credentials,
)
from daemon.adapters.alpaca.errors import Kind, classify
from daemon.adapters.alpaca.factory import build_alpaca_broker, trading_endpoint
from daemon.adapters.alpaca.models import fold_status, whole_shares
from daemon.adapters.alpaca.retry import RetryPolicy
from daemon.config.settings import AlpacaSettings, parse_settings
from daemon.core.ports import OrderStatus
from shared.errors import BrokerError, ConfigError

KEYS = {"APCA_API_KEY_ID": "PKUNIT00000000000001", "APCA_API_SECRET_KEY": "unit-secret-abcdef"}


def test_credentials_come_from_alpaca_variables() -> None:
    creds = load_credentials(KEYS)
    assert (creds.key_id, creds.secret_key) == ("PKUNIT00000000000001", "unit-secret-abcdef")


def test_systemd_credential_files_win_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "APCA_API_SECRET_KEY").write_text("from-credential-file\n")
    creds = load_credentials({**KEYS, "CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert creds.secret_key == "from-credential-file"
    assert creds.key_id == KEYS["APCA_API_KEY_ID"]  # no file: falls back to the variable


def test_missing_secret_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="APCA_API_SECRET_KEY") as info:
        load_credentials({"APCA_API_KEY_ID": "PKONLY"})
    assert info.value.key == "APCA_API_SECRET_KEY"


def test_credentials_repr_hides_the_secret_and_most_of_the_key() -> None:
    creds = load_credentials(KEYS)
    for text in (repr(creds), str(creds), f"{creds}"):
        assert "unit-secret-abcdef" not in text
        assert "PKUNIT00000000000001" not in text
        assert "0001" in text


def test_trading_url_setting_set_explicitly_beats_environment() -> None:
    env = {**KEYS, "APCA_API_BASE_URL": "http://127.0.0.1:9/v2"}
    assert trading_endpoint(env, AlpacaSettings()) == "http://127.0.0.1:9"
    explicit = AlpacaSettings(trading_url="http://127.0.0.1:10")
    assert trading_endpoint(env, explicit) == "http://127.0.0.1:10"
    assert trading_endpoint(KEYS, AlpacaSettings()) == PAPER_TRADING_URL


def test_live_endpoint_with_paper_settings_is_refused() -> None:
    env = {**KEYS, "APCA_API_BASE_URL": LIVE_TRADING_URL}
    with pytest.raises(ConfigError, match="live endpoint") as info:
        build_alpaca_broker(env, AlpacaSettings())
    assert info.value.key == "alpaca.trading_url"


def test_live_trading_defaults_to_live_url_only_when_opted_in() -> None:
    live = AlpacaSettings(paper=False, allow_live=True)
    assert trading_endpoint(KEYS, live) == LIVE_TRADING_URL
    with pytest.raises(ConfigError, match="allow_live"):
        build_alpaca_broker(KEYS, AlpacaSettings.model_construct(paper=False, allow_live=False))


def test_live_trading_is_logged_loudly() -> None:
    with capture_logs() as logs:
        build_alpaca_broker(KEYS, AlpacaSettings(paper=False, allow_live=True))
    assert [e["log_level"] for e in logs if e["event"] == "alpaca_live_trading"] == ["warning"]


def test_non_http_url_is_refused_with_the_variable_name() -> None:
    with pytest.raises(ConfigError, match="APCA_API_BASE_URL"):
        trading_endpoint(
            {**KEYS, "APCA_API_BASE_URL": "paper-api.alpaca.markets"}, AlpacaSettings()
        )


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        (AlpacaStatus.ACCEPTED, 0, OrderStatus.NEW),
        (AlpacaStatus.PENDING_NEW, 0, OrderStatus.NEW),
        (AlpacaStatus.NEW, 0, OrderStatus.NEW),
        (AlpacaStatus.PARTIALLY_FILLED, 3, OrderStatus.PARTIALLY_FILLED),
        (AlpacaStatus.DONE_FOR_DAY, 3, OrderStatus.PARTIALLY_FILLED),
        (AlpacaStatus.PENDING_CANCEL, 0, OrderStatus.NEW),
        (AlpacaStatus.FILLED, 10, OrderStatus.FILLED),
        (AlpacaStatus.CANCELED, 4, OrderStatus.CANCELED),
        (AlpacaStatus.REPLACED, 0, OrderStatus.CANCELED),
        (AlpacaStatus.EXPIRED, 0, OrderStatus.EXPIRED),
        (AlpacaStatus.REJECTED, 0, OrderStatus.REJECTED),
    ],
)
def test_alpaca_statuses_fold_to_the_daemons(
    status: AlpacaStatus, filled: int, expected: OrderStatus
) -> None:
    assert fold_status(status, filled) is expected


def test_whole_shares_accepts_decimal_strings_and_refuses_fractions() -> None:
    assert whole_shares("12", "x") == 12
    assert whole_shares("-7.000", "x") == -7
    with pytest.raises(BrokerError, match=r"fractional quantity 1\.5 for the AAA position"):
        whole_shares("1.5", "the AAA position")


def _api_error(status: int, text: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError(text, requests.HTTPError(response=response))


@pytest.mark.parametrize(
    ("status", "text", "kind"),
    [
        (429, '{"message": "too many requests."}', Kind.RATE_LIMITED),
        (503, "<html>bad gateway</html>", Kind.SERVER),
        (401, '{"code": 40110000, "message": "request is not authorized"}', Kind.AUTH),
        (403, '{"code": 40310000, "message": "insufficient buying power"}', Kind.FORBIDDEN),
        (404, '{"code": 40410000, "message": "order not found"}', Kind.NOT_FOUND),
        (422, '{"code": 40010001, "message": "client_order_id must be unique"}', Kind.DUPLICATE),
        (422, '{"code": 42210000, "message": "asset cannot be sold short"}', Kind.CLIENT),
    ],
)
def test_http_failures_are_classified_by_status_and_code(
    status: int, text: str, kind: Kind
) -> None:
    failure = classify(_api_error(status, text))
    assert failure is not None
    assert failure.kind is kind
    assert failure.status == status


def test_transport_failures_are_transient_and_other_exceptions_are_not_failures() -> None:
    for exc in (requests.ReadTimeout(), requests.ConnectionError()):
        failure = classify(exc)
        assert failure is not None and failure.transient
    assert classify(ValueError("a bug")) is None


def test_non_json_error_body_is_cut_to_one_short_line() -> None:
    failure = classify(_api_error(502, "<html>\n" + "x" * 500 + "\n</html>"))
    assert failure is not None
    assert "\n" not in failure.message and len(failure.message) <= 200


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_url_precedence_holds_for_settings_read_from_toml() -> None:
    env = {**KEYS, "APCA_API_BASE_URL": "http://127.0.0.1:1"}
    feed = '[data]\nfeed = "alpaca"\n'
    quiet = parse_settings(feed + "[alpaca]\ntimeout_s = 5\n", "daemon.toml", Path("."))
    assert trading_endpoint(env, quiet.alpaca) == "http://127.0.0.1:1"
    url = '[alpaca]\ntrading_url = "http://127.0.0.1:2"\n'
    loud = parse_settings(feed + url, "daemon.toml", Path("."))
    assert trading_endpoint(env, loud.alpaca) == "http://127.0.0.1:2"
