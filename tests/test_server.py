"""The web process as the Procfile runs it (storemon/web/server.py): slow clients cannot take
it down, and behind a proxy each client is known by its own address."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from storemon.database import tokens

from .helpers import TEST_DATABASE_URL, TEST_REDIS_URL
from .services import WebProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def web_env(pg, redis_conn):
    return {"DATABASE_URL": TEST_DATABASE_URL, "REDIS_URL": TEST_REDIS_URL, "RQ_QUEUE": "reports-test",
            "LOG_LEVEL": "WARNING"}


def get(port: int, path: str, headers: dict | None = None, source: str = "127.0.0.1", host: str = "127.0.0.1",
        timeout_s: float = 10) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s, source_address=(source, 0))
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def test_slow_clients_hold_no_one_else_up(web_env, pg, tmp_path):
    """150 clients each sending a request a byte every 5 s (more than waitress's default of
    100 connections): /health and an authenticated call still answer within a second."""
    token = tokens.create(pg, "reader", ["report"])
    web = WebProcess({**web_env, "REQUIRE_REPORT_TOKEN": "true"}, tmp_path / "web.log")
    slow, stop = [], threading.Event()
    try:
        for _ in range(150):
            client = socket.create_connection(("127.0.0.1", web.port), timeout=5)
            client.sendall(b"GET /health HTTP/1.1\r\n")
            slow.append(client)

        def dribble():
            while not stop.wait(5):
                for client in slow:
                    try:
                        client.sendall(b"X")  # a header line that never ends
                    except OSError:
                        pass

        threading.Thread(target=dribble, daemon=True).start()
        time.sleep(6)  # every slow client has dribbled once
        for _ in range(3):
            assert get(web.port, "/health", timeout_s=1) == 200
            assert get(web.port, "/reports", {"Authorization": f"Bearer {token}"}, timeout_s=1) == 200
    finally:
        stop.set()
        for client in slow:
            client.close()
        web.stop()


class _Forwarder(BaseHTTPRequestHandler):
    """A reverse proxy's one hop: the request passed on with the peer's address appended to
    X-Forwarded-For, as nginx's $proxy_add_x_forwarded_for does."""

    upstream: int = 0

    def do_GET(self):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        sent = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{sent}, {self.client_address[0]}" if sent else self.client_address[0]
        headers["X-Forwarded-Proto"] = "https"
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=10)
        connection.request("GET", self.path, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        connection.close()

    def log_message(self, *_args):
        pass


def test_behind_one_proxy_each_client_has_its_own_rate_limit(web_env, tmp_path):
    web = WebProcess({**web_env, "PROXY_HOPS": "1", "API_RATE_LIMIT": "3/minute"}, tmp_path / "web.log")
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), type("Hop", (_Forwarder,), {"upstream": web.port}))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    port = proxy.server_address[1]
    try:
        # clients on addresses of their own, all through the proxy (which the web process sees)
        assert [get(port, "/reports", source="127.0.0.2") for _ in range(4)] == [200, 200, 200, 429]
        assert get(port, "/reports", source="127.0.0.3") == 200
        # a client forging X-Forwarded-For is still known by the address the proxy saw
        forged = {"X-Forwarded-For": "127.0.0.3"}
        assert [get(port, "/reports", forged, source="127.0.0.4") for _ in range(4)] == [200, 200, 200, 429]
        assert get(port, "/reports", source="127.0.0.3") == 200
    finally:
        proxy.shutdown()
        proxy.server_close()
        web.stop()

