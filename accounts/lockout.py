"""Login throttling, for every way to sign in (the login page, the admin, any `authenticate`):
LOGIN_FAILURE_LIMIT failures for a username from one address lock that pair, and
LOGIN_ACCOUNT_FAILURE_LIMIT failures for a username from any addresses lock the account,
each for LOGIN_LOCKOUT.

State lives in the database so every web host sees the same count. An attempt is recorded
before the password is checked and counted with it, one username's attempts one after
another (a PostgreSQL advisory lock; SQLite writes one at a time anyway), so of N parallel
guesses exactly the limit have their password checked: never more, and never none because
every racer counted every other's row. A correct password then removes its pair's record; a
locked attempt removes its own.
"""

import hashlib

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import LoginFailure


def client_ip(request) -> str:
    # Behind a proxy the deployment sets the real address in REMOTE_ADDR (gunicorn's
    # FORWARDED_ALLOW_IPS names the proxies it trusts); trusting X-Forwarded-For here would
    # let anyone pick an address.
    return (request.META.get("REMOTE_ADDR") if request is not None else "") or "0.0.0.0"  # noqa: S104


def _recent(username: str):
    return LoginFailure.objects.filter(
        username__iexact=username, at__gte=timezone.now() - settings.LOGIN_LOCKOUT
    )


def is_locked(username: str, ip: str) -> bool:
    recent = _recent(username)
    return (
        recent.filter(ip_address=ip).count() >= settings.LOGIN_FAILURE_LIMIT
        or recent.count() >= settings.LOGIN_ACCOUNT_FAILURE_LIMIT
    )


def _lock_key(username: str) -> int:
    digest = hashlib.blake2b(username.lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def begin_attempt(username: str, ip: str) -> LoginFailure | None:
    """Record an attempt as a failure until it proves otherwise; None when locked."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(username)])
        attempt = LoginFailure.objects.create(username=username[:150], ip_address=ip)
        recent = _recent(username)
        if (
            recent.filter(ip_address=ip).count() > settings.LOGIN_FAILURE_LIMIT
            or recent.count() > settings.LOGIN_ACCOUNT_FAILURE_LIMIT
        ):
            attempt.delete()
            return None
    return attempt


def clear_failures(username: str, ip: str) -> None:
    LoginFailure.objects.filter(username__iexact=username, ip_address=ip).delete()
