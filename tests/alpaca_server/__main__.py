"""Serve a paper account on 127.0.0.1 for trying the daemon by hand.

    python -m tests.alpaca_server --port 8765
    APCA_API_BASE_URL=http://127.0.0.1:8765 APCA_API_DATA_URL=http://127.0.0.1:8765 \\
    APCA_API_KEY_ID=<printed key> APCA_API_SECRET_KEY=<printed secret> pairs-daemon ...

Orders queue until a session is closed; type ``SYMBOL=PRICE ...`` lines on stdin to close one
at those prices (fills queued orders), or an empty line to quit.
"""

from __future__ import annotations

import argparse
import sys

from tests.alpaca_server.server import AlpacaServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.alpaca_server")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cash", type=float, default=100_000.0)
    args = parser.parse_args(argv)
    with AlpacaServer(port=args.port) as server:
        server.book.cash = args.cash
        print(f"Alpaca-compatible server at {server.url}")
        print(f"APCA_API_KEY_ID={server.book.key_id}")
        print(f"APCA_API_SECRET_KEY={server.book.secret_key}", flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            try:
                closes = {k: float(v) for k, v in (p.split("=", 1) for p in line.split())}
            except ValueError:
                print("expected SYMBOL=PRICE pairs, e.g. AAA=101.5 BBB=48.2", flush=True)
                continue
            server.book.advance_session(closes)
            print(f"filled at {closes}; equity {server.book.equity():.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
