"""One lockout for every way to sign in, that parallel guesses and forged addresses cannot
get around."""

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import LoginFailure
from tests import celery_worker
from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def _login(client, username, password, path="login", **extra):
    return client.post(reverse(path), {"username": username, "password": password}, **extra)


def signed_in(client):
    return "_auth_user_id" in client.session


def test_the_admin_login_meets_the_same_lockout(client):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for _ in range(5):
        assert _login(client, "root", "guess", "admin:login").status_code == 200
    _login(client, "root", PASSWORD, "admin:login")
    assert not signed_in(client)
    # ... and the lock the admin's failures set holds at /login/ too, with the reason.
    assert "Too many failed attempts" in _login(client, "root", PASSWORD).content.decode()
    assert not signed_in(client)


def test_a_staff_account_locked_at_the_login_page_cannot_sign_in_at_the_admin(client):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    for _ in range(5):
        _login(client, "root", "guess")
    _login(client, "root", PASSWORD, "admin:login")
    assert not signed_in(client)


def test_failures_from_many_addresses_lock_the_account(client):
    UserFactory(username="alex")
    for n in range(settings.LOGIN_ACCOUNT_FAILURE_LIMIT):
        _login(client, "alex", "guess", REMOTE_ADDR=f"192.0.2.{n + 1}")
    response = _login(client, "alex", PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert "Too many failed attempts" in response.content.decode()
    assert not signed_in(client)


def test_a_locked_attempt_leaves_no_row_of_its_own():
    UserFactory(username="alex")
    request = RequestFactory().post("/login/", REMOTE_ADDR="192.0.2.1")
    for _ in range(5):
        assert authenticate(request, username="alex", password="guess") is None
    for _ in range(10):
        assert authenticate(request, username="alex", password=PASSWORD) is None
    assert LoginFailure.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_twelve_parallel_guesses_check_at_most_five_passwords():
    UserFactory(username="alex")
    start = Barrier(12)

    def guess(n):
        request = RequestFactory().post("/login/", REMOTE_ADDR="192.0.2.1")
        try:
            start.wait(timeout=30)
            authenticate(request, username="alex", password=f"guess-{n}")
            return not getattr(request, "login_locked", False)
        finally:
            connection.close()

    with ThreadPoolExecutor(12) as pool:
        checked = sum(pool.map(guess, range(12)))
    assert checked == settings.LOGIN_FAILURE_LIMIT
    assert LoginFailure.objects.count() == checked


# --- the Docker image's web command, behind a proxy it does not trust ---------------------------


def dockerfile_command():
    """The image's CMD and ENV, as the container would run them."""
    text = Path(ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    cmd = json.loads(re.search(r"^CMD (\[.*\])\s*$", text, re.M).group(1))
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.*)$", text, re.M))))
    return cmd, env


def test_the_image_believes_forwarded_addresses_only_from_named_proxies():
    cmd, env = dockerfile_command()
    assert "--forwarded-allow-ips" not in cmd
    assert "*" not in env.get("FORWARDED_ALLOW_IPS", "*")


class Browser:
    """A client on 127.0.0.2 (not a trusted proxy) that keeps its cookies."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=("127.0.0.2", 0)
        )
        head = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            head["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers={**head, **(headers or {})})
        response = conn.getresponse()
        text = response.read().decode()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, text

    def log_in(self, username, password, forwarded_for):
        _, page = self.request("GET", "/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = f"csrfmiddlewaretoken={token}&username={username}&password={password}"
        return self.request(
            "POST",
            "/login/",
            body=body,
            headers={"X-Forwarded-For": forwarded_for, "Referer": f"http://127.0.0.1:{self.port}/"},
        )


@pytest.fixture
def image_web():
    cmd, image_env = dockerfile_command()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        sys.executable if part == "gunicorn" else part for part in cmd
    ]  # the same command, from this virtualenv
    cmd.insert(1, "-m")
    cmd.insert(2, "gunicorn")
    cmd = [f"127.0.0.1:{port}" if part == "0.0.0.0:8000" else part for part in cmd]
    cmd[cmd.index("--workers") + 1] = "1"
    log = tempfile.NamedTemporaryFile(prefix="vigil-web-", suffix=".log", delete=False)  # noqa: SIM115
    env = {
        **os.environ,
        "FORWARDED_ALLOW_IPS": image_env["FORWARDED_ALLOW_IPS"],
        "DATABASE_URL": celery_worker.test_database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
    }
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, Path(log.name).read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_new_forwarded_address_per_guess_does_not_lift_the_lock(image_web):
    UserFactory(username="alex")
    browser = Browser(image_web)
    for n in range(5):
        status, _ = browser.log_in("alex", "guess", forwarded_for=f"203.0.113.{n + 1}")
        assert status == 200
    status, page = browser.log_in("alex", PASSWORD, forwarded_for="203.0.113.99")
    assert status == 200 and "Too many failed attempts" in page
    assert set(LoginFailure.objects.values_list("ip_address", flat=True)) == {"127.0.0.2"}
