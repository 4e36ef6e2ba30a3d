import os

import pytest

# Fixtures shared by the job-store modules (a watched Redis database, a store, a team).
pytest_plugins = ["tests.jobstores_fixtures"]

# `make test` runs on PostgreSQL and Redis; running on the embedded default would hide bugs.
if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
    raise pytest.UsageError(
        "The suite runs on PostgreSQL and Redis: use `make test`, or set DATABASE_URL "
        "(postgres://...) and REDIS_URL."
    )

# pytest-django's live_server runs the ORM from Playwright's event-loop thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The fake receivers listen on loopback, which outgoing URLs may not reach unless allowed;
# workers and web processes the tests start inherit this. The SSRF tests clear it.
LOOPBACK_RECEIVERS = "127.0.0.1"
os.environ["OUTBOUND_ALLOWED_HOSTS"] = LOOPBACK_RECEIVERS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _eager_celery_off(settings):
    # Tests that want the worker start a real one; everything else runs tasks explicitly.
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.fixture(autouse=True)
def _status_pages_uncached():
    """A rolled-back test leaves its public pages in the cache under the same generation;
    the next test starts a new one."""
    from status.caching import _move_on

    _move_on()


@pytest.fixture(autouse=True)
def _outbound_allows_loopback(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = [LOOPBACK_RECEIVERS]


@pytest.fixture(autouse=True)
def _migration_rows(request):
    """Transactional tests empty every table afterwards, the migrations' rows too (SEV1–SEV4
    and the built-in 3 AM drill); put them back so each test starts with what a real database
    has."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        yield
        return
    request.getfixturevalue("_django_db_helper")
    import importlib

    from django.apps import apps as django_apps

    importlib.import_module("incidents.migrations.0002_severities").create(django_apps, None)
    importlib.import_module("reports.migrations.0002_three_am_night").add(django_apps, None)
    yield


# The three personas of the access tests: a member of the team (the responder), a viewer,
# and a member of another team (the outsider).
@pytest.fixture
def team():
    from tests.factories import TeamFactory

    return TeamFactory(slug="platform", name="Platform")


@pytest.fixture
def other_team():
    from tests.factories import TeamFactory

    return TeamFactory(slug="payments", name="Payments")


@pytest.fixture
def responder(team):
    from teams.models import Role
    from tests.factories import member

    return member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")


@pytest.fixture
def viewer(team):
    from teams.models import Role
    from tests.factories import member

    return member(team, Role.VIEWER)


@pytest.fixture
def outsider(other_team):
    from teams.models import Role
    from tests.factories import member

    return member(other_team, Role.RESPONDER)


@pytest.fixture
def oncall_demo():
    """The demo people and the Platform team with its rotation, as seed_demo makes them."""
    from django.db import transaction

    from accounts import demo as accounts_demo
    from oncall import demo as oncall_demo_data

    with transaction.atomic():
        users = accounts_demo.seed()
        team = oncall_demo_data.seed(users=users)
    return users, team


@pytest.fixture
def web_processes():
    """Two real uvicorn processes on the test database: a colleague's page on another host."""
    from django.db import connection

    from tests.test_incidents_live import WebProcess, free_port

    first = WebProcess(free_port())
    second = WebProcess(free_port(exclude={first.port}))
    try:
        yield first.start(), second.start()
    finally:
        first.stop()
        second.stop()
        connection.close()


@pytest.fixture
def web_process():
    """One real uvicorn process on the test database: the live streams need ASGI."""
    from django.db import connection

    from tests.test_incidents_live import WebProcess, free_port

    process = WebProcess(free_port())
    try:
        yield process.start()
    finally:
        process.stop()
        connection.close()


def pytest_collection_modifyitems(config, items):
    """A fixture named `page` makes pytest-playwright parametrise a test and start Chromium;
    in a database test that leaves Playwright's event loop running for every async test after
    it. Browser tests say so with the browser marker; any other test must not be given one."""
    strays = [
        item.nodeid
        for item in items
        if "browser_name" in getattr(getattr(item, "callspec", None), "params", {})
        and item.get_closest_marker("browser") is None
    ]
    if strays:
        raise pytest.UsageError(
            "These tests get a browser without the browser marker (a fixture named 'page'?): "
            + ", ".join(strays[:5])
        )
