"""Faults: Redis stopped during ingestion; a worker killed with SIGKILL mid-delivery.
Each test runs its own redis-server on a port of its own and stops only that one."""

import time

import pytest

from alerts.models import AlertGroup
from oncall.models import ContactMethod
from paging.models import DeliveryAttempt, Notification
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
)
from tests.celery_worker import running_worker, wait_for
from tests.paging_fakes import FakeHTTP, http_post, private_redis, running_web, worker_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.slow,
]

REDIS_PORT, WEB_PORT, HTTP_PORT = 18611, 18612, 18613


def test_ingestion_answers_while_redis_is_down_and_pages_go_out_when_it_is_back():
    redis_url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    team, people = oncall_team(contacts=False)
    integration, token = integration_for(team)
    with FakeHTTP(HTTP_PORT) as http:
        ContactMethod.objects.create(
            user=people["primary"], kind="webhook", value=http.url("/hook")
        )
        with (
            private_redis(REDIS_PORT) as redis,
            running_web(WEB_PORT, env={"REDIS_URL": redis_url}),
        ):
            redis.terminate()
            redis.wait(timeout=10)
            url = f"http://127.0.0.1:{WEB_PORT}{integration.webhook_path()}"
            started = time.monotonic()
            statuses = [
                http_post(
                    url,
                    am_payload(name=f"Outage{i}"),
                    headers={"Authorization": f"Bearer {token}"},
                )[0]
                for i in range(3)
            ]
            elapsed = time.monotonic() - started
        assert statuses == [202, 202, 202]
        assert elapsed < 5, f"ingestion waited on the broker ({elapsed:.1f} s)"
        assert AlertGroup.objects.count() == 3
        assert not http.accepted

        # Redis is back (same port, empty: every queued message was lost with it).
        with (
            private_redis(REDIS_PORT),
            running_worker(beat=True, env=worker_env(redis_url=redis_url)),
        ):
            delivered = wait_for(lambda: len(http.accepted_at("/hook")) >= 3, timeout=40)
            time.sleep(2)
        assert delivered, list(Notification.objects.values_list("key", "state", "last_error"))
        assert len(http.accepted_at("/hook")) == 3
        assert sorted(r["json"]["alert"]["name"] for r in http.accepted) == [
            "Outage0",
            "Outage1",
            "Outage2",
        ]


def test_a_worker_killed_mid_delivery_delivers_once_when_a_worker_returns(client):
    from tests.alerts_fixtures import post

    team, people = oncall_team(contacts=False)
    integration, token = integration_for(team)
    with FakeHTTP(HTTP_PORT, hang_first=True) as http:
        ContactMethod.objects.create(
            user=people["primary"], kind="webhook", value=http.url("/hook")
        )
        with running_worker(beat=True, env=worker_env()) as worker:
            post(client, integration, am_payload(), token=token)
            assert http.hanging.wait(30), "the delivery never reached the provider"
            note = Notification.objects.get(channel="webhook")
            assert note.state == "sending"
            worker.kill()  # SIGKILL: no clean-up, the task is lost mid-request
            worker.wait()
        http.release()
        assert not http.accepted
        with running_worker(beat=True, env=worker_env()):
            delivered = wait_for(lambda: http.accepted_at("/hook"), timeout=40)
            time.sleep(2)
        assert delivered
        assert len(http.accepted_at("/hook")) == 1
        note.refresh_from_db()
        assert note.state == "sent" and note.attempts == 2
        assert DeliveryAttempt.objects.filter(notification=note).count() == 2
