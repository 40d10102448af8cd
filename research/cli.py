"""``pairs-research``: one subcommand per research step, and ``run`` to chain them.

Each step lives in its own module exposing ``register(subparsers)``, which adds its subparser
and sets ``func`` (called with the parsed args, returns an exit code). Adding a step means
adding its module to ``COMMAND_MODULES``; nothing else here changes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from shared.errors import PairsError

COMMAND_MODULES: tuple[str, ...] = (
    # Filled in by each step's module, e.g. "research.commands.prices".
    "research.commands.prices",
    "research.commands.screen",
    "research.commands.select",
    "research.commands.optimize",
    "research.commands.backtest",
    "research.commands.health",
    "research.commands.plots",
    "research.commands.walkforward",
    "research.commands.run",
    "research.commands.sweep",
    "research.commands.sweep_summary",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every step's subparser; only ``command``'s when a module is named after it (one step's
    run then skips importing the others', seconds of scipy and plotting imports)."""
    modules = tuple(m for m in COMMAND_MODULES if _command_name(m) == command) or COMMAND_MODULES
    parser = argparse.ArgumentParser(
        prog="pairs-research",
        description="Screen pairs for cointegration, grid-optimize the Kalman pairs strategy "
        "and emit kalman_prod_config.json.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def _command_name(module: str) -> str:
    return module.rsplit(".", 1)[1].replace("_", "-")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
    try:
        return int(args.func(args) or 0)
    except PairsError as exc:
        print(f"pairs-research {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused (permissions, a full disk): the operator's
        print(f"pairs-research {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
