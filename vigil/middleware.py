"""Cross-cutting request middleware: request ids, CSP, the viewer's time zone, HTMX messages."""

import json
import re
import uuid
import zoneinfo

import structlog
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import Resolver404, is_valid_path
from django.utils import timezone
from django.views.defaults import page_not_found

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Binds a request id to every log line of a request and echoes it as X-Request-ID.

    A well-formed id from a proxy (X-Request-ID) is kept so logs line up across hops.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    """No inline or eval script anywhere; Vigil is never framed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class UserTimezoneMiddleware:
    """Every timestamp is rendered in the viewer's own time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tzname = getattr(user, "time_zone", "") if user and user.is_authenticated else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(tzname or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class NotFoundPageMiddleware:
    """Under DEBUG Django answers a 404 with its technical page; people trying Vigil with
    `make run` get the site's own page instead. Genuine 500s keep the technical page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and not is_valid_path(request.path_info, getattr(request, "urlconf", None))
        ):
            return page_not_found(request, Resolver404(request.path_info))
        return response

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None


class HtmxMessagesMiddleware:
    """Django messages reach the page after an HTMX request too.

    A partial response does not re-render the layout, so pending messages are appended as an
    out-of-band swap of the messages area.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.streaming:
            return response
        if response.status_code in (301, 302, 303) or "HX-Redirect" in response:
            return response  # the next full page shows them
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        pending = list(messages.get_messages(request))
        if pending:
            response.write(
                render_to_string("includes/messages.html", {"messages": pending, "oob": True})
            )
        return response


def htmx_config() -> str:
    return json.dumps(
        {
            "allowEval": False,
            "allowScriptTags": False,
            "includeIndicatorStyles": False,
            "selfRequestsOnly": True,
            "historyCacheSize": 0,
            # Swapped-in content is live (its forms and links handled by htmx) the moment it
            # is shown: in the default 20 ms before, a press submitted a form natively and
            # reloaded the page.
            "defaultSettleDelay": 0,
        }
    )
