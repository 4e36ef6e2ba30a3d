"""Dependency probes shared by /health and the Checks page."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from checks.models import Heartbeat


@dataclass
class Probe:
    name: str
    ok: bool
    detail: str
    age_seconds: float | None = None


def probe_database() -> Probe:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"
        return Probe("database", False, f"{type(exc).__name__}: {exc}"[:200])
    return Probe("database", True, connection.vendor)


def probe_broker() -> Probe:
    url = settings.CELERY_BROKER_URL
    try:
        with Connection(
            url,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as exc:  # kombu raises several families of errors
        return Probe("broker", False, f"{type(exc).__name__}: {exc}"[:200])
    return Probe("broker", True, url.split("://", 1)[0])


def probe_beat() -> Probe:
    beat = Heartbeat.objects.filter(name="beat").first()
    if beat is None:
        return Probe("beat", False, "no tick recorded yet")
    age = (timezone.now() - beat.at).total_seconds()
    ok = age <= settings.HEALTH_BEAT_MAX_AGE.total_seconds()
    detail = "ticking" if ok else f"last tick {int(age)} s ago"
    return Probe("beat", ok, detail, age_seconds=round(age, 1))


def probe_all() -> list[Probe]:
    database = probe_database()
    broker = probe_broker()
    beat = probe_beat() if database.ok else Probe("beat", False, "database is down")
    return [database, broker, beat]
