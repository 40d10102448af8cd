"""Pair health: is a pair still the pair research selected? (docs/operations.md, "Pair health")

Four measures per pair, every session, on the pair's own closes (the rows where both legs have
a close) through that session:

- **cointegration**: the Engle-Granger p-value (:func:`shared.coint.engle_granger`, the
  statsmodels test research screens with) over the trailing ``window`` closes. Flagged above
  ``max_pvalue``.
- **half_life**: the spread's half-life over the same window against the half-life at
  formation (research records it per pair in the config). The spread is the Engle-Granger
  first-stage residual of the window, ``s_t = A_t - (b B_t + a)`` with the window's own OLS
  ``(b, a)``, the series the test itself examines. Its half-life comes from the AR(1)
  regression (OLS with a constant) of ``Δs_t = s_t - s_{t-1}`` on ``s_{t-1}``, t = 1..n-1:
  ``Δs_t = c + λ s_{t-1} + ε_t``, i.e. ``s_t = c + φ s_{t-1} + ε_t`` with ``φ = 1 + λ``. A
  deviation decays as ``φ^h``, so the half-life is ``h = ln(1/2) / ln(1 + λ)`` sessions for
  ``-1 < λ < 0`` (``-ln 2 / λ`` is its first-order approximation), infinite for ``λ >= 0``
  (no mean reversion) and 0 for ``λ <= -1``. Flagged when it exceeds ``max_half_life_ratio``
  times the formation half-life (never judged when that is unknown).
- **innovations**: the Kalman filter's one-step prediction errors ``e_t = A_t - β⁻_t B_t``
  (``β⁻_t`` the prior beta before the bar) with their predicted variance ``S_t = P⁻_t B_t² +
  R`` (:func:`shared.kalman.innovation`), normalized ``e_t / √S_t``. Were the filter's model
  right, ``e_t² / S_t`` would be chi-square(1) and exceed its 99% quantile (6.6349, i.e.
  ``|e/√S| > 2.5758``) on 1% of sessions. Flagged when the share of such sessions over the
  trailing window exceeds ``max_innovation_share`` (default 0.05, five times the nominal 1%:
  on 2016-2021 daily closes of ETF pairs with the seed's delta and R it is 0-2% for pairs
  that stayed cointegrated, 86-91% for GLD/SLV).
- **time_in_trade**: sessions since the current trade's entry decision against the formation
  half-life. Flagged beyond ``max_trade_half_lives`` formation half-lives (a spread expected
  to halve in ``h`` sessions that has not exited after several ``h`` is no longer behaving
  like the pair that was selected). Never judged without a formation half-life.

The first three depend on the closes alone; they make a pair *degraded* for the
``no_new_entries`` rule (:meth:`PairHealth.blocks_entries`), which the daemon and research's
reference backtest (:func:`shared.simulation.simulate`) apply alike. Time in trade concerns an
open trade, during which the pair cannot enter anyway: it is reported and alerted on only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shared.coint import engle_granger
from shared.kalman import KalmanState, innovation, kalman_update

# chi-square(1)'s 99% quantile (scipy.stats.chi2.ppf(0.99, 1); a test checks it).
CHI2_1_99 = 6.6348966010212145
INNOVATION_BOUND = math.sqrt(CHI2_1_99)  # 2.5758...: the normal's two-sided 1% bound
# The shortest window the cointegration test means what its p-value says on (research's
# MIN_OBS: research/screen/coint/universe.py).
MIN_WINDOW = 60

COINTEGRATION, HALF_LIFE, INNOVATIONS, TIME_IN_TRADE = (
    "cointegration",
    "half_life",
    "innovations",
    "time_in_trade",
)
MEASURES: tuple[str, ...] = (COINTEGRATION, HALF_LIFE, INNOVATIONS, TIME_IN_TRADE)
# The measures that depend on the closes alone: these block entries under "no_new_entries".
WINDOW_MEASURES: tuple[str, ...] = (COINTEGRATION, HALF_LIFE, INNOVATIONS)


@dataclass(frozen=True, slots=True)
class HealthRules:
    """The window and the thresholds (the daemon's ``[health]`` settings)."""

    window: int = 252
    max_pvalue: float = 0.05
    max_half_life_ratio: float = 2.0
    max_innovation_share: float = 0.05
    max_trade_half_lives: float = 3.0

    def __post_init__(self) -> None:
        if self.window < MIN_WINDOW:
            raise ValueError(f"the health window needs at least {MIN_WINDOW} sessions")


@dataclass(frozen=True, slots=True)
class PairHealth:
    """One pair's health at one session. ``None``: not measured (fewer closes than the window,
    or no formation half-life to compare with)."""

    n_obs: int  # the pair's closes through the session
    window: int
    pvalue: float | None = None
    coint_t: float | None = None
    half_life: float | None = None  # sessions; inf: the window's spread does not mean-revert
    formation_half_life: float | None = None
    innovation_share: float | None = None  # share of |e/√S| beyond INNOVATION_BOUND
    days_in_trade: int | None = None  # sessions since the entry decision; None when flat
    flags: tuple[str, ...] = ()  # the measures beyond their thresholds, in MEASURES order
    reasons: tuple[str, ...] = ()  # one readable line per flag

    @property
    def measured(self) -> bool:
        return self.pvalue is not None

    @property
    def degraded(self) -> bool:
        return bool(self.flags)

    @property
    def blocks_entries(self) -> bool:
        """Degraded on a measure of the closes (what ``no_new_entries`` acts on)."""
        return any(f in WINDOW_MEASURES for f in self.flags)

    @property
    def half_life_ratio(self) -> float | None:
        if self.half_life is None or not self.formation_half_life:
            return None
        return self.half_life / self.formation_half_life

    def describe(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "healthy"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (an infinite half-life is ``null`` with ``mean_reverting: false``)."""
        return {
            "status": "degraded" if self.flags else ("healthy" if self.measured else "unmeasured"),
            "window": self.window,
            "n_obs": self.n_obs,
            "pvalue": self.pvalue,
            "coint_t": _finite(self.coint_t),
            "half_life": _finite(self.half_life),
            "mean_reverting": None if self.half_life is None else math.isfinite(self.half_life),
            "formation_half_life": self.formation_half_life,
            "half_life_ratio": _finite(self.half_life_ratio),
            "innovation_share": self.innovation_share,
            "days_in_trade": self.days_in_trade,
            "degraded": list(self.flags),
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairHealth:
        """Back from :meth:`as_dict` (the daemon stores it as JSON)."""
        half_life = data.get("half_life")
        if half_life is None and data.get("mean_reverting") is False:
            half_life = math.inf
        coint_t = data.get("coint_t")
        if coint_t is None and data.get("pvalue") is not None:
            coint_t = -math.inf  # collinear: the only non-finite statistic with a p-value
        return cls(
            n_obs=int(data["n_obs"]),
            window=int(data["window"]),
            pvalue=data.get("pvalue"),
            coint_t=coint_t,
            half_life=half_life,
            formation_half_life=data.get("formation_half_life"),
            innovation_share=data.get("innovation_share"),
            days_in_trade=data.get("days_in_trade"),
            flags=tuple(data.get("degraded", ())),
            reasons=tuple(data.get("reasons", ())),
        )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def ar1_half_life(spread: np.ndarray) -> float:
    """The half-life (sessions) of ``spread`` from the AR(1) regression of the module notes:
    OLS of ``Δs_t`` on ``[1, s_{t-1}]`` in closed form (centered sums)."""
    s = np.asarray(spread, dtype=np.float64)
    if s.size < 3:
        raise ValueError("the half-life needs at least 3 observations")
    lagged, change = s[:-1], np.diff(s)
    x = lagged - lagged.mean()
    sxx = float(np.dot(x, x))
    if not sxx > 0.0:
        return math.inf  # a constant spread: nothing to revert
    slope = float(np.dot(x, change - change.mean())) / sxx
    if slope >= 0.0:
        return math.inf
    if slope <= -1.0:
        return 0.0
    return math.log(0.5) / math.log1p(slope)


def spread_half_life(closes_a: np.ndarray, closes_b: np.ndarray) -> float:
    """The half-life of the Engle-Granger spread of ``closes_a`` on ``closes_b`` (the whole
    series: research calls it on the formation window)."""
    a = np.asarray(closes_a, dtype=np.float64)
    b = np.asarray(closes_b, dtype=np.float64)
    return ar1_half_life(ols_spread(a, b))


def ols_spread(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - (slope b + intercept)`` with the OLS of ``a`` on ``[b, 1]``: statsmodels' residual
    of the Engle-Granger first stage (the fit is :func:`shared.coint.engle_granger`'s)."""
    eg = engle_granger(a, b)
    return a - (b * eg.hedge_ratio + eg.intercept)


def normalized_innovations(
    closes_a: np.ndarray, closes_b: np.ndarray, hedge_ratio: float, delta: float, R: float
) -> np.ndarray:
    """``e_t / √S_t`` for every bar of the pair's closes, the filter started as the strategy
    starts it (beta = the config's hedge ratio, P = 1) and stepped with the same update."""
    state = KalmanState(beta=float(hedge_ratio), P=1.0)
    out = np.empty(len(closes_a))
    for t, (pa, pb) in enumerate(zip(closes_a, closes_b, strict=True)):
        e, S = innovation(state, float(pa), float(pb), delta, R)
        out[t] = e / math.sqrt(S)
        state = kalman_update(state, float(pa), float(pb), delta, R)
    return out


def innovation_share(normalized: np.ndarray) -> float:
    """The share of ``|e/√S|`` beyond the chi-square(1) 99% bound (as ``e²/S > 6.6349``)."""
    z = np.asarray(normalized, dtype=np.float64)
    return float(np.count_nonzero(z * z > CHI2_1_99)) / z.size if z.size else 0.0


def pair_health(
    closes_a: np.ndarray,
    closes_b: np.ndarray,
    normalized: np.ndarray,
    formation_half_life: float | None,
    rules: HealthRules,
    days_in_trade: int | None = None,
) -> PairHealth:
    """The pair's health after its last close. ``closes_a``/``closes_b``: the pair's own closes
    (no NaN) through the session; ``normalized``: :func:`normalized_innovations` on them (only
    the trailing window is read); ``days_in_trade``: sessions since the entry decision of the
    trade the pair is in (None when flat; see :func:`with_days_in_trade`)."""
    n = len(closes_a)
    if len(closes_b) != n or (n >= rules.window and len(normalized) < rules.window):
        raise ValueError("closes_a, closes_b and the innovations must cover the same bars")
    unmeasured = PairHealth(n, rules.window, formation_half_life=formation_half_life)
    if n < rules.window:
        return with_days_in_trade(unmeasured, days_in_trade, rules)
    a = np.asarray(closes_a[-rules.window :], dtype=np.float64)
    b = np.asarray(closes_b[-rules.window :], dtype=np.float64)
    try:
        eg = engle_granger(a, b)
    except (ValueError, np.linalg.LinAlgError):  # a degenerate window (a constant leg)
        return with_days_in_trade(unmeasured, days_in_trade, rules)
    half_life = ar1_half_life(a - (b * eg.hedge_ratio + eg.intercept))
    share = innovation_share(np.asarray(normalized)[-rules.window :])
    flags, reasons = [], []
    if eg.pvalue > rules.max_pvalue:
        flags.append(COINTEGRATION)
        reasons.append(
            f"Engle-Granger p-value {eg.pvalue:.4f} over {rules.window} sessions > "
            f"{rules.max_pvalue:g}"
        )
    if formation_half_life and half_life > rules.max_half_life_ratio * formation_half_life:
        flags.append(HALF_LIFE)
        reasons.append(
            f"spread half-life {_sessions(half_life)} > {rules.max_half_life_ratio:g}x "
            f"the formation half-life {formation_half_life:.1f}"
        )
    if share > rules.max_innovation_share:
        flags.append(INNOVATIONS)
        reasons.append(
            f"{share:.1%} of Kalman innovations beyond the chi-square(1) 99% bound over "
            f"{rules.window} sessions > {rules.max_innovation_share:.1%}"
        )
    health = PairHealth(
        n,
        rules.window,
        pvalue=eg.pvalue,
        coint_t=eg.coint_t,
        half_life=half_life,
        formation_half_life=formation_half_life,
        innovation_share=share,
        flags=tuple(flags),
        reasons=tuple(reasons),
    )
    return with_days_in_trade(health, days_in_trade, rules)


def with_days_in_trade(health: PairHealth, days: int | None, rules: HealthRules) -> PairHealth:
    """``health`` with the time-in-trade measure set to ``days`` (sessions since the entry
    decision of the open trade; None when flat): the daemon knows it only once the session's
    decision is taken, after the window measures have gated it."""
    keep = [(f, r) for f, r in zip(health.flags, health.reasons, strict=True) if f != TIME_IN_TRADE]
    formation = health.formation_half_life
    if days is not None and formation and days > rules.max_trade_half_lives * formation:
        keep.append(
            (
                TIME_IN_TRADE,
                f"{days} sessions in the current trade > {rules.max_trade_half_lives:g}x the "
                f"formation half-life {formation:.1f}",
            )
        )
    return replace(
        health,
        days_in_trade=days,
        flags=tuple(f for f, _ in keep),
        reasons=tuple(r for _, r in keep),
    )


def _sessions(half_life: float) -> str:
    return "infinite (no mean reversion)" if math.isinf(half_life) else f"{half_life:.1f}"


@dataclass(frozen=True, slots=True)
class EntryRule:
    """``no_new_entries`` for a backtest: the rules and each pair's formation half-life (in the
    config's pair order)."""

    rules: HealthRules
    formation_half_lives: Sequence[float | None]

    def blocks(
        self, pair_index: int, closes_a: np.ndarray, closes_b: np.ndarray, normalized: np.ndarray
    ) -> PairHealth | None:
        """The pair's health when it blocks an entry at the last close, else None."""
        health = pair_health(
            closes_a, closes_b, normalized, self.formation_half_lives[pair_index], self.rules
        )
        return health if health.blocks_entries else None
