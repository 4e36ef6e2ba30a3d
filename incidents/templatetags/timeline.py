"""Timeline events as HTML, in Python.

The incident page shows up to 200 events and the live stream re-renders each change; a
Django template per event cost about 0.4 ms (80 ms a page), Django's date formatting and a
tag call per event most of the rest. `EventMarkup` works out what is the same for every
event of one response (the viewer's time zone, the CSRF field, the event URLs) once, and
`{% timeline_events %}` renders a whole list in one tag. Events come in as
incidents.selectors.TimelineEntry rows. Every value from a person is escaped with `esc`;
`body_html` is Markdown rendered and sanitised by common.markdown when the event is written.
The markup is the one static/js/incidents.js and the tests rely on.
"""

from datetime import UTC
from html import escape as _html_escape

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import mark_safe

from incidents.models import EventKind

register = template.Library()
DELETED_ATTR = ' data-deleted="1"'
KIND_LABELS = dict(EventKind.choices)
DELETE_CONFIRM = "Delete this note? It stays in the audit trail."


def esc(value) -> str:
    return _html_escape(str(value), quote=True)


def utc_stamp(utc, *, seconds=True) -> str:
    """ "2026-11-26 18:46:48" (Django's "Y-m-d H:i:s"); without seconds "Y-m-d H:i"."""
    stamp = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} {utc.hour:02d}:{utc.minute:02d}"
    return f"{stamp}:{utc.second:02d}" if seconds else stamp


def csrf_input(value) -> str:
    """What {% csrf_token %} renders for the context's csrf_token."""
    if not value or value == "NOTPROVIDED":
        return ""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{esc(value)}">'


class EventMarkup:
    """The markup of timeline events as one viewer sees them.

    Per viewer: times in their time zone, and (for those who may change the incident) the
    pin/edit/delete controls with their CSRF field. Everything else comes from the event.
    """

    def __init__(self, *, incident_id, can_change, user_id, csrf_token):
        self.tz = timezone.get_current_timezone()
        self.can_change = bool(can_change)
        self.user_id = user_id
        # "/incidents/<pk>/events/" reversed once, not three times per event.
        self.prefix = reverse("incident_event", args=[incident_id, 0])[: -len("0/")]
        self.csrf_input = csrf_input(csrf_token)
        self._months = {}

    def _month(self, month) -> str:
        name = self._months.get(month)
        if name is None:
            name = self._months[month] = str(MONTHS_3[month].title())
        return name

    def time(self, value) -> str:
        """<time> in the viewer's zone ("M j, H:i"), with the UTC instant as its attributes."""
        utc = value.astimezone(UTC)
        local = value.astimezone(self.tz)
        return (
            f'<time datetime="{utc.isoformat()}" title="{utc_stamp(utc)} UTC">'
            f"{self._month(local.month)} {local.day}, {local.hour:02d}:{local.minute:02d}</time>"
        )

    def _post_form(self, url, hidden, label, confirm="") -> str:
        confirm_attr = f' hx-confirm="{esc(confirm)}"' if confirm else ""
        return (
            f'<form method="post" action="{url}" hx-post="{url}" hx-target="#timeline-inbox" '
            f'hx-swap="beforeend"{confirm_attr} class="inline-form">{self.csrf_input}{hidden}'
            f'<button type="submit" class="link-button">{label}</button></form>'
        )

    def _actions(self, event, pk) -> str:
        base = f"{self.prefix}{pk}/"
        pinned = event.pinned
        actions = self._post_form(
            base + "pin",
            f'<input type="hidden" name="pinned" value="{"0" if pinned else "1"}">',
            "Unpin" if pinned else "Pin as key event",
        )
        mine = self.user_id is not None and event.author_id == self.user_id
        if mine and event.kind == EventKind.NOTE:
            actions += (
                f'<a href="{base}edit" hx-get="{base}edit" '
                f'hx-target="#event-{pk} .event-body" hx-swap="innerHTML" '
                f'class="link-button">Edit</a>'
                + self._post_form(base + "delete", "", "Delete", confirm=DELETE_CONFIRM)
            )
        return f'<div class="event-actions">{actions}</div>'

    def event(self, event) -> str:
        occurred = event.occurred_at
        pk, kind, pinned = int(event.pk), esc(event.kind), event.pinned
        # data-at: microseconds since the epoch, what the browser sorts live events by.
        attrs = (
            f'id="event-{pk}" class="event event-{kind}{" is-pinned" if pinned else ""}" '
            f'data-seq="{int(event.seq)}" data-kind="{kind}" '
            f'data-pinned="{"1" if pinned else "0"}" '
            f'data-at="{int(occurred.timestamp())}{occurred.microsecond:06d}" data-id="{pk}"'
        )
        if event.deleted_at:
            return f"<li {attrs}{DELETED_ATTR}></li>"

        meta = (
            f"{self.time(occurred)} "
            f'<span class="event-kind">{esc(KIND_LABELS.get(event.kind, event.kind))}</span>'
        )
        if event.author_id:
            meta += f' <span class="event-author">{esc(event.author_name)}</span>'
        if pinned:
            meta += ' <span class="badge key">Key event</span>'
        revisions = ""
        if event.edited_at:
            edited = utc_stamp(event.edited_at.astimezone(UTC), seconds=False)
            meta += f' <span class="badge" title="Edited {edited} UTC">edited</span>'
            earlier = event.earlier_versions
            if earlier:
                items = "".join(
                    f'<li><span class="muted">Replaced {self.time(revision.replaced_at)}:</span>'
                    f'<pre class="revision-text">{esc(revision.body)}</pre></li>'
                    for revision in earlier
                )
                revisions = (
                    f'<details class="revisions"><summary>Earlier versions ({len(earlier)})'
                    f'</summary><ol class="plain-list">{items}</ol></details>'
                )
        actions = self._actions(event, pk) if self.can_change else ""
        return (
            f'<li {attrs}><div class="event-meta">{meta}</div>'
            f'<div class="event-body">{event.body_html}</div>{revisions}{actions}</li>'
        )


def _markup(context) -> EventMarkup:
    """One EventMarkup per render and viewer (a page renders its events through several
    tags and partials)."""
    incident = context["incident"]
    user = context.get("user")
    user_id = getattr(user, "pk", None)
    can_change, token = bool(context.get("can_change")), context.get("csrf_token")
    key = ("timeline_markup", incident.pk, can_change, user_id, str(token or ""))
    markup = context.render_context.get(key)
    if markup is None:
        markup = context.render_context[key] = EventMarkup(
            incident_id=incident.pk, can_change=can_change, user_id=user_id, csrf_token=token
        )
    return markup


@register.simple_tag(takes_context=True)
def timeline_event(context, event):
    return mark_safe(_markup(context).event(event))  # noqa: S308 - built from escaped values


@register.simple_tag(takes_context=True)
def timeline_events(context, events):
    """Every event of a list, in order, as one string."""
    markup = _markup(context)
    return mark_safe("".join(markup.event(event) for event in events))  # noqa: S308 - escaped
