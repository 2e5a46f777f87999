"""PostgreSQL, Redis and worker processes of a test's own, to stop, freeze, flush and kill.

Fault tests never touch the machine's shared services: each instance here runs on a port
of its own, from a temporary directory, and is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from storemon.config import PROJECT_ROOT

PG_BIN = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout_s: float, what: str, every_s: float = 0.1):
    """Poll until ``condition()`` is truthy; its value, or AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _as_postgres(*command) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


_template: Path | None = None


def _template_cluster() -> Path:
    """One cluster made by initdb (as the postgres user, trust auth for root) for the whole
    session, which every OwnPostgres copies: a copy takes a tenth of an initdb's time."""
    global _template
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="storemon-pg-template-"))
        shutil.chown(directory, "postgres")
        _as_postgres(PG_BIN / "initdb", "-D", directory / "data", "-U", "root", "--auth=trust", "-E", "UTF8")
        import atexit

        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        _template = directory / "data"
    return _template


class OwnPostgres:
    """A PostgreSQL cluster in a temporary directory (a copy of the session's initdb), trust auth for root."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="storemon-pg-"))
        shutil.chown(self.dir, "postgres")
        self.port = free_port()
        self.data = self.dir / "data"
        _as_postgres("cp", "-a", _template_cluster(), self.data)
        self.url = f"postgresql://root@127.0.0.1:{self.port}/storemon"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        _as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-o", options, "-w", "start")

    def create_database(self) -> None:
        with psycopg.connect(f"postgresql://root@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE storemon")

    def stop(self) -> None:
        _as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def _pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *_children(postmaster)]

    def _signal_all(self, signum) -> None:
        for pid in self._pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:  # a backend that ended meanwhile
                pass

    def freeze(self) -> None:
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def remove(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.thaw()
                subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                                "-m", "immediate", "-w", "stop"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=120)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    """A redis-server on a port of its own, keeping nothing on disk."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.answers, 10, "redis-server to start")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def flushall(self) -> None:
        redis.Redis.from_url(self.url).flushall()

    def remove(self) -> None:
        if self.process is not None:
            self.thaw()
            self.stop()


class WorkerProcess:
    """``python -u worker.py`` against the given services, its log kept for a failing test; run
    from the checkout, or from a copy of it at ``root`` (a worker with a disk of its own)."""

    def __init__(self, env: dict[str, str], log_path: Path, root: Path = PROJECT_ROOT):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-u", "worker.py"], cwd=root,
                                        env={**os.environ, "PYTHONPATH": str(root), **env},
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def horses(self) -> list[int]:
        """The work horses (forked children, in process groups of their own) now running."""
        return _children(self.pid)

    def kill(self, signum=signal.SIGKILL) -> None:
        os.kill(self.pid, signum)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        for pid in self.horses():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.log.close()


class WebProcess:
    """The web process as the Procfile runs it (``python -m storemon serve``, waitress) on a
    free port, its log kept for a failing test; ready once /health answers."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "storemon", "serve", "--host=127.0.0.1"],
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PORT": str(self.port), **env},
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self._answers(), 30, "the web process to answer")

    def _answers(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(self.base + "/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)
        self.log.close()


def fresh_copy(directory: Path) -> Path:
    """The code a worker runs, copied into an empty directory: nothing of the checkout's disk
    (its instance/ files, caches, benchmark data) comes along."""
    directory.mkdir(parents=True)
    for name in ("storemon", "migrations"):
        shutil.copytree(PROJECT_ROOT / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("worker.py", "wsgi.py", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, directory / name)
    return directory


class Receiver:
    """A webhook receiver: an HTTP server in a thread of its own that verifies each delivery's
    signature with the Standard Webhooks reference library, as a customer's would, and keeps
    those it accepts. ``script`` gives its next answers, first first: "500", "slow" (answers
    after ``slow_s``, past the sender's timeout), "ok"; then "ok". ``stop`` takes it down
    (connections refused), ``start`` brings it back on the same port."""

    def __init__(self, slow_s: float = 3.0):
        self.verifier, self.slow_s = None, slow_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.accepted: list[tuple[dict, dict]] = []  # (headers in lower case, parsed body) of each accepted one
        self.requests = 0  # every request, whatever became of it
        self.rejected = 0  # signatures that did not verify
        self.script: list[str] = []
        self._lock = __import__("threading").Lock()
        self._server = None
        self.start()

    def trust(self, secret: str) -> None:
        """Verify deliveries with this endpoint's secret."""
        from standardwebhooks.webhooks import Webhook

        self.verifier = Webhook(secret)

    def start(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests += 1
                    answer = receiver.script.pop(0) if receiver.script else "ok"
                if answer == "slow":
                    time.sleep(receiver.slow_s)
                    return self._answer(200)
                if answer == "500":
                    return self._answer(500)
                try:
                    parsed = receiver.verifier.verify(body, dict(self.headers))
                except Exception:
                    with receiver._lock:
                        receiver.rejected += 1
                    return self._answer(401)
                with receiver._lock:
                    receiver.accepted.append(({k.lower(): v for k, v in self.headers.items()}, parsed))
                return self._answer(204)

            def _answer(self, status: int):
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # (the sender gave up waiting)

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self) -> list[dict]:
        with self._lock:
            return [parsed for _, parsed in self.accepted]
