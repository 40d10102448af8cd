"""Secrets are masked by value wherever they appear; URLs with credentials are refused."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.adapters.alpaca.clients import endpoint, load_credentials, register_env_secrets
from daemon.config.settings import AlpacaSettings, parse_settings
from daemon.infra.logging import make_logger
from daemon.infra.redaction import MASK, forget_secrets, redact_text, redact_tree, register_secrets
from shared.errors import ConfigError

KEY = "PKVALUE9Z8Y7X6W5V4U3"
SECRET = "vAlUe-SeCrEt-1234567890abcdefXYZ"


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def test_registered_values_are_masked_whatever_surrounds_them() -> None:
    register_secrets([KEY, SECRET])
    for text in (
        f"forbidden for {KEY}/{SECRET}",
        f'{{"message":"bad key{KEY}{SECRET}x"}}',
        f"<html>{SECRET}</html>",
        f"{SECRET}{SECRET}",
    ):
        masked = redact_text(text)
        assert KEY not in masked and SECRET not in masked and MASK in masked


def test_blank_and_short_values_are_not_registered() -> None:
    register_secrets(["", None, "abc", "  "])
    assert redact_text("abc def") == "abc def"


def test_nested_data_is_masked_for_json_output() -> None:
    register_secrets([SECRET])
    tree = {"last_error": {"message": f"x {SECRET} y"}, "list": [SECRET, 3]}
    assert json.dumps(redact_tree(tree)).count(MASK) == 2
    assert SECRET not in json.dumps(redact_tree(tree))


def test_log_lines_mask_registered_values_in_fields_exceptions_and_reprs() -> None:
    register_secrets([KEY, SECRET])

    class Leaky:
        def __repr__(self) -> str:
            return f"Leaky({SECRET})"

    stream = io.StringIO()
    log = make_logger("json", stream)
    log.error("session_failed", error=f"Alpaca said: request {KEY}/{SECRET}", obj=Leaky())
    try:
        raise RuntimeError(f"body echoed {SECRET}")
    except RuntimeError:
        log.exception("session_failed")
    text = stream.getvalue()
    assert KEY not in text and SECRET not in text
    assert text.count(MASK) >= 3


def test_loading_credentials_registers_them(tmp_path: Path) -> None:
    load_credentials({"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET})
    assert redact_text(f"{KEY} {SECRET}") == f"{MASK} {MASK}"


def test_env_secrets_register_from_systemd_credential_files_without_requiring_them(
    tmp_path: Path,
) -> None:
    register_env_secrets({})  # no keys at all: nothing to do, no error
    (tmp_path / "APCA_API_SECRET_KEY").write_text(SECRET + "\n", encoding="utf-8")
    register_env_secrets({"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert redact_text(SECRET) == MASK


@pytest.mark.parametrize(
    "url", ["https://user:pw@paper-api.alpaca.markets", "https://token@data.alpaca.markets"]
)
def test_settings_refuse_urls_with_userinfo_without_repeating_them(url: str) -> None:
    with pytest.raises(ValueError, match="must not carry credentials"):
        AlpacaSettings(trading_url=url)
    text = f'[alpaca]\ndata_url = "{url}"\n'
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "daemon.toml", Path("."))
    message = str(info.value)
    assert "alpaca.data_url" in message and "must not carry credentials" in message
    assert url not in message and url.split("@")[0].removeprefix("https://") not in message


def test_an_environment_url_with_userinfo_is_refused_without_repeating_it() -> None:
    env = {"APCA_API_BASE_URL": "https://me:hunter22@paper-api.alpaca.markets"}
    with pytest.raises(ConfigError, match="carries credentials") as info:
        endpoint(None, "APCA_API_BASE_URL", "https://paper-api.alpaca.markets", env)
    assert "hunter22" not in str(info.value)
