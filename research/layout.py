"""Where every research artifact lives under a base directory (the seed's folder layout).

The seed notebook keeps everything under one ``BASE_DIR``::

    data/raw/                                   downloaded price files (cache)
    data/cleaned/adj_close_wide.csv             cleaned wide closes, index column ``date``
    data/pairs/cointegrated_pairs.csv           the cointegration screen
    reports/kalman_param_optimization_results.csv
    reports/*.png                               plots
    config/kalman_prod_config.json              the production config
    config/history/<config_id>.json             every config ever emitted (research.artifacts)

Every command takes ``--base-dir`` and reads and writes these paths only, so steps chain by
running them one after another on the same base directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ArtifactLayout:
    """The seed's artifact paths under ``base_dir``."""

    base_dir: Path

    def __init__(self, base_dir: str | Path) -> None:
        # A frozen dataclass with a custom __init__: accept str, store an absolute Path so the
        # paths in messages are unambiguous whatever the working directory.
        object.__setattr__(self, "base_dir", Path(base_dir).expanduser().resolve())

    @property
    def raw_dir(self) -> Path:
        return self.base_dir / "data" / "raw"

    @property
    def cleaned_dir(self) -> Path:
        return self.base_dir / "data" / "cleaned"

    @property
    def pairs_dir(self) -> Path:
        return self.base_dir / "data" / "pairs"

    @property
    def reports_dir(self) -> Path:
        return self.base_dir / "reports"

    @property
    def config_dir(self) -> Path:
        return self.base_dir / "config"

    @property
    def cleaned_prices(self) -> Path:
        return self.cleaned_dir / "adj_close_wide.csv"

    @property
    def cleaning_report(self) -> Path:
        """What the cleaning step dropped and why (JSON), beside the cleaned prices."""
        return self.cleaned_dir / "cleaning_report.json"

    @property
    def pairs_csv(self) -> Path:
        return self.pairs_dir / "cointegrated_pairs.csv"

    @property
    def selected_pairs_csv(self) -> Path:
        """The pairs the ``select`` step kept (the seed's ``top_pairs``)."""
        return self.pairs_dir / "selected_pairs.csv"

    @property
    def results_csv(self) -> Path:
        return self.reports_dir / "kalman_param_optimization_results.csv"

    @property
    def config_json(self) -> Path:
        return self.config_dir / "kalman_prod_config.json"

    @property
    def config_history_dir(self) -> Path:
        """Every config that was ever ``kalman_prod_config.json``, by ``config_id``."""
        return self.config_dir / "history"

    def report_png(self, name: str) -> Path:
        """``reports/<name>.png`` (``name`` without extension)."""
        return self.reports_dir / f"{name}.png"

    def ensure_dirs(self) -> None:
        """Create every artifact folder (idempotent)."""
        for d in (
            self.raw_dir,
            self.cleaned_dir,
            self.pairs_dir,
            self.reports_dir,
            self.config_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
