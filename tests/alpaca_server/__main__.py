"""Serve a paper account on 127.0.0.1 for trying the daemon by hand.

    python -m tests.alpaca_server --port 8765
    APCA_API_BASE_URL=http://127.0.0.1:8765 APCA_API_DATA_URL=http://127.0.0.1:8765 \\
    APCA_API_KEY_ID=<printed key> APCA_API_SECRET_KEY=<printed secret> pairs-daemon ...

Orders queue until a session is closed; type ``[YYYY-MM-DD] SYMBOL=PRICE ...`` lines on stdin
to close one at those prices (fills queued orders; with a date, also serves them as that
session's daily bars), or an empty line to quit.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

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
            words = line.split()
            try:
                session = date.fromisoformat(words[0]) if "=" not in words[0] else None
                pairs = words[1:] if session else words
                closes = {k: float(v) for k, v in (p.split("=", 1) for p in pairs)}
            except ValueError:
                print("expected [YYYY-MM-DD] SYMBOL=PRICE ..., e.g. AAA=101.5", flush=True)
                continue
            server.book.advance_session(closes, session)
            print(f"filled at {closes}; equity {server.book.equity():.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
