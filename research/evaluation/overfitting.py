"""Selection-corrected statistics: how much of a grid winner's Sharpe ratio survives the search.

- Probabilistic Sharpe Ratio (PSR) and Deflated Sharpe Ratio (DSR): Bailey & López de Prado,
  "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5), 2014. The PSR is the probability that
  the true Sharpe ratio exceeds a benchmark given the sample length and the returns' skewness
  and kurtosis; the DSR is the PSR against the Sharpe ratio one expects from the best of
  ``n_trials`` skill-less strategies whose Sharpe ratios vary as the trials' do.
- Probability of Backtest Overfitting (PBO) by combinatorially symmetric cross-validation
  (CSCV): Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest Overfitting",
  Journal of Computational Finance 20(4), 2017 (working paper 2015). The return matrix's rows
  are cut into ``S`` blocks; for every choice of half of them as in-sample, the in-sample best
  column's out-of-sample rank is recorded; PBO is how often that rank is at or below the median.

  Blocks (``blocks``): the paper partitions the T rows into S blocks of *equal* size T/S. When S
  does not divide T, ``"equal"`` (the default) drops the leading T mod S rows, which are the
  strategy's warm-up (the z-score window has not filled yet, so every config is flat there),
  and cuts the rest into S blocks of exactly (T - T mod S)/S rows. ``"array_split"`` keeps
  every row and cuts them with ``numpy.array_split`` (the first T mod S blocks one row longer),
  the convention of earlier versions of this project.

Every Sharpe ratio here is per observation (daily, not annualized), like the seed's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.stats import kurtosis as _kurtosis
from scipy.stats import norm
from scipy.stats import skew as _skew

from research.backtest.api import EngineResult
from shared.errors import DataError
from shared.metrics import daily_returns

EULER_GAMMA = 0.5772156649015329
DSR_THRESHOLD = 0.95  # the papers' customary confidence level
PBO_THRESHOLD = 0.5  # above it, the in-sample winner more often than not under-performs OOS
PBO_BLOCKS: tuple[str, ...] = ("equal", "array_split")  # see the module docstring
DEFAULT_PBO_BLOCKS = "equal"


def sharpe_moments(returns: np.ndarray) -> tuple[float, float, float, int]:
    """(Sharpe ratio, skewness, kurtosis (normal = 3), number of observations) of a return
    series; population moments, as the seed's Sharpe ratio. A flat series has Sharpe 0."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2 or not np.all(np.isfinite(r)):
        raise DataError(
            f"need at least 2 finite returns to judge a Sharpe ratio, got {r.size} "
            f"({int(np.sum(~np.isfinite(r)))} non-finite)"
        )
    std = float(np.std(r))
    if std == 0.0:
        return 0.0, 0.0, 3.0, int(r.size)
    return (
        float(np.mean(r)) / std,
        float(_skew(r)),
        float(_kurtosis(r, fisher=False)),
        int(r.size),
    )


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
    benchmark: float = 0.0,
) -> float:
    """PSR(SR*) = Φ((SR - SR*)·√(T-1) / √(1 - γ3·SR + (γ4-1)/4·SR²)) (Bailey & López de Prado
    2014, eq. 2 of the DSR paper). ``kurtosis`` is the plain (non-excess) kurtosis."""
    if n_obs < 2:
        raise DataError(f"PSR needs at least 2 observations, got {n_obs}")
    variance_factor = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not variance_factor > 0.0:
        # Only reachable for extreme, inconsistent moments; no standard error exists then.
        return math.nan
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance_factor)
    return float(norm.cdf(z))


def expected_max_sharpe(n_trials: int, sharpe_variance: float, mean_sharpe: float = 0.0) -> float:
    """E[max of ``n_trials`` Sharpe ratios] under no skill (the DSR paper's SR₀):
    √V·((1-γ)·Φ⁻¹(1-1/N) + γ·Φ⁻¹(1-1/(N·e))), γ the Euler-Mascheroni constant."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    if n_trials == 1:
        return mean_sharpe  # nothing was selected
    quantiles = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return mean_sharpe + math.sqrt(max(sharpe_variance, 0.0)) * float(quantiles)


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    sharpe_variance: float,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """DSR = PSR(SR₀) with SR₀ the expected maximum Sharpe of ``n_trials`` skill-less trials."""
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, n_obs, skewness, kurtosis, benchmark)


def column_sharpes(returns_matrix: np.ndarray) -> np.ndarray:
    """Per-column Sharpe ratio (population std); a flat column gets 0, not NaN, so that a config
    that never traded ranks as 'no edge' rather than poisoning the statistics."""
    m = np.asarray(returns_matrix, dtype=np.float64)
    std = m.std(axis=0)
    mean = m.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0.0, mean / np.where(std > 0.0, std, 1.0), 0.0)


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of splits whose in-sample winner ranks at or below the OOS median
    n_splits: int  # S, the number of row blocks
    logits: np.ndarray  # λ = ln(ω/(1-ω)) per split, ω the winner's relative OOS rank
    is_sharpe: np.ndarray  # in-sample Sharpe of the winner per split
    oos_sharpe: np.ndarray  # its out-of-sample Sharpe per split
    oos_loss_probability: float  # share of splits where the winner loses money OOS
    degradation_slope: float  # OLS slope of OOS on IS Sharpe of the winners (paper §5)

    @property
    def n_combinations(self) -> int:
        return int(self.logits.size)


def pbo_blocks(n_rows: int, n_splits: int, blocks: str = DEFAULT_PBO_BLOCKS) -> list[np.ndarray]:
    """The row indices of each of the ``n_splits`` contiguous blocks (see the module
    docstring): ``"equal"`` drops the leading ``n_rows % n_splits`` rows and cuts equal
    blocks; ``"array_split"`` keeps every row, blocks differing by at most one row."""
    if blocks == "equal":
        first = n_rows % n_splits
        return list(np.arange(first, n_rows).reshape(n_splits, -1))
    if blocks == "array_split":
        return list(np.array_split(np.arange(n_rows), n_splits))
    raise ValueError(f"blocks must be one of {', '.join(PBO_BLOCKS)} (got {blocks!r})")


def _block_sums(
    m: np.ndarray, n_splits: int, convention: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: row count, column sums of returns and of squared returns."""
    blocks = pbo_blocks(m.shape[0], n_splits, convention)
    counts = np.array([b.size for b in blocks], dtype=np.float64)
    sums = np.stack([m[b].sum(axis=0) for b in blocks])
    squares = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    return counts, sums, squares


def _sharpe_from_sums(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> np.ndarray:
    mean = total / count[:, None]
    variance = np.maximum(squares / count[:, None] - mean**2, 0.0)
    std = np.sqrt(variance)
    # Relative floor: a column that is flat in a half has rounding-level variance, not risk.
    flat = std <= 1e-12 * np.maximum(np.abs(mean), 1e-300)
    return np.where(flat, 0.0, mean / np.where(flat, 1.0, std))


def probability_of_backtest_overfitting(
    returns_matrix: np.ndarray, n_splits: int = 16, blocks: str = DEFAULT_PBO_BLOCKS
) -> PBOResult:
    """CSCV over a (observations × configs) return matrix with ``n_splits`` row blocks, cut
    by the ``blocks`` convention (``"equal"``: the paper's; ``"array_split"``)."""
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise DataError(f"PBO needs a 2-D return matrix with at least 2 configs, got {m.shape}")
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even number >= 2, got {n_splits}")
    if m.shape[0] < 2 * n_splits:
        raise DataError(
            f"PBO with {n_splits} splits needs at least {2 * n_splits} observations, "
            f"got {m.shape[0]}; use fewer splits or a longer window"
        )
    if not np.all(np.isfinite(m)):
        raise DataError("the return matrix has NaN or infinite values; PBO needs finite returns")
    counts, sums, squares = _block_sums(m, n_splits, blocks)
    chosen = np.array(list(combinations(range(n_splits), n_splits // 2)))
    in_train = np.zeros((len(chosen), n_splits))
    in_train[np.arange(len(chosen))[:, None], chosen] = 1.0
    is_sr = _sharpe_from_sums(in_train @ counts, in_train @ sums, in_train @ squares)
    # In lexicographic order the complement of the i-th half is the (C-1-i)-th, so the test
    # halves' Sharpe ratios are the train halves' read backwards (half the arithmetic).
    oos_sr = is_sr[::-1]
    winner = np.argmax(is_sr, axis=1)  # first of equals, like the seed's stable sort
    rows = np.arange(len(chosen))
    winner_oos = oos_sr[rows, winner]
    # The winner's average rank (1 = worst) among the configs out of sample; ties share it.
    below = np.sum(oos_sr < winner_oos[:, None], axis=1)
    equal = np.sum(oos_sr == winner_oos[:, None], axis=1)
    ranks = below + (equal + 1) / 2.0
    omega = ranks / (m.shape[1] + 1.0)
    logits = np.log(omega / (1.0 - omega))
    winner_is = is_sr[rows, winner]
    slope = float(np.polyfit(winner_is, winner_oos, 1)[0]) if np.ptp(winner_is) > 0 else math.nan
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        n_splits=n_splits,
        logits=logits,
        is_sharpe=winner_is,
        oos_sharpe=winner_oos,
        oos_loss_probability=float(np.mean(winner_oos < 0.0)),
        degradation_slope=slope,
    )


def returns_matrix(results: Sequence[EngineResult], initial_cash: float) -> np.ndarray:
    """(days × configs) daily returns of a grid run with ``with_details=True``, columns in the
    order of ``results`` (the grid's order), ready for :func:`selection_evidence`."""
    columns = []
    for i, result in enumerate(results):
        if result.values is None:
            raise DataError(
                f"result {i} ({result.params}) has no value series: run the engine with "
                "with_details=True to judge the selection"
            )
        columns.append(daily_returns(result.values, initial_cash))
    if not columns:
        raise DataError("no backtest results: nothing was selected")
    return np.column_stack(columns)


def _chosen_column(sharpes: np.ndarray, chosen: int | None) -> int:
    if chosen is None:
        return int(np.argmax(sharpes))
    if not 0 <= chosen < sharpes.size:
        raise ValueError(f"chosen column {chosen} is outside 0..{sharpes.size - 1}")
    return chosen


def selection_evidence(
    returns_matrix: np.ndarray,
    n_trials: int | None = None,
    *,
    chosen: int | None = None,
    n_splits: int = 16,
    pbo_blocks: str = DEFAULT_PBO_BLOCKS,
) -> dict[str, Any]:
    """DSR of the chosen config and PBO of the whole grid, as a JSON-ready dict.

    ``returns_matrix`` is (daily returns × configs), one column per config that was tried on
    the same bars. ``n_trials`` is the number of independent tries behind the choice (configs
    × pairs screened; default: the number of columns). ``chosen`` is the column that was kept
    (default: the highest Sharpe). The Sharpe variance is measured across the columns.
    """
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 1:
        raise DataError(f"expected a (days × configs) return matrix, got shape {m.shape}")
    sharpes = column_sharpes(m)
    column = _chosen_column(sharpes, chosen)
    trials = int(n_trials) if n_trials is not None else m.shape[1]
    sharpe, skewness, kurt, n_obs = sharpe_moments(m[:, column])
    variance = float(np.var(sharpes, ddof=1)) if sharpes.size > 1 else 0.0
    evidence: dict[str, Any] = {
        "chosen_column": column,
        "n_configs": int(m.shape[1]),
        "n_trials": trials,
        "n_obs": n_obs,
        "sharpe_daily": sharpe,
        "skewness": skewness,
        "kurtosis": kurt,
        "trials_sharpe_variance": variance,
        "expected_max_sharpe_daily": expected_max_sharpe(trials, variance),
        "psr": probabilistic_sharpe_ratio(sharpe, n_obs, skewness, kurt),
        "dsr": deflated_sharpe_ratio(sharpe, n_obs, trials, variance, skewness, kurt),
    }
    evidence.update(_pbo_evidence(m, n_splits, pbo_blocks))
    # JSON has no NaN: an undefined statistic is recorded as null.
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in evidence.items()}


def _pbo_evidence(m: np.ndarray, n_splits: int, blocks: str) -> dict[str, Any]:
    if m.shape[1] < 2:
        return {"pbo": None, "pbo_note": "a single config: nothing was selected"}
    splits = n_splits
    while splits > 2 and m.shape[0] < 2 * splits:
        splits -= 2  # short samples still get a (coarser) answer
    result = probability_of_backtest_overfitting(m, splits, blocks)
    return {
        "pbo": result.pbo,
        "pbo_splits": result.n_splits,
        "pbo_blocks": blocks,
        "pbo_combinations": result.n_combinations,
        "pbo_oos_loss_probability": result.oos_loss_probability,
        "pbo_degradation_slope": None
        if math.isnan(result.degradation_slope)
        else result.degradation_slope,
    }


def warn_if_overfit(evidence: dict[str, Any]) -> list[str]:
    """Plain-words warnings for a selection whose evidence is weak (empty when it is not)."""
    warnings: list[str] = []
    dsr = evidence.get("dsr")
    if "dsr" in evidence and (dsr is None or (isinstance(dsr, float) and math.isnan(dsr))):
        warnings.append(
            "Deflated Sharpe Ratio is undefined (the chosen config's returns are degenerate): "
            "there is no evidence that its Sharpe ratio beats luck."
        )
    elif dsr is not None and dsr < DSR_THRESHOLD:
        warnings.append(
            f"Deflated Sharpe Ratio is {dsr:.2f} (below {DSR_THRESHOLD}): after "
            f"{evidence.get('n_trials', '?')} trials, the chosen config's Sharpe ratio is not "
            "convincingly better than the best of as many skill-less configs would be by luck."
        )
    pbo = evidence.get("pbo")
    if pbo is not None and pbo > PBO_THRESHOLD:
        warnings.append(
            f"Probability of Backtest Overfitting is {pbo:.2f} (above {PBO_THRESHOLD}): the "
            "config that wins in one half of the history usually ranks in the bottom half of "
            "the grid in the other half, so the grid's ranking is mostly noise."
        )
    return warnings
