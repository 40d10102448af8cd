"""The systemd unit: `systemd-analyze verify` accepts it without a single warning, alone and
with the credentials drop-in, and it keeps the hardening the design asks for."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT_DIR = ROOT / "systemd"
UNIT = UNIT_DIR / "pairs-daemon.service"
DROP_IN = UNIT_DIR / "pairs-daemon.credentials.conf"
INSTALLED_EXEC = "/opt/pairs-daemon/.venv/bin/pairs-daemon"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def directives(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> values in order (systemd allows repeated keys)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def installable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (verify checks it)."""
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_EXEC in text, "the unit's ExecStart moved; update INSTALLED_EXEC"
    target = tmp_path / UNIT.name
    target.write_text(text.replace(INSTALLED_EXEC, sys.executable), encoding="utf-8")
    return target


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_analyze
def test_systemd_analyze_verify_reports_nothing(tmp_path: Path) -> None:
    result = verify(installable_copy(tmp_path))
    # verify exits 0 on unknown keys and bad values, so any output at all is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_analyze
def test_systemd_analyze_verify_accepts_the_credentials_drop_in(tmp_path: Path) -> None:
    unit = installable_copy(tmp_path)
    drop_in_dir = tmp_path / f"{UNIT.name}.d"
    drop_in_dir.mkdir()
    shutil.copy(DROP_IN, drop_in_dir / "credentials.conf")
    result = verify(unit)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_analyze
def test_the_verify_check_does_catch_a_typo(tmp_path: Path) -> None:
    # Guards the test above: a misspelt directive must produce output.
    unit = installable_copy(tmp_path)
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    result = verify(unit)
    assert "Unknown key" in result.stderr


def test_the_unit_is_a_notify_service_with_a_watchdog_and_restart() -> None:
    unit = directives(UNIT.read_text(encoding="utf-8"))
    assert unit["Service.Type"] == ["notify"]
    assert unit["Service.NotifyAccess"] == ["main"]
    assert unit["Service.Restart"] == ["on-failure"]
    assert re.fullmatch(r"\d+(s|min)", unit["Service.WatchdogSec"][0])
    assert unit["Service.StateDirectory"] == ["pairs-daemon"]
    assert unit["Service.ExecStart"][0].endswith(" run")


def test_the_unit_keeps_its_sandbox() -> None:
    unit = directives(UNIT.read_text(encoding="utf-8"))
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet": "",
        "DynamicUser": "yes",
        "UMask": "0077",
    }
    assert {key: unit[f"Service.{key}"][0] for key in expected} == expected
    assert "@system-service" in unit["Service.SystemCallFilter"]
    # The JIT needs writable+executable memory; the reason is documented in the unit.
    assert "Service.MemoryDenyWriteExecute" not in unit
    assert "MemoryDenyWriteExecute= is deliberately NOT set" in UNIT.read_text(encoding="utf-8")


def test_the_env_template_holds_no_real_secret() -> None:
    template = directives((UNIT_DIR / "pairs-daemon.env.example").read_text(encoding="utf-8"))
    assert template[".APCA_API_KEY_ID"] == [""]
    assert template[".APCA_API_SECRET_KEY"] == [""]


def test_exec_start_is_a_valid_pairs_daemon_run_command() -> None:
    from daemon.commands.cli import build_parser

    exec_start = directives(UNIT.read_text(encoding="utf-8"))["Service.ExecStart"][0].split()
    assert exec_start[0] == INSTALLED_EXEC
    args = build_parser().parse_args(exec_start[1:])
    assert args.command == "run"
    assert str(args.settings) == "/etc/pairs-daemon/daemon.toml"
