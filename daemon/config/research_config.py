"""Reading the research config from disk and refusing a config the store does not trade."""

from __future__ import annotations

from pathlib import Path

from daemon.store import Store
from shared.config import ProdConfig, parse_config
from shared.errors import ConfigError, StateError


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


def check_config_id(store: Store, config: ProdConfig, path: Path) -> None:
    stored = store.get_meta("config_id")
    if stored is None or stored == config.config_id:
        return
    raise StateError(
        f"config {path} (config_id {config.config_id}) is not the config this state directory "
        f"trades (config_id {stored}); refusing to mix them. To go back, restore the previous "
        "config file. To trade the new config, close the old positions (or check they are "
        "flat), then point state_dir at a new, empty directory"
    )
