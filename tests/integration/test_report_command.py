"""``pairs-daemon report --out DIR``: tracking.json's exact schema, a self-contained page, and
the page as a real browser renders it (Debian's headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from daemon.config.settings import RiskSettings
from tests.unit.daemon_helpers import make_closes, make_config, run_sessions, settings_for
from tests.unit.daemon_helpers import write_inputs as write_market

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
TERMS = {"slippage", "commission", "dividends", "unfilled", "residual"}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[date]]:
    """A paper account whose kill switch blocked its last trades (so paper and model differ
    and a trading_halted alert is open), reported by a real ``pairs-daemon report``."""
    tmp = tmp_path_factory.mktemp("report")
    closes = make_closes(120, seed=11)
    config = make_config(closes, commission=0.001)
    evidence = {"sharpe_daily": 0.08, "dsr": 0.41, "pbo": 0.22}
    evidence |= {"walkforward": {"oos_sharpe_daily": 0.05}}
    config = config.model_copy(
        update={"provenance": config.provenance.model_copy(update={"evidence": evidence})}
    )
    prices, cfg = write_market(tmp, closes, config)
    halt = tmp / "halt"
    settings = settings_for(tmp, prices, cfg, risk=RiskSettings(kill_switch_file=halt))
    sessions = list(closes.index[30:])
    run_sessions(settings, sessions[:60])
    halt.write_text("maintenance\n")
    run_sessions(settings, sessions[60:])
    out = tmp / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.commands.cli",
            "report",
            "--config",
            str(cfg),
            "--state-dir",
            str(tmp / "state"),
            "--prices",
            str(prices),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    )
    assert done.returncode == 0, done.stderr
    assert "report.html" in done.stdout
    return out, sessions


def test_tracking_json_has_exactly_the_documented_schema(
    report_dir: tuple[Path, list[date]],
) -> None:
    out, sessions = report_dir
    data = json.loads((out / "tracking.json").read_text())
    assert set(data) == {"sessions", "attribution"}
    assert [s["session"] for s in data["sessions"]] == [d.isoformat() for d in sessions]
    for row in data["sessions"]:
        assert set(row) == {"session", "paper_equity", "model_equity", "tracking_difference"}
        assert row["tracking_difference"] == pytest.approx(
            row["paper_equity"] - row["model_equity"], abs=1e-9
        )
    assert set(data["attribution"]) == TERMS
    last = data["sessions"][-1]["tracking_difference"]
    assert last != 0.0
    assert sum(data["attribution"].values()) == pytest.approx(last, abs=1e-9)


def test_the_page_is_self_contained(report_dir: tuple[Path, list[date]]) -> None:
    html = (report_dir[0] / "report.html").read_text()
    assert "<script" not in html
    # Nothing is fetched: no external URL in any src/href, no @import, no url(...).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    for kind in ("equity", "drawdown", "pair-pnl"):
        assert f'data-chart="{kind}"' in html
    assert 'id="sharpe-band"' in html and "walk-forward out-of-sample" in html


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium-headless-shell (apt-get install chromium-headless-shell; "
    ".ci/run installs it) to render the report in a real browser",
)
def test_a_real_browser_renders_the_charts_and_tables(
    report_dir: tuple[Path, list[date]], tmp_path: Path
) -> None:
    out = report_dir[0]
    page = (out / "report.html").resolve().as_uri()
    base = [str(CHROMIUM), "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    base += ["--user-data-dir=" + str(tmp_path / "profile"), "--window-size=1200,3000"]
    dom = subprocess.run(
        [*base, "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    # The DOM after parsing: three charts with their series drawn, and every table filled.
    assert dom.count("<svg") == 3
    assert len(re.findall(r'<polyline[^>]+data-series="paper"', dom)) == 2
    assert len(re.findall(r'<polyline[^>]+data-series="model"', dom)) == 2
    assert len(re.findall(r'<rect[^>]+data-series="paper"', dom)) == 2  # one bar per pair
    for table in ("attribution", "pairs", "evidence", "trades", "alerts"):
        assert f'<table id="{table}">' in dom
    trades = dom.split('<table id="trades">')[1].split("</table>")[0]
    assert trades.count("<tr>") > 4
    alerts = dom.split('<table id="alerts">')[1].split("</table>")[0]
    assert "trading_halted" in alerts and "open" in alerts
    shot = tmp_path / "report.png"
    subprocess.run([*base, f"--screenshot={shot}", page], capture_output=True, timeout=120)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1200, 3000)
    assert len(png) > 50_000  # a rendered page, not a blank canvas
