"""The HTTP side: a threaded stdlib server on 127.0.0.1 with an ephemeral port that routes
Alpaca's paths to the ``AccountBook``, checks the key headers and plays queued faults."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.alpaca_server import actions, render
from tests.alpaca_server.echo import echo_credentials
from tests.alpaca_server.state import OPEN_STATUSES, AccountBook, ApiError, Fault

Answer = tuple[int, Any]

DEFAULT_BODIES: dict[int, dict[str, Any]] = {
    401: {"code": 40110000, "message": "request is not authorized"},
    403: {"message": "forbidden."},
    422: {"code": 40010001, "message": "client_order_id must be unique"},
    429: {"message": "too many requests."},
    500: {"code": 50010000, "message": "internal server error occurred"},
    503: {"message": "service unavailable"},
    504: {"message": "gateway timeout"},
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    book: AccountBook
    bars_page_size: int
    actions_page_size: int


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # One buffered write per answer and no Nagle: otherwise headers and body leave in two
    # segments and the client's delayed ACK adds ~40 ms to every request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the book
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        book = self.server.book
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        book.record(method, url.path, params)
        if (self.headers.get("APCA-API-KEY-ID"), self.headers.get("APCA-API-SECRET-KEY")) != (
            book.key_id,
            book.secret_key,
        ):
            self._send(*self._echoed((401, DEFAULT_BODIES[401])))
            return
        fault = book.take_fault(method, url.path)
        answer = None
        if fault is None or fault.process:
            answer = self._route(method, url.path, params, body)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop:
                self._drop()
                return
            if fault.status is not None:
                answer = (fault.status, fault.body or DEFAULT_BODIES.get(fault.status, {}))
            elif answer is None:
                answer = self._route(method, url.path, params, body)
        assert answer is not None
        self._send(*self._echoed(answer))

    def _echoed(self, answer: Answer) -> Answer:
        """A misbehaving server: error bodies repeat the key headers (see echo.py)."""
        if self.server.book.echo_keys and answer[0] >= 400:
            return answer[0], echo_credentials(answer[0], answer[1], self.headers)
        return answer

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> Answer:
        book = self.server.book
        try:
            if method == "GET" and path == "/v2/stocks/bars":
                return 200, render.bars(book, params, self.server.bars_page_size)
            if method == "GET" and path == "/v1/corporate-actions":
                return 200, actions.corporate_actions(book, params, self.server.actions_page_size)
            if path.startswith("/v2/orders"):
                return self._orders(method, path, params, body)
            if method == "GET" and path == "/v2/account":
                return 200, render.account(book)
            if method == "GET" and path == "/v2/positions":
                return 200, render.positions(book)
            if method == "GET" and path.startswith("/v2/positions/"):
                return 200, render.position(book, path.rsplit("/", 1)[1])
            if method == "GET" and path == "/v2/clock":
                return 200, render.clock(book)
            if method == "GET" and path == "/v2/calendar":
                return 200, render.calendar(params)
            if method == "GET" and path.startswith("/v2/assets/"):
                return 200, render.asset(book, path.rsplit("/", 1)[1])
        except ApiError as exc:
            return exc.status, exc.body
        return 404, {"code": 40410000, "message": f"endpoint not found: {method} {path}"}

    def _orders(self, method: str, path: str, params: dict[str, str], body: Any) -> Answer:
        book = self.server.book
        if path == "/v2/orders:by_client_order_id":
            return 200, book.order_by_client_id(params.get("client_order_id", "")).json()
        if path == "/v2/orders" and method == "POST":
            return 200, book.submit(body).json()
        if path == "/v2/orders" and method == "GET":
            return 200, _list_orders(book, params)
        order_id = path.removeprefix("/v2/orders/")
        if method == "GET":
            return 200, book.order(order_id).json()
        if method == "DELETE":
            book.cancel(order_id)
            return 204, None
        return 405, {"message": "method not allowed"}

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (timeout faults)

    def _drop(self) -> None:
        """Close the connection without an answer, as a reset between server and client."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _list_orders(book: AccountBook, params: dict[str, str]) -> list[dict[str, Any]]:
    status = params.get("status", "open")
    limit = int(params.get("limit") or 50)
    with book.lock:
        chosen = [
            o
            for o in book.orders
            if status == "all" or (o.status in OPEN_STATUSES) == (status == "open")
        ]
    if params.get("direction", "desc") == "desc":
        chosen.reverse()
    return [o.json() for o in chosen[:limit]]


class AlpacaServer:
    """``with AlpacaServer() as server:`` serves ``server.book`` at ``server.url`` (both the
    trading and the market-data API) until the block ends."""

    def __init__(
        self,
        book: AccountBook | None = None,
        *,
        port: int = 0,
        bars_page_size: int = 1000,
        actions_page_size: int = 1000,
    ) -> None:
        self.book = book or AccountBook()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.book = self.book
        self._httpd.bars_page_size = bars_page_size
        self._httpd.actions_page_size = actions_page_size
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def inject(self, fault: Fault) -> None:
        self.book.inject(fault)

    def start(self) -> AlpacaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AlpacaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
