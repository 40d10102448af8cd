"""The Kalman filter that tracks a pair's hedge ratio.

State model: beta follows a random walk (no intercept), observed through
``price_A = beta * price_B + noise``. These are the seed strategy's exact update equations
(docs/strategy.md, step 1); the order of floating-point operations is kept as the seed writes
them so that every engine lands on the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KalmanState:
    beta: float
    P: float = 1.0


def process_noise(delta: float) -> float:
    """Q = delta / (1 - delta): the per-bar variance of beta's random walk."""
    return delta / (1 - delta)


def kalman_update(
    state: KalmanState, price_a: float, price_b: float, delta: float, R: float
) -> KalmanState:
    """One predict + update step on a new pair of closes."""
    Q = process_noise(delta)
    beta_prior = state.beta
    P_prior = state.P + Q
    beta, P = beta_prior, state.P
    if price_b != 0:
        S = P_prior * price_b**2 + R
        K = (P_prior * price_b) / S
        y = price_a - beta_prior * price_b
        beta = beta_prior + K * y
        P = (1 - K * price_b) * P_prior
    # Like the seed: when price_B == 0 neither beta nor P move (the prior is not kept).
    return KalmanState(beta=beta, P=P)


def innovation(
    state: KalmanState, price_a: float, price_b: float, delta: float, R: float
) -> tuple[float, float]:
    """The one-step prediction error ``e = price_A - beta_prior * price_B`` of the next
    :func:`kalman_update` and its predicted variance ``S = P_prior * price_B² + R``, with the
    update's own expressions (shared.health normalizes them: ``e / √S``)."""
    P_prior = state.P + process_noise(delta)
    S = P_prior * price_b**2 + R
    y = price_a - state.beta * price_b
    return y, S
