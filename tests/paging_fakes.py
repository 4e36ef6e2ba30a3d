"""Fake providers on 127.0.0.1 for the paging tests: a Slack/PagerDuty/webhook-compatible
HTTP receiver, a small SMTP server, a private redis-server, and Vigil under uvicorn."""

import contextlib
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.celery_worker import ROOT, test_database_url


def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class FakeHTTP:
    """Answers POSTs with the next status in `script` (then 200). Keeps every request and
    the ones it accepted (answered 2xx). hang_first: the first request never gets an answer
    until release() — a provider that is slow while a worker dies."""

    def __init__(self, port, script=None, hang_first=False):
        self.port = port
        self.requests, self.accepted = [], []
        # {path: [status, ...]}: the answers a path gives first, then 200.
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.hang_first = hang_first
        self.hanging = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = self.headers.get("Content-Type") == "application/x-www-form-urlencoded"
                record = {
                    "at": time.perf_counter(),
                    "path": self.path,
                    "headers": dict(self.headers),
                    "raw": body,
                    "json": None if form else json.loads(body or b"null"),
                    "form": dict(urllib.parse.parse_qsl(body.decode())) if form else None,
                }
                with fake._lock:
                    fake.requests.append(record)
                    first = len(fake.requests) == 1
                    queued = fake.script.get(self.path) or []
                    status = queued.pop(0) if queued else 200
                if fake.hang_first and first:
                    fake.hanging.set()
                    fake._release.wait(60)
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')
                if 200 <= status < 300:
                    with fake._lock:
                        fake.accepted.append(record)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted_at(self, path):
        return [r for r in self.accepted if r["path"] == path]

    def release(self):
        self._release.set()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()


class FakeSMTP:
    """Just enough SMTP (HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to receive mail."""

    def __init__(self, port):
        self.port = port
        self.messages = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 fake-smtp ready")
                rcpt, sender = [], None
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode(errors="replace").strip()
                    verb = cmd[:4].upper()
                    if verb in ("HELO", "EHLO"):
                        self.reply("250 fake-smtp")
                    elif verb == "MAIL":
                        sender, rcpt = cmd, []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        rcpt.append(cmd.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = []
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b".\n", b""):
                                break
                            data.append(chunk)
                        fake.messages.append(
                            {
                                "from": sender,
                                "to": rcpt,
                                "data": b"".join(data).decode(errors="replace"),
                            }
                        )
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def private_redis(port):
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def worker_env(*, smtp_port=None, pagerduty_url=None, redis_url=None, extra=None):
    env = {
        "PAGING_BACKOFF_BASE": "0.3",
        "PAGING_BACKOFF_MAX": "2",
        "PAGING_SENDING_TIMEOUT": "3",
        "PAGING_REQUEUE_AFTER": "3",
        "PAGING_HTTP_TIMEOUT": "20",
        "SITE_URL": "http://127.0.0.1:18699",
    }
    if smtp_port:
        env.update(
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp_port),
            }
        )
    if pagerduty_url:
        env["PAGERDUTY_EVENTS_URL"] = pagerduty_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running_web(port, *, env=None, workers=1):
    """Vigil itself under uvicorn against the test database."""
    log = tempfile.NamedTemporaryFile(prefix="vigil-web-", suffix=".log", delete=False)  # noqa: SIM115
    full_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CONN_MAX_AGE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **(env or {}),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "vigil.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            wait_port(port, timeout=30)
        except RuntimeError as exc:
            raise RuntimeError(Path(log.name).read_text()) from exc
        proc.log_path = log.name
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_post(url, payload, *, headers=None, timeout=30):
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
