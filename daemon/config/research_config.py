"""Reading the research config from disk (which configs a state directory trades:
daemon/cycle/roster_step.py)."""

from __future__ import annotations

from pathlib import Path

from shared.config import ProdConfig, parse_config
from shared.errors import ConfigError


def load_config(path: Path) -> ProdConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found; run `pairs-research` to produce it or fix `config` in the "
            "settings",
            source=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file ({exc})", source=str(path)) from None
    return parse_config(text, source=str(path))
