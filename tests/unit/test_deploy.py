"""``pairs-daemon deploy``: promotion gates, the plan, the request a session takes in (once,
even after a crash), withdrawal, rollback, and the errors an operator can make."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from daemon.commands.cli import main
from daemon.config.settings import PromotionSettings
from daemon.core.promotion import check_gates, gates_table
from daemon.cycle.roster_step import check_deployed, take_deploy_request
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.store.deploy_request import REQUEST_NAME, DeployRequest, read_request, write_request
from daemon.store.generations import generations
from shared.config import ProdConfig, dump_config
from shared.errors import StateError
from tests.unit.daemon_helpers import (
    make_closes,
    make_config,
    run_sessions,
    settings_for,
    write_inputs,
)

THRESHOLDS = PromotionSettings().model_dump()


def _with_evidence(config: ProdConfig, **evidence: Any) -> ProdConfig:
    provenance = config.provenance.model_copy(update={"evidence": evidence})
    return config.model_copy(update={"provenance": provenance})


def test_every_gate_passes_fails_or_is_not_measured() -> None:
    closes = make_closes(80)
    config = make_config(closes, selection_metrics={"total_trades": 12})
    good = _with_evidence(config, dsr=0.8, pbo=0.2, walkforward={"oos_sharpe_daily": 0.02})
    assert all(g.passed for g in check_gates(good, THRESHOLDS, 3))
    bad = _with_evidence(config, dsr=0.12, pbo=0.7, walkforward={"oos_sharpe_daily": -0.01})
    results = {g.gate: g for g in check_gates(bad, THRESHOLDS, 31)}
    assert [name for name, g in results.items() if not g.passed] == [
        "min_dsr", "max_pbo", "min_oos_sharpe", "max_data_age_sessions"
    ]  # fmt: skip
    assert results["min_trades"].passed and results["min_trades"].value == 12
    missing = {g.gate: g for g in check_gates(config, THRESHOLDS, None)}
    assert not any(g.passed for name, g in missing.items() if name != "min_trades")
    assert "pairs-research walkforward" in missing["min_oos_sharpe"].note
    table = gates_table(list(results.values()))
    assert "min_dsr" in table and "0.12" in table and "FAIL" in table and "pass" in table


def test_a_deployment_request_is_taken_in_once_even_if_its_file_survives_a_crash(
    tmp_path: Path,
) -> None:
    closes = make_closes(80)
    first, second = make_config(closes), make_config(closes, stake=40)
    prices, cfg = write_inputs(tmp_path, closes, first)
    settings = settings_for(tmp_path, prices, cfg)
    run_sessions(settings, list(closes.index[30:32]))
    request = DeployRequest("r1", dump_config(second), "candidate.json", "now", "close")
    write_request(settings.state_dir, request)
    assert read_request(settings.state_dir) == request
    store = Store.open(settings.state_dir)
    log = make_logger("json", io.StringIO())
    try:
        take_deploy_request(store, log)
        assert not (settings.state_dir / REQUEST_NAME).exists()
        write_request(settings.state_dir, request)  # the file's removal was lost in a crash
        take_deploy_request(store, log)
        rows = generations(store)
        assert [(g.generation, g.config_id, g.pending, g.rule) for g in rows] == [
            (1, first.config_id, False, "drain"),
            (2, second.config_id, True, "close"),
        ]
        # A withdrawal removes the pending generation.
        write_request(
            settings.state_dir,
            DeployRequest("r2", dump_config(first), "withdrawal", "", "drain", withdraw=True),
        )
        take_deploy_request(store, log)
        assert [g.generation for g in generations(store)] == [1]
    finally:
        store.close()


def _cli(settings_path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--settings", str(settings_path), *args])
    return code, out.getvalue()


def _settings_file(tmp: Path, prices: Path, cfg: Path, extra: str = "") -> Path:
    path = tmp / "daemon.toml"
    path.write_text(
        f'config = "{cfg}"\nstate_dir = "{tmp / "state"}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{prices}"\ncalendar_check = false\n{extra}',
        encoding="utf-8",
    )
    return path


def test_deploy_plans_refuses_forces_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closes = make_closes(90)
    first = make_config(closes)
    prices, cfg = write_inputs(tmp_path, closes, first)
    loose = "[promotion]\nmin_dsr = 0\nmax_pbo = 1\nmin_oos_sharpe = -1\nmin_trades = 0\n"
    settings_path = _settings_file(tmp_path, prices, cfg, loose)
    # No state yet: nothing to hand over.
    code, _ = _cli(settings_path, "deploy", str(cfg))
    assert code == 2 and "nothing to hand over" in capsys.readouterr().err
    settings = settings_for(tmp_path, prices, cfg)
    run_sessions(
        settings.model_copy(update={"state_dir": tmp_path / "state"}), list(closes.index[40:43])
    )
    candidate = make_config(
        closes.loc[closes.index[10] :],
        pairs=[
            {"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 1.4},
            {"asset_1": "CCC", "asset_2": "DDD", "hedge_ratio": 0.95},
        ],
        provenance={"evidence": {"dsr": 0.9, "pbo": 0.1}},
        selection_metrics={"total_trades": 5},
    )
    path = tmp_path / "candidate.json"
    path.write_text(dump_config(candidate), encoding="utf-8")
    # The walk-forward's figure is missing: min_oos_sharpe fails even at -1.
    code, text = _cli(settings_path, "deploy", str(path), "--json")
    report = json.loads(text)
    assert code == 2 and not report["deployed"]
    assert [g["gate"] for g in report["gates"] if not g["passed"]] == ["min_oos_sharpe"]
    # The plan compares legs, hedge ratio and parameters (not the first session).
    assert [(r["action"], r["pair"]) for r in report["plan"]] == [
        ("keep", "AAA/BBB"),
        ("change", "CCC/DDD"),
    ]
    code, text = _cli(settings_path, "deploy", str(path), "--force")
    assert code == 0 and "forced past a failed gate" in text
    assert (tmp_path / "state" / REQUEST_NAME).exists()
    code, text = _cli(settings_path, "status", "--json")
    rows = json.loads(text)["generations"]
    assert rows[-1]["status"] == "requested" and rows[-1]["config_id"] == candidate.config_id
    # Rolling back before it applied withdraws it.
    code, text = _cli(settings_path, "deploy", "--rollback")
    assert code == 0 and "withdrawn" in text
    code, text = _cli(settings_path, "deploy", "--rollback")
    assert code == 2
    assert "nothing to roll back to" in capsys.readouterr().err


def test_deploy_needs_a_path_or_rollback_and_a_config_never_deployed_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closes = make_closes(80)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    settings_path = _settings_file(tmp_path, prices, cfg)
    assert main(["--settings", str(settings_path), "deploy"]) == 2
    assert main(["--settings", str(settings_path), "deploy", str(cfg), "--rollback"]) == 2
    assert "not both" in capsys.readouterr().err
    settings = settings_for(tmp_path, prices, cfg).model_copy(
        update={"state_dir": tmp_path / "state"}
    )
    run_sessions(settings, list(closes.index[40:41]))
    other = make_config(closes, stake=10)
    cfg.write_text(dump_config(other), encoding="utf-8")
    (result,) = run_sessions(settings, list(closes.index[41:42]))
    assert result.status == "failed" and f"pairs-daemon deploy {cfg}" in result.message
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        with pytest.raises(StateError, match="not a config this state directory trades"):
            check_deployed(store, other, cfg)
    finally:
        store.close()
