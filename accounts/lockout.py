"""Login throttling: 5 failures for a username from one address lock that pair for 15 minutes.

State lives in the database so every web host sees the same count.
"""

from django.conf import settings
from django.utils import timezone

from accounts.models import LoginFailure


def client_ip(request) -> str:
    # Behind a proxy the deployment sets the real address in REMOTE_ADDR (gunicorn
    # --forwarded-allow-ips); trusting X-Forwarded-For here would let anyone pick an address.
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104


def is_locked(username: str, ip: str) -> bool:
    since = timezone.now() - settings.LOGIN_LOCKOUT
    recent = LoginFailure.objects.filter(
        username__iexact=username, ip_address=ip, at__gte=since
    ).count()
    return recent >= settings.LOGIN_FAILURE_LIMIT


def record_failure(username: str, ip: str) -> None:
    LoginFailure.objects.create(username=username[:150], ip_address=ip)


def clear_failures(username: str, ip: str) -> None:
    LoginFailure.objects.filter(username__iexact=username, ip_address=ip).delete()
