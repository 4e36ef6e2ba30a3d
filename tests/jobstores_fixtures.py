"""Shared set-up for the job-store tests: a team with an on-call path, a job store on a Redis
database of its own (emptied before and after), and the seed's job JSON."""

import datetime as dt
import json
import os
import urllib.parse

import pytest
import redis

from jobstores.models import JobStore
from tests.alerts_fixtures import oncall_team

# The watched Redis: the suite's Redis server, a database number nothing else uses.
STORE_DB = int(os.environ.get("JOBSTORES_TEST_DB", "12"))
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def store_url(db=STORE_DB) -> str:
    base = urllib.parse.urlsplit(os.environ["REDIS_URL"])
    return f"redis://{base.hostname}:{base.port or 6379}/{db}"


@pytest.fixture
def watched():
    client = redis.Redis.from_url(store_url())
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def seed_job(client, job_id, *, status="processing", age=600, now=NOW, message="hello"):
    """A job as the source document's platform writes it: naive UTC started_at."""
    started = (now - dt.timedelta(seconds=age)).replace(tzinfo=None)
    job = {
        "job_id": job_id,
        "user_id": f"user-{job_id}",
        "message": message,
        "status": status,
        "started_at": started.isoformat(),
    }
    client.set(f"job:{job_id}", json.dumps(job))
    return job


@pytest.fixture
def on_call():
    team, people = oncall_team(slug="agents")
    return team, people


@pytest.fixture
def store(on_call):
    team, _ = on_call
    return JobStore.objects.create(team=team, name="Agent platform", redis_url=store_url())
