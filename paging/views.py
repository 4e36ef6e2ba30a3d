from xml.sax.saxutils import escape as xml_escape

import structlog
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from common import live, sse
from paging.messages import ACK_SALT
from paging.models import InAppNotification, Page, bell_topic
from paging.selectors import ack_page_for
from paging.services import PagingError, notifications_mark_read, page_acknowledge_by_link

log = structlog.get_logger(__name__)

ACK_LINK_MAX_AGE = 7 * 24 * 3600
BELL_POLL_SECONDS = 1.0
BELL_RETRY_MS = 2000


def _page_id_from_token(token):
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=ACK_LINK_MAX_AGE)
        return int(data["page"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def _page_from_token(token):
    page_id = _page_id_from_token(token)
    if page_id is None:
        return None
    return Page.objects.select_related("incident", "user").filter(pk=page_id).first()


def _ack_render(request, ack, *, status=200, **context):
    return render(request, "paging/ack_link.html", {"ack": ack, **context}, status=status)


def ack_link(request, token):
    """GET shows what is being acknowledged (link scanners must not acknowledge); POST does it.
    The signed token is the credential: no sign-in needed at 3 AM on a phone."""
    page_id = _page_id_from_token(token)
    ack = ack_page_for(page_id=page_id) if page_id is not None else None
    if ack is None:
        return _ack_render(request, None, status=404, error="This link is not valid.")
    if request.method == "POST":
        was_open = ack.can_acknowledge
        try:
            page_acknowledge_by_link(page_id=ack.page.pk)
        except PagingError as exc:
            return _ack_render(request, ack, status=410, error=str(exc))
        ack = ack_page_for(page_id=ack.page.pk)
        # Someone else may have acknowledged first: say so rather than take the credit.
        mine = was_open and ack.escalation.acknowledged_by_id == ack.page.user_id
        return _ack_render(request, ack, done=True, mine=mine)
    if ack.page.ack_link_used_at:
        return _ack_render(
            request, ack, status=410, error="This acknowledgement link was already used."
        )
    return _ack_render(request, ack)


def _twiml(text: str) -> HttpResponse:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Say voice="alice">{xml_escape(text)}</Say></Response>'
    )
    return HttpResponse(body, content_type="text/xml")


@csrf_exempt
@require_POST
def voice_ack(request, token):
    """The telephony provider posts the digit pressed during a page's call. The signed,
    single-use token in the URL is the credential, as for the link in a text or email."""
    page = _page_from_token(token)
    if page is None:
        return _twiml("This page could not be found.")
    if request.POST.get("Digits") != "1":
        return _twiml("Not acknowledged. The page stays open.")
    try:
        page_acknowledge_by_link(page_id=page.pk, via="phone call")
    except PagingError:
        return _twiml("This page was already acknowledged.")
    return _twiml(f"Acknowledged: {page.incident.title}. Thank you.")


@login_required
def notification_list(request):
    items = InAppNotification.objects.filter(user=request.user).select_related("incident")[:100]
    return render(request, "paging/notifications.html", {"items": items})


@login_required
@require_POST
def notification_read_all(request):
    count = notifications_mark_read(user=request.user)
    messages.success(request, f"{count} notification(s) marked read.")
    return redirect("paging_notifications")


def _bell_state(user) -> tuple[int, int]:
    """(unread count, newest notification id): a new page changes the second even when the
    person read everything in between."""
    state = InAppNotification.objects.filter(user=user).aggregate(
        unread=Count("id", filter=Q(read_at__isnull=True)), newest=Max("id")
    )
    return state["unread"], state["newest"] or 0


@login_required
def bell(request):
    unread, _ = _bell_state(request.user)
    response = render(request, "paging/bell.html", {"unread": unread})
    response["Cache-Control"] = "no-store"
    return response


class BellChannel(live.Channel):
    """The bell's markup whenever the person's notifications change. The first message is
    the current state, so a reconnecting page is up to date at once."""

    poll_seconds = BELL_POLL_SECONDS

    def __init__(self, user):
        self.user = user
        self.topics = frozenset({bell_topic(user.pk)})
        self.state = None

    def poll(self):
        state = _bell_state(self.user)
        if state == self.state:
            return ""
        self.state = state
        html = render_to_string("paging/bell.html", {"unread": state[0], "user": self.user})
        return sse.event("bell", html)


def bell_versions(ids):
    """The safety poll: every watched person's bell state, in one query."""
    rows = (
        InAppNotification.objects.filter(user_id__in=[int(i) for i in ids if i.isdigit()])
        .values("user_id")
        .annotate(unread=Count("id", filter=Q(read_at__isnull=True)), newest=Max("id"))
    )
    return {str(row["user_id"]): (row["unread"], row["newest"]) for row in rows}


# The sign-in is checked in common.live.stream_response, in one of the process's slots.
async def bell_stream(request):
    """Server-sent events: the bell alone, for pages without a stream of their own."""
    return await live.stream_response(request, {}, retry_ms=BELL_RETRY_MS)
