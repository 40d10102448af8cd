"""The ``--health-*`` options: the daemon's ``[health]`` thresholds, with its defaults, for
``pairs-research health`` and ``backtest --on-degraded``."""

from __future__ import annotations

import argparse

from shared.errors import ConfigError
from shared.health import MIN_WINDOW, HealthRules

DEFAULT_RULES = HealthRules()


def add_health_arguments(parser: argparse.ArgumentParser) -> None:
    """The daemon's ``[health]`` thresholds, with its defaults."""
    parser.add_argument(
        "--health-window",
        type=int,
        default=DEFAULT_RULES.window,
        metavar="N",
        help=f"trailing sessions the measures read (default {DEFAULT_RULES.window})",
    )
    parser.add_argument(
        "--health-max-pvalue",
        type=float,
        default=DEFAULT_RULES.max_pvalue,
        help=f"degraded above this Engle-Granger p-value (default {DEFAULT_RULES.max_pvalue})",
    )
    parser.add_argument(
        "--health-max-half-life-ratio",
        type=float,
        default=DEFAULT_RULES.max_half_life_ratio,
        help="degraded above this many formation half-lives "
        f"(default {DEFAULT_RULES.max_half_life_ratio})",
    )
    parser.add_argument(
        "--health-max-innovation-share",
        type=float,
        default=DEFAULT_RULES.max_innovation_share,
        help="degraded when more of the window's Kalman innovations lie beyond the "
        f"chi-square(1) 99%% bound (default {DEFAULT_RULES.max_innovation_share})",
    )


def health_rules(args: argparse.Namespace) -> HealthRules:
    if args.health_window < MIN_WINDOW:
        raise ConfigError(f"must be at least {MIN_WINDOW} sessions", key="--health-window")
    for key in ("health_max_pvalue", "health_max_innovation_share"):
        if not 0 < getattr(args, key) < 1:
            raise ConfigError("must lie in (0, 1)", key="--" + key.replace("_", "-"))
    if not args.health_max_half_life_ratio > 0:
        raise ConfigError("must be positive", key="--health-max-half-life-ratio")
    return HealthRules(
        window=args.health_window,
        max_pvalue=args.health_max_pvalue,
        max_half_life_ratio=args.health_max_half_life_ratio,
        max_innovation_share=args.health_max_innovation_share,
    )
