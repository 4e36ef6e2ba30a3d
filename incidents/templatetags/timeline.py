"""One timeline event as HTML, in Python.

The incident page shows up to 200 events and the live stream re-renders each change; a
Django template per event cost about 0.4 ms (80 ms a page). Every value from a person is
escaped with `esc`; `body_html` is Markdown rendered and sanitised by vigil.markdown.
The markup is the one static/js/incidents.js and the tests rely on.
"""

from datetime import UTC
from html import escape as _html_escape

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import mark_safe

register = template.Library()
DELETED_ATTR = ' data-deleted="1"'


def esc(value) -> str:
    return _html_escape(str(value), quote=True)


def _time(value) -> str:
    utc = value.astimezone(UTC)
    return (
        f'<time datetime="{date_format(utc, "c")}" '
        f'title="{date_format(utc, "Y-m-d H:i:s")} UTC">'
        f"{date_format(timezone.localtime(value), 'M j, H:i')}</time>"
    )


def _event_url_prefix(context, incident) -> str:
    # "/incidents/<pk>/events/" reversed once per render, not three times per event.
    cache = context.render_context.setdefault("timeline_event_prefix", {})
    if incident.pk not in cache:
        cache[incident.pk] = reverse("incident_event", args=[incident.pk, 0])[: -len("0/")]
    return cache[incident.pk]


def _post_form(url, csrf_input, hidden, label, confirm="") -> str:
    confirm_attr = f' hx-confirm="{esc(confirm)}"' if confirm else ""
    return (
        f'<form method="post" action="{url}" hx-post="{url}" hx-target="#timeline-inbox" '
        f'hx-swap="beforeend"{confirm_attr} class="inline-form">{csrf_input}{hidden}'
        f'<button type="submit" class="link-button">{label}</button></form>'
    )


@register.simple_tag(takes_context=True)
def timeline_event(context, event):
    incident = context["incident"]
    occurred = event.occurred_at
    pk, kind = int(event.pk), esc(event.kind)
    attrs = (
        f'id="event-{pk}" class="event event-{kind}{" is-pinned" if event.pinned else ""}" '
        f'data-seq="{int(event.seq)}" data-kind="{kind}" '
        f'data-pinned="{"1" if event.pinned else "0"}" '
        f'data-at="{date_format(occurred, "U")}{date_format(occurred, "u")}" data-id="{pk}"'
        f"{DELETED_ATTR if event.deleted_at else ''}"
    )
    if event.deleted_at:
        return mark_safe(f"<li {attrs}></li>")  # noqa: S308 - built from escaped values

    meta = [_time(occurred), f'<span class="event-kind">{esc(event.get_kind_display())}</span>']
    if event.author_id:
        meta.append(f'<span class="event-author">{esc(event.author.display_name)}</span>')
    if event.pinned:
        meta.append('<span class="badge key">Key event</span>')
    if event.edited_at:
        edited = date_format(event.edited_at.astimezone(UTC), "Y-m-d H:i")
        meta.append(f'<span class="badge" title="Edited {edited} UTC">edited</span>')
    parts = [
        f'<div class="event-meta">{" ".join(meta)}</div>',
        f'<div class="event-body">{event.body_html}</div>',
    ]

    if event.edited_at:
        revisions = list(event.revisions.all())
        if revisions:
            items = "".join(
                f'<li><span class="muted">Replaced {_time(revision.replaced_at)}:</span>'
                f'<pre class="revision-text">{esc(revision.body)}</pre></li>'
                for revision in revisions
            )
            parts.append(
                f'<details class="revisions"><summary>Earlier versions ({len(revisions)})'
                f'</summary><ol class="plain-list">{items}</ol></details>'
            )

    if context.get("can_change"):
        token = context.get("csrf_token")
        csrf_input = (
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{esc(token)}">'
            if token
            else ""
        )
        base = f"{_event_url_prefix(context, incident)}{pk}/"
        actions = [
            _post_form(
                base + "pin",
                csrf_input,
                f'<input type="hidden" name="pinned" value="{"0" if event.pinned else "1"}">',
                "Unpin" if event.pinned else "Pin as key event",
            )
        ]
        user = context.get("user")
        if event.kind == "note" and user is not None and event.author_id == user.pk:
            actions.append(
                f'<a href="{base}edit" hx-get="{base}edit" hx-target="#event-{pk} .event-body" '
                f'hx-swap="innerHTML" class="link-button">Edit</a>'
            )
            actions.append(
                _post_form(
                    base + "delete",
                    csrf_input,
                    "",
                    "Delete",
                    confirm="Delete this note? It stays in the audit trail.",
                )
            )
        parts.append(f'<div class="event-actions">{"".join(actions)}</div>')
    return mark_safe(f"<li {attrs}>{''.join(parts)}</li>")  # noqa: S308 - escaped parts
