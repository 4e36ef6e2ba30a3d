"""Live streams never starve the database pool (the production web tier, DATABASE_POOL=true).

Every page holds the bell's stream and an incident page the timeline's. A stream must hold no
connection between polls and give back what it used however it ends, so that opening pages
can never keep an alert webhook or /health from a connection.
"""

import asyncio
import re
import time

import pytest
from django.db import connection
from django.utils import timezone

from alerts.services import integration_create
from bench.sse_pool_bench import (
    Web,
    drop,
    normal_requests,
    open_stream,
    run,
    session_cookie,
    web_connections,
    webhook_burst,
)
from checks.models import Heartbeat
from incidents import services
from incidents.models import Severity
from teams.models import Role
from tests import celery_worker
from tests.factories import TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

POOL_MAX = 4  # small, so a single leaked connection per few streams shows at once
APP_NAME = "vigil-stream-pool-test"


@pytest.fixture
def site():
    team = TeamFactory(slug="platform")
    alex = member(team, Role.RESPONDER, username="alex")
    incident = services.incident_declare(
        title="Checkout errors",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=alex,
    )
    _, token = integration_create(team=team, kind="alertmanager", name="prometheus")
    integration = team.integrations.get()
    Heartbeat.objects.update_or_create(name="beat", defaults={"at": timezone.now()})
    paths = ["/paging/bell/stream", f"/incidents/{incident.pk}/events/stream"]
    return {
        "cookie": session_cookie("alex"),
        "paths": paths,
        "webhook": integration.webhook_path(token),
    }


@pytest.fixture
def web():
    process = Web(
        database_url=celery_worker.test_database_url(),
        workers=2,
        pool_max=POOL_MAX,
        application_name=APP_NAME,
        env={"LIVE_STREAM_DB_SLOTS": "2"},
    )
    try:
        yield process.start()
    finally:
        process.stop()
        connection.close()


def problems(log):
    """Lines above debug that a closed tab must never cause."""
    return [
        line
        for line in log.splitlines()
        if re.search(r"\[(error|critical)\s*\]|Traceback|Exception in ASGI application", line)
    ]


async def open_and_drop(web, site, total, wave=50):
    for start in range(0, total, wave):
        streams = await asyncio.gather(
            *(
                open_stream(web.port, site["paths"][(start + i) % 2], site["cookie"])
                for i in range(min(wave, total - start))
            )
        )
        await asyncio.gather(*(drop(writer) for _, writer in streams))


def test_two_hundred_dropped_streams_give_every_connection_back_and_log_nothing(web, site):
    async def scenario():
        await open_and_drop(web, site, 200)
        await asyncio.sleep(1)  # the server notices the last closed sockets
        # Every connection of both pools at once: a leaked one would make some wait for the
        # pool's 10 s timeout and answer 500.
        return await webhook_burst(web, site["webhook"], 2 * POOL_MAX)

    burst = run(scenario())
    assert [status for status, _ in burst] == [202] * (2 * POOL_MAX)
    assert max(took for _, took in burst) < 8, burst
    assert web_connections(APP_NAME) <= 2 * POOL_MAX
    assert problems(web.output()) == []


def test_five_hundred_held_streams_leave_the_pool_to_pages_webhooks_and_health(web, site):
    async def scenario():
        held = []
        for start in range(0, 500, 50):
            held += await asyncio.gather(
                *(
                    open_stream(web.port, site["paths"][(start + i) % 2], site["cookie"], 60)
                    for i in range(50)
                )
            )
        try:
            assert len(held) == 500
            started = time.monotonic()
            results = await normal_requests(web, site["cookie"], site["webhook"], rounds=3)
            return results, time.monotonic() - started
        finally:
            await asyncio.gather(*(drop(writer) for _, writer in held))

    results, took = run(scenario())
    assert [s for s, _ in results["webhook"]] == [202] * 3
    assert [s for s, _ in results["health"]] == [200] * 3
    assert [s for s, _ in results["page"]] == [200] * 3
    # Each answers well inside the pool's 10 s wait, with 500 streams polling beside them.
    assert max(t for rows in results.values() for _, t in rows) < 8, results
    assert web_connections(APP_NAME) <= 2 * POOL_MAX
    assert problems(web.output()) == [], took
