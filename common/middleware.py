"""Cross-cutting request middleware: request ids, CSP, the viewer's time zone, HTMX messages,
refusing input no view can store."""

import json
import re
import uuid
from urllib.parse import unquote_to_bytes

import structlog
from django.conf import settings
from django.contrib import messages
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import Resolver404, is_valid_path
from django.utils import timezone
from django.views.defaults import page_not_found

from common.inputs import InputError, unstorable, unstorable_in_json
from common.logs import redact_secret_paths
from common.timezones import zone_or_utc

logger = structlog.get_logger(__name__)

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
        timezone.activate(zone_or_utc(tzname))
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


class RequestInputMiddleware:
    """A path, query string or form (urlencoded or multipart) holding a NUL, an unpaired
    surrogate or bytes that are not UTF-8 is answered 400 with the reason, so no view ever
    sees it: PostgreSQL refuses NUL in text, and such a request answered 500. JSON sent to
    the API is checked the same way. A view marked `reads_own_body` (the alert webhooks)
    cleans its body itself. An InputError raised by a view is the same 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        problem = _path_problem(request) or _query_problem(request)
        if not problem and not getattr(view_func, "reads_own_body", False):
            problem = _body_problem(request)
        return _refusal(request, problem) if problem else None

    def process_exception(self, request, exception):
        if isinstance(exception, InputError):
            return _refusal(request, str(exception))
        return None


class DatabaseUnavailableMiddleware:
    """The database refusing for now (every pooled connection taken, the server down or
    restarting, a lock or statement timeout, a deadlock) is answered 503 with Retry-After,
    never 500: the request may be sent again, and Alertmanager and the API's clients do.
    The answer touches no database."""

    RETRY_AFTER_SECONDS = 5
    REASON = "The database is busy or unreachable right now; nothing was changed. Try again."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        cause = exception.__cause__
        if type(cause).__module__ == "sqlite3" and "locked" not in str(cause):
            return None  # SQLite says OperationalError for bad SQL too: a bug, not a wait
        logger.warning(
            "database_unavailable",
            path=redact_secret_paths(request.path),
            error=type(cause or exception).__name__,
        )
        if "text/html" in request.headers.get("Accept", "") and not _in_api(request):
            response = HttpResponse(
                render_to_string("503.html", {"reason": self.REASON}), status=503
            )
        else:
            response = JsonResponse({"detail": self.REASON}, status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response


def _in_api(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and "api" in match.namespaces


def _refusal(request, reason: str):
    if _in_api(request) or request.content_type == "application/json":
        return JsonResponse({"detail": reason}, status=400)
    return render(request, "400.html", {"reason": reason}, status=400)


def _path_problem(request) -> str:
    problem = unstorable(request.path_info)
    return f"The address contains {problem}." if problem else ""


def _query_problem(request) -> str:
    scope = getattr(request, "scope", None)
    if scope is not None:  # ASGI keeps the bytes as sent (some clients pass text)
        raw = scope.get("query_string", b"")
        raw = raw.encode() if isinstance(raw, str) else raw
    else:  # WSGI passes them as latin-1 (PEP 3333)
        raw = request.META.get("QUERY_STRING", "").encode("latin-1", "replace")
    return _encoded_problem(raw, "query parameter", request.encoding)


def _encoded_problem(raw: bytes, what: str, encoding: str | None) -> str:
    """What is wrong with the first bad name or value of `a=1&b=2`, or ""."""
    encoding = encoding or settings.DEFAULT_CHARSET
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        name, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in (name, value))
        label = f"The {what} {name.decode(encoding, 'replace')[:40]!r}"
        for part, whose in ((name, f"The name of a {what}"), (value, label)):
            try:
                problem = unstorable(part.decode(encoding))
            except UnicodeDecodeError:
                return f"{whose} is not valid {encoding.upper()} text."
            if problem:
                return f"{whose} contains {problem}, which Vigil cannot store."
    return ""


def _body_problem(request) -> str:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return ""
    if request.content_type == "application/x-www-form-urlencoded":
        return _encoded_problem(request.body, "form field", request.encoding)
    if request.content_type == "multipart/form-data":
        # Django has decoded the parts (bytes that are not UTF-8 read as U+FFFD).
        for name, values in [*request.POST.lists(), *request.FILES.lists()]:
            texts = [name, *(getattr(v, "name", v) or "" for v in values)]
            if problem := next(filter(None, map(unstorable, texts)), ""):
                return f"The form field {name[:40]!r} contains {problem}."
        return ""
    if _in_api(request) and request.body:
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            return ""  # not JSON: the API's own parser says so
        problem = unstorable_in_json(data)
        return f"The JSON body contains {problem}, which Vigil cannot store." if problem else ""
    return ""


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
