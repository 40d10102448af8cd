"""Run the benchmark cases and print one JSON line per measurement.

    python -m benchmarks.run [--cases seed_grid,throughput] [--prices FILE] [--bars 1255]

Cases are the modules of ``benchmarks/cases`` that expose ``run(args) -> list[dict]``; they
share the options below (a case ignores those it does not need).
"""

from __future__ import annotations

import os

# Some machines set these for a CPU other than the one numpy runs on, which slows its BLAS; the
# benchmarks measure the machine as it is without them. (Set before numpy is first imported.)
for _name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_name, None)

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import pkgutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import benchmarks.cases  # noqa: E402

Case = Callable[[argparse.Namespace], list[dict[str, Any]]]


def discover() -> dict[str, Case]:
    """Every ``benchmarks.cases`` module with a ``run`` function, by module name."""
    cases: dict[str, Case] = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.cases.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.cases.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            cases[info.name] = run
    return cases


def build_parser(names: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--cases", help=f"comma-separated cases to run (default: all of {', '.join(names)})"
    )
    parser.add_argument(
        "--prices", type=Path, help="wide CSV of closes (default: deterministic synthetic data)"
    )
    parser.add_argument(
        "--bars", type=int, default=1255, help="sessions per backtest (0: all of --prices)"
    )
    parser.add_argument(
        "--tickers", type=int, default=116, help="universe size of synthetic sweep data"
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    parser.add_argument(
        "--repeats", type=int, default=7, help="repeats of fast timings (the median counts)"
    )
    parser.add_argument(
        "--sweep-repeats", type=int, default=3, help="runs of the full universe sweep (median)"
    )
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    cases = discover()
    args = build_parser(sorted(cases)).parse_args(argv)
    selected = args.cases.split(",") if args.cases else sorted(cases)
    unknown = [c for c in selected if c not in cases]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(cases)}", file=sys.stderr)
        return 2
    for name in selected:
        started = time.perf_counter()
        for record in cases[name](args):
            line = json.dumps({"case": name, **record, "load_avg_1m": round(os.getloadavg()[0], 2)})
            print(line, flush=True)
            if args.out:
                with args.out.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
        print(f"[{name}] done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
