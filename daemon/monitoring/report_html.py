"""``report.html``: one static page, self-contained (inline CSS and SVG, no script, no network),
so it opens from disk, from a mail attachment or behind an air gap."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from daemon.monitoring.alerts import Severity
from daemon.monitoring.attribution import TERMS
from daemon.monitoring.health import rounded
from daemon.monitoring.report_data import ReportData, drawdowns, iso
from daemon.monitoring.svg import Series, bar_chart, line_chart

PAPER, MODEL = "#1f6feb", "#d9480f"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6475;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px 14px}
.card b{display:block;font-size:20px;margin-top:2px}.card>span,.card small{color:#5b6475;font-size:12px}
.charts{display:grid;grid-template-columns:1fr;gap:12px}
.chart{background:#fff;border:1px solid #dde1e7;border-radius:8px;width:100%;height:auto}
.chart-title{font-size:14px;font-weight:600;fill:#1d2330}
.tick{font-size:11px;fill:#5b6475}.legend{font-size:12px;fill:#1d2330}
.grid{stroke:#e6e9ee;stroke-width:1}.zero{stroke:#8a93a3;stroke-width:1}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e7;
font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{background:#eef1f5;font-weight:600}td.l,th.l{text-align:left}
.neg{color:#b42318}.pos{color:#067647}.ok{color:#067647;font-weight:600}
.bad{color:#b42318;font-weight:600}.muted{color:#5b6475}
.scroll{max-height:420px;overflow:auto;border-radius:8px}
#alerts td:last-child,#health td:last-child{white-space:normal;min-width:320px}
"""


def _money(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return escape(str(v))


def _signed(v: float) -> str:
    v = round(v, 2) + 0.0  # no "-0.00"
    cls = "neg" if v < 0 else ("pos" if v > 0 else "")
    return f'<span class="{cls}">{v:+,.2f}</span>'


def _table(table_id: str, head: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    ths = "".join(
        f'<th class="l">{escape(h)}</th>' if i < left else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    if not body:
        body = f'<tr><td class="l muted" colspan="{len(head)}">none</td></tr>'
    return f'<div class="scroll"><table id="{table_id}"><tr>{ths}</tr>{body}</table></div>'


def _cards(data: ReportData) -> str:
    last = data.tracking[-1] if data.tracking else None
    band = data.band
    verdict = {True: '<b class="ok">inside</b>', False: '<b class="bad">outside</b>'}.get(
        band.inside,  # type: ignore[arg-type]
        "<b>n/a</b>",
    )
    items = [
        ("paper equity", f"<b>{_money(last.paper_equity if last else None)}</b>"),
        ("model equity", f"<b>{_money(last.model_equity if last else None)}</b>"),
        (
            "tracking difference",
            f"<b>{_signed(last.difference) if last else 'n/a'}</b>"
            + (f"<small>{last.difference_bps:+.1f} bps of model equity</small>" if last else ""),
        ),
        (
            "realized Sharpe vs backtest band",
            verdict
            + (
                f"<small>{_num(band.realized)} vs [{band.low:.4f}, {band.high:.4f}]</small>"
                if band.low is not None and band.high is not None
                else ""
            ),
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><span>{escape(k)}</span>{v}</div>' for k, v in items)
        + "</div>"
    )


def _charts(data: ReportData) -> str:
    labels = [r.session.isoformat() for r in data.tracking]
    paper = [r.paper_equity for r in data.tracking]
    model = [r.model_equity for r in data.tracking]
    cash = data.config.initial_cash
    markers = [(d, f"generation {n}") for d, n, _ in data.handovers]
    equity = line_chart(
        "equity",
        "Equity: paper account vs model",
        labels,
        [Series("paper", PAPER, paper), Series("model", MODEL, model, dashed=True)],
        markers=markers,
    )
    drawdown = line_chart(
        "drawdown",
        "Drawdown from the running peak",
        labels,
        [
            Series("paper", PAPER, [-d for d in drawdowns(cash, paper)]),
            Series("model", MODEL, [-d for d in drawdowns(cash, model)], dashed=True),
        ],
        unit="%",
        markers=markers,
    )
    pairs = bar_chart(
        "pair-pnl",
        "P&L per pair (realized + open)",
        [p.pair for p in data.pairs],
        [
            Series("paper", PAPER, [p.paper for p in data.pairs]),
            Series("model", MODEL, [p.model for p in data.pairs]),
        ],
    )
    return f'<div class="charts">{equity}{drawdown}{pairs}</div>'


def _attribution(data: ReportData) -> str:
    last = data.tracking[-1] if data.tracking else None
    rows = []
    if last is not None:
        rows = [[escape(t), _signed(last.attribution[t])] for t in TERMS]
        rows.append(["<b>tracking difference</b>", f"<b>{_signed(last.difference)}</b>"])
    return _table("attribution", ["term", "dollars (paper - model)"], rows)


def _pairs_table(data: ReportData) -> str:
    rows = [
        [escape(p.pair), _signed(p.paper), _signed(p.model), _signed(p.paper - p.model)]
        for p in data.pairs
    ]
    return _table("pairs", ["pair", "paper P&L", "model P&L", "difference"], rows)


def _trades(data: ReportData) -> str:
    head = [
        "decision session",
        "fill session",
        "symbol",
        "intended",
        "filled (paper)",
        "filled (model)",
        "model price",
        "fill price",
        "slippage $",
    ]
    rows = [
        [
            iso(t.decision_session),
            iso(t.fill_session),
            escape(t.symbol),
            f"{t.intended:+d}",
            f"{t.paper_filled:+d}",
            f"{t.model_filled:+d}",
            _num(t.model_price),
            _num(t.paper_price),
            _signed(t.slippage),
        ]
        for t in data.trades
    ]
    return _table("trades", head, rows, left=3)


def _alerts(data: ReportData) -> str:
    rows = [
        [
            escape(a.raised_at[:19]),
            escape(a.code),
            f'<span class="{"bad" if a.severity == Severity.CRITICAL else ""}">{escape(a.severity)}</span>',
            iso(a.session),
            "open" if a.resolved_at is None else f"resolved {escape(a.resolved_at[:19])}",
            escape(a.message),
        ]
        for a in reversed(data.alerts)
    ]
    return _table("alerts", ["raised", "code", "severity", "session", "state", "message"], rows, 6)


def _actions(data: ReportData) -> str:
    if not data.actions:
        return '<p id="corporate-actions">No splits or dividends of the traded symbols known.</p>'
    rows = [
        [
            escape(a.event),
            escape(a.source),
            iso(a.applied) or "announced",
            "" if a.held_before is None else f"{a.held_before:+d}",
            "" if a.change is None else f"{a.change:+d}",
            _signed(a.cash) if a.cash else "",
        ]
        for a in data.actions
    ]
    head = ["event", "source", "applied", "held before", "shares added", "cash"]
    return _table("corporate-actions", head, rows, left=3)


def _health(data: ReportData) -> str:
    rows = []
    for pair, h in data.health:
        status = "degraded" if h.degraded else ("healthy" if h.measured else "not measured")
        ratio = h.half_life_ratio
        rows.append(
            [
                escape(pair),
                f'<span class="{"bad" if h.degraded else "ok"}">{status}</span>',
                rounded(h.pvalue),
                rounded(h.half_life, 1),
                "unknown" if h.formation_half_life is None else rounded(h.formation_half_life, 1),
                rounded(ratio, 2),
                "n/a" if h.innovation_share is None else f"{h.innovation_share:.1%}",
                "" if h.days_in_trade is None else str(h.days_in_trade),
                escape(h.describe() if h.degraded else ""),
            ]
        )
    head = [
        "pair",
        "status",
        "EG p-value",
        "half-life",
        "at formation",
        "ratio",
        "innovations > 99%",
        "sessions in trade",
        "why",
    ]
    window = data.health[0][1].window if data.health else None
    note = (
        f'<p class="muted">Over the trailing {window} sessions of stored closes at the last '
        "session (docs/operations.md, &ldquo;Pair health&rdquo;).</p>"
        if window
        else ""
    )
    return _table("health", head, rows) + note


def _evidence(data: ReportData) -> str:
    ev, band, real = data.evidence, data.band, data.realized
    wf = ev.get("walkforward") or {}
    metrics = data.config.selection_metrics
    rows = [
        [
            "Sharpe (daily)",
            _num(ev.get("sharpe_daily", metrics.get("sharpe_ratio"))),
            _num(real["paper_sharpe_daily"]),
        ],
        ["Deflated Sharpe Ratio", _num(ev.get("dsr"), 3), ""],
        ["Probability of Backtest Overfitting", _num(ev.get("pbo"), 3), ""],
        ["walk-forward OOS Sharpe (daily)", _num(wf.get("oos_sharpe_daily")), ""],
        ["max drawdown %", _num(metrics.get("max_dd_pct"), 2), _num(real["paper_max_dd_pct"], 2)],
        ["model Sharpe on the same sessions", "", _num(real["model_sharpe_daily"])],
    ]
    table = _table("evidence", ["figure", "research", f"realized ({band.n_days} sessions)"], rows)
    if band.low is None:
        verdict = (
            "Not enough sessions (or no research Sharpe recorded) to judge the realized Sharpe."
        )
    else:
        where = "inside" if band.inside else "outside"
        verdict = (
            f"The realized daily Sharpe {_num(band.realized)} lies <b>{where}</b> the 95% band "
            f"[{band.low:.4f}, {band.high:.4f}] that the {escape(band.source)} Sharpe "
            f"{band.expected:.4f} implies over {band.n_days} sessions (standard error "
            "&radic;((1 + SR&sup2;/2)/n))."
        )
    return f'{table}<p id="sharpe-band">{verdict}</p>'


def render(data: ReportData, generated_at: str) -> str:
    c = data.config
    pairs = ", ".join(f"{p.asset_1}/{p.asset_2}" for p in c.pairs)
    sessions = data.tracking
    span = f"{sessions[0].session} .. {sessions[-1].session}" if sessions else "no sessions yet"
    handed = "".join(
        f" &middot; generation {n} ({escape(cid)}) from {escape(d)}" for d, n, cid in data.handovers
    )
    sub = (
        f"config {escape(c.config_id)}{handed} &middot; pairs {escape(pairs)} &middot; go-live "
        f"{escape(data.go_live or 'n/a')} &middot; sessions {span} &middot; generated "
        f"{escape(generated_at)}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Paper account vs backtest: {escape(pairs)}</title><style>{_CSS}</style></head>"
        f'<body><main><h1>Paper account vs backtest</h1><p class="sub">{sub}</p>'
        f"{_cards(data)}<h2>Equity, drawdown, pairs</h2>{_charts(data)}"
        f"<h2>Why paper and model differ</h2>{_attribution(data)}"
        f"<h2>P&amp;L per pair</h2>{_pairs_table(data)}"
        f"<h2>Pair health</h2>{_health(data)}"
        f"<h2>Research evidence vs realized</h2>{_evidence(data)}"
        f"<h2>Trades</h2>{_trades(data)}"
        f"<h2>Splits and dividends</h2>{_actions(data)}"
        f"<h2>Alerts</h2>{_alerts(data)}"
        "</main></body></html>\n"
    )
