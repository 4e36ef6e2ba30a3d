"""The layout's shared behaviour: messages after HTMX requests, CSRF for HTMX, headers."""

import pytest
from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from common.middleware import HtmxMessagesMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _through_middleware(view, request):
    handler = HtmxMessagesMiddleware(view)
    handler = HtmxMiddleware(handler)
    handler = MessageMiddleware(handler)
    handler = SessionMiddleware(handler)
    return handler(request)


def _view_with_message(request):
    messages.success(request, "Incident acknowledged.")
    return HttpResponse("<p>partial</p>", content_type="text/html; charset=utf-8")


def test_messages_reach_the_page_after_an_htmx_request():
    request = RequestFactory().post("/x", HTTP_HX_REQUEST="true")
    response = _through_middleware(_view_with_message, request)
    html = response.content.decode()
    assert html.startswith("<p>partial</p>")
    assert 'id="messages"' in html and 'hx-swap-oob="true"' in html
    assert "Incident acknowledged." in html


def test_a_normal_request_leaves_messages_for_the_next_page():
    request = RequestFactory().post("/x")
    response = _through_middleware(_view_with_message, request)
    assert "Incident acknowledged." not in response.content.decode()


def test_the_body_carries_the_csrf_token_for_htmx(client):
    client.force_login(UserFactory())
    html = client.get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_every_page_in_the_header_is_reachable(client):
    client.force_login(UserFactory())
    for path in ["/", "/incidents/", "/oncall/", "/runbooks/", "/postmortems/", "/checks/"]:
        assert client.get(path).status_code == 200, path


def test_pages_need_a_login(client):
    for path in ["/", "/incidents/", "/oncall/", "/checks/", "/profile/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
