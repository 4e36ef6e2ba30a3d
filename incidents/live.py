"""The incident page's live channel: every new or changed timeline event (SSE id = its seq),
then the names of the page's parts those events changed.

On the hub the viewers of one incident in a web process share one feed: the events are read
once per notification and each is rendered once per rendering context (time zone, whether
the viewer may change the incident, whether they wrote it), with the viewer's CSRF token put
in afterwards. On the polling path each viewer reads and renders for itself, as before.
"""

import json
import time

import structlog
from django.contrib.auth import get_user_model
from django.db.models.signals import post_init, post_save
from django.http import Http404
from django.middleware.csrf import get_token
from django.utils import timezone

from common import live, sse
from common.inputs import parse_id
from incidents.models import Incident, Status
from incidents.panels import parts_changed_by
from incidents.selectors import timeline_changes_after
from incidents.templatetags.timeline import EventMarkup
from teams.access import CHANGE, VIEW, can, get_object_for_user

log = structlog.get_logger(__name__)

# The polling path: how often it looks for changes, and how often it looks at access again.
POLL_SECONDS = 0.3
ACCESS_RECHECK_SECONDS = 5
READ_LIMIT = 100
# Where the viewer's own CSRF token goes in markup rendered once for many viewers.
CSRF_SLOT = "vigil-csrf-slot"


# The open incidents (the dashboard's list): one declared, resolved, renamed, re-rated.
LIST_TOPIC = "incidents:open"


def topic(incident_id) -> str:
    return f"incident:{incident_id}"


def access_topic(incident_id) -> str:
    return f"access:incident:{incident_id}"


def stream_position(request) -> int:
    """Where a stream resumes: the browser's Last-Event-ID, or ?after= on a fresh connect."""
    candidates = [request.headers.get("Last-Event-ID", ""), request.GET.get("after", "")]
    return max((pk for c in candidates if (pk := parse_id(c)) is not None), default=0)


def stream_rights(user_pk, incident_pk):
    """None when the person may no longer view the incident, else whether they may change
    it, from fresh rows (not the stream's copies)."""
    user = get_user_model().objects.filter(pk=user_pk, is_active=True).first()
    incident = Incident.objects.filter(pk=incident_pk).first()
    if user is None or incident is None or not can(user, VIEW, incident):
        return None
    return can(user, CHANGE, incident)


class TimelineChannel(live.Channel):
    poll_seconds = POLL_SECONDS

    def __init__(self, *, incident, user, can_change, csrf_token, after):
        self.incident, self.user = incident, user
        self.can_change, self.csrf_token, self.after = can_change, csrf_token, after
        self.time_zone = getattr(user, "time_zone", "") or "UTC"
        self.topics = frozenset(
            {topic(incident.pk), access_topic(incident.pk), f"access:user:{user.pk}"}
        )
        self._checked = time.monotonic()
        self._connected = False  # the factory checked access a moment ago

    def _access_gone(self) -> bool:
        now = stream_rights(self.user.pk, self.incident.pk)
        if now is None:
            log.info(
                "timeline_stream.access_gone", incident_id=self.incident.pk, user_id=self.user.pk
            )
            return True
        self.can_change = now
        return False

    def _refresh(self, events) -> str:
        if parts := parts_changed_by(event.kind for event in events):
            return sse.event("refresh", json.dumps(parts))
        return ""

    # the polling path: one viewer's own reads, every POLL_SECONDS
    def poll(self):
        # Access can be taken away while the page is open (a private incident's viewer
        # removed from its team, an account deactivated): look again every few seconds and
        # end the stream; the browser's reconnect then gets the 404 anyone else gets.
        if time.monotonic() - self._checked >= ACCESS_RECHECK_SECONDS:
            self._checked = time.monotonic()
            if self._access_gone():
                return None
        events = timeline_changes_after(incident_id=self.incident.pk, after=self.after)
        chunks = []
        with timezone.override(self.time_zone):
            markup = EventMarkup(
                incident_id=self.incident.pk,
                can_change=self.can_change,
                user_id=self.user.pk,
                csrf_token=self.csrf_token,
            )
            for event in events:
                chunks.append(sse.event("timeline", markup.event(event), id=event.seq))
                self.after = event.seq
        return "".join(chunks) + self._refresh(events)

    # the hub path: woken by a notification, reading from the process's shared feed
    async def read(self, changed):
        recheck, self._connected = self._connected and changed - {topic(self.incident.pk)}, True
        if recheck and await live.run_released(self._access_gone):
            return None
        if topic(self.incident.pk) not in changed:
            return ""
        feed = live.hub().feed(
            topic(self.incident.pk),
            read=self._read_rows,
            position=lambda event: event.seq,
            key=lambda event: event.pk,
            limit=READ_LIMIT,
        )
        events = await feed.since(self.after)
        if not events:
            return ""
        chunks = []
        for event in events:
            mine = event.author_id is not None and event.author_id == self.user.pk
            context = (self.time_zone, self.can_change, mine)
            chunks.append(feed.rendered(event, context, lambda e=event, m=mine: self._render(e, m)))
        self.after = events[-1].seq
        text = "".join(chunks)
        if self.can_change:
            text = text.replace(CSRF_SLOT, self.csrf_token)
        return text + self._refresh(events)

    def _read_rows(self, *, after):
        return list(
            timeline_changes_after(incident_id=self.incident.pk, after=after, limit=READ_LIMIT)
        )

    def _render(self, event, mine) -> str:
        with timezone.override(self.time_zone):
            markup = EventMarkup(
                incident_id=self.incident.pk,
                can_change=self.can_change,
                user_id=event.author_id if mine else None,
                csrf_token=CSRF_SLOT,
            )
            return sse.event("timeline", markup.event(event), id=event.seq)


def timeline_channel(request, user, value) -> TimelineChannel:
    """?incident=<id>: the incident's timeline, from the request's position."""
    pk = parse_id(value)
    if pk is None:
        raise Http404("No such incident.")
    incident = get_object_for_user(user, Incident.objects.all(), pk=pk)
    return TimelineChannel(
        incident=incident,
        user=user,
        can_change=can(user, CHANGE, incident),
        csrf_token=get_token(request),
        after=stream_position(request),
    )


def timeline_versions(ids):
    """The safety poll: each watched incident's timeline seq, in one query."""
    pks = [pk for value in ids if (pk := parse_id(value)) is not None]
    return {
        str(pk): seq
        for pk, seq in Incident.objects.filter(pk__in=pks).values_list("pk", "timeline_seq")
    }


def open_list_versions(keys):
    """The safety poll: what the dashboard shows of the open incidents, in one query."""
    rows = (
        Incident.objects.exclude(status=Status.RESOLVED)
        .order_by("pk")
        .values_list("pk", "status", "severity_id", "title", "is_private", "team_id")
    )
    return {"open": hash(tuple(rows))}


def _access_state(instance):
    # From the instance's own fields, never loading a deferred one (that would be a query).
    return instance.__dict__.get("is_private", None), instance.__dict__.get("team_id", None)


def _remember_access(sender, instance, **kwargs):
    instance._loaded_access = _access_state(instance)


def _announce_save(sender, instance, created, **kwargs):
    """Any saved incident changes the lists of incidents (the dashboard's); a change of who
    may see it (made private, moved to another team) rechecks the access of every stream
    open on it."""
    now = _access_state(instance)
    topics = [LIST_TOPIC]
    if not created and getattr(instance, "_loaded_access", None) != now:
        topics.append(access_topic(instance.pk))
    live.publish(*topics)
    instance._loaded_access = now


def connect():
    live.register_channel("incident", timeline_channel)
    live.register_versions("incident", timeline_versions)
    live.register_versions("incidents", open_list_versions)
    post_init.connect(_remember_access, sender=Incident, dispatch_uid="incident-live-access")
    post_save.connect(_announce_save, sender=Incident, dispatch_uid="incident-live-save")
