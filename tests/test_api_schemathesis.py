"""Schemathesis over the whole OpenAPI document, with a valid token on the demo data: every
operation, generated inputs (valid and not), no 5xx, and every response as documented."""

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from accounts.tokens import api_token_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

application = get_wsgi_application()
# The document as Vigil serves it to API clients.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)

# Not a server error, and the status code, content type, headers and body are the documented
# ones. Generated bad input must be a documented 4xx, never a 5xx or an undocumented answer.
CHECKS = (
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
)


@pytest.fixture
def token(fast_passwords):
    """sam (the demo manager) with the demo data. The WSGI app runs in this test's
    transaction, so requests must not close the connection (as Django's test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    call_command("seed_demo", verbosity=0)
    from django.contrib.auth import get_user_model

    _, raw = api_token_create(user=get_user_model().objects.get(username="sam"), name="fuzz")
    yield raw
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_every_operation_answers_as_documented(case, token):
    case.call_and_validate(
        app=application, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )


def test_one_schema_per_name_and_401_documented_everywhere():
    document = schema.raw_schema
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "401" in operation["responses"], f"{method.upper()} {path}"
    # ninja names a component after its class: two classes of one name would share one entry.
    from ninja import Schema

    def all_schemas(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from all_schemas(sub)

    names = [s.__name__ for s in all_schemas(Schema) if s.__module__.split(".")[-1] == "api"]
    assert sorted(names) == sorted(set(names)), "two API schemas share a name"
