"""Serve a paper account on 127.0.0.1 for trying the daemon by hand.

    python -m tests.alpaca_server --port 8765
    APCA_API_BASE_URL=http://127.0.0.1:8765 APCA_API_DATA_URL=http://127.0.0.1:8765 \\
    APCA_API_KEY_ID=<printed key> APCA_API_SECRET_KEY=<printed secret> pairs-daemon ...

Orders queue until a session is closed; type ``[YYYY-MM-DD] SYMBOL=PRICE ...`` lines on stdin
to close one at those prices (fills queued orders; with a date, also serves them as that
session's daily bars), or an empty line to quit. Announce corporate actions (booked when a
session on or after the ex-date closes, served by ``/v1/corporate-actions``) with

    split SYMBOL EX-DATE NEW:OLD              e.g. split AAA 2024-01-10 2:1 (or 1:4)
    dividend SYMBOL EX-DATE AMOUNT [PAYABLE]  e.g. dividend AAA 2024-01-10 0.25 2024-01-24
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from tests.alpaca_server.server import AlpacaServer
from tests.alpaca_server.state import AccountBook


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
            if words[0] in ("split", "dividend"):
                print(_announce(server.book, words), flush=True)
                continue
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


def _announce(book: AccountBook, words: list[str]) -> str:
    """``split SYMBOL EX-DATE NEW:OLD`` or ``dividend SYMBOL EX-DATE AMOUNT [PAYABLE]``."""
    try:
        kind, symbol, ex_date, value, *rest = words
        day = date.fromisoformat(ex_date)
        if kind == "split":
            new, _, old = value.partition(":")
            book.add_split(symbol, day, float(new) / float(old or 1))
        else:
            payable = date.fromisoformat(rest[0]) if rest else None
            book.add_dividend(symbol, day, float(value), payable)
    except (ValueError, ZeroDivisionError) as exc:
        return (
            f"expected split SYMBOL YYYY-MM-DD NEW:OLD or dividend SYMBOL YYYY-MM-DD AMOUNT ({exc})"
        )
    return f"announced {' '.join(words)}; equity {book.equity():.2f}"


if __name__ == "__main__":
    sys.exit(main())
