"""The incident page's refreshable parts: its own (header, checklist, ...) and the panels other
apps add (runbooks, alerts, paging, postmortem, ...), each with the timeline event kinds that
change it.

An app registers a panel in its AppConfig.ready():

    from incidents.panels import register_panel
    register_panel("runbooks", template="runbooks/incident_panel.html",
                   context=lambda *, incident, user: {...}, order=10,
                   refresh_on={EventKind.ALERT, EventKind.RUNBOOK_STEP})

The incident page renders every registered panel in order, each in a box of its own
(`data-part="<name>"`); `?part=<name>` (HTMX) renders one panel alone. The page's live layer
refreshes exactly the parts the server names: the live stream names those its events'
kinds change, an action's answer those its own events change (`HX-Trigger: vigil:refresh`),
so the browser keeps no table of kinds and a new panel needs no script. A panel's template
is rendered with the request and a context made of the dict its context function returned
(each key is a template variable, e.g. `{{ postmortem }}`), plus `ctx` (that same dict, for
templates that prefer `{{ ctx.postmortem }}`) and `incident`. A context function must run a
fixed number of queries, whatever the incident's size (the page's query count is asserted).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.html import format_html
from django_htmx.http import trigger_client_event

from incidents.models import EventKind

REFRESH_EVENT = "vigil:refresh"


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: Callable[..., dict[str, Any]]
    order: int = 50
    # "top": above the note box, first thing a responder sees (matching runbooks);
    # "side": the side column beside the timeline.
    placement: str = "side"
    # A link at the top of the page to the panel ("Runbook", "Recent changes"): on a phone
    # every panel a responder needs first is one tap away. Empty: no link.
    jump: str = ""


_REFRESH_ON: dict[str, frozenset[str]] = {}
_PANELS: dict[str, Panel] = {}


def register_part(name, *, refresh_on: Iterable[str]) -> None:
    """A part of the incident page and the timeline event kinds that change what it shows."""
    kinds = frozenset(str(kind) for kind in refresh_on)
    if unknown := kinds - set(EventKind.values):
        raise ValueError(
            f"Unknown timeline event kinds for {name!r}: {', '.join(sorted(unknown))}."
        )
    _REFRESH_ON[name] = kinds


def register_panel(
    name, *, template, context, refresh_on: Iterable[str], order=50, placement="side", jump=""
) -> None:
    if placement not in ("top", "side"):
        raise ValueError(f"Unknown panel placement {placement!r}.")
    register_part(name, refresh_on=refresh_on)
    _PANELS[name] = Panel(
        name=name,
        template=template,
        context=context,
        order=order,
        placement=placement,
        jump=jump,
    )


def panel_jumps() -> list[tuple[str, str]]:
    """(element id, link text) of the panels linked from the top of the page, in order."""
    return [
        (f"part-{panel.name}", panel.jump)
        for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.name))
        if panel.jump
    ]


def page_parts() -> frozenset[str]:
    """The page's own parts, rendered from the partials of incidents/detail.html."""
    return frozenset(_REFRESH_ON) - set(_PANELS)


def parts_changed_by(kinds: Iterable[str]) -> list[str]:
    """The names of the parts that events of these kinds change."""
    kinds = {str(kind) for kind in kinds}
    return sorted(name for name, refresh_on in _REFRESH_ON.items() if refresh_on & kinds)


def trigger_refresh(response, *, events, answered=None):
    """Name, in an action's answer, the parts its events changed; the part the answer itself
    carries (`answered`) is fresh already."""
    parts = [p for p in parts_changed_by(e.kind for e in events) if p != answered]
    if parts:
        trigger_client_event(response, REFRESH_EVENT, parts)
    return response


def panels_for(*, incident, user, name=None) -> list[dict[str, Any]]:
    """Every panel in order, or only the one called `name` (the page's live refresh of it)."""
    rendered = []
    for panel in sorted(_PANELS.values(), key=lambda p: (p.order, p.name)):
        if name is not None and panel.name != name:
            continue
        rendered.append(
            {
                "name": panel.name,
                "template": panel.template,
                "placement": panel.placement,
                "context": panel.context(incident=incident, user=user),
            }
        )
    return rendered


def render_panel(panel, *, incident, request) -> str:
    """A panel from panels_for() in the box the live layer finds it by."""
    context = {**panel["context"], "ctx": panel["context"], "incident": incident}
    return format_html(
        '<div class="incident-panel" id="part-{}" data-part="{}">{}</div>',
        panel["name"],
        panel["name"],
        render_to_string(panel["template"], context, request),
    )


# The page's own parts (partials of incidents/detail.html) declare theirs as panels do.
# "impact since" is the impact's start.
register_part(
    "header",
    refresh_on={
        EventKind.DECLARED,
        EventKind.STATUS,
        EventKind.SEVERITY,
        EventKind.ROLE,
        EventKind.IMPACT,
    },
)
# Vigil ticks items itself when it records what they ask for (acknowledged, resolved, ...).
register_part(
    "checklist",
    refresh_on={EventKind.CHECKLIST, EventKind.STATUS, EventKind.SEVERITY, EventKind.ACK},
)
# The cadence follows the severity; a resolved incident owes no more updates.
register_part("status_update", refresh_on={EventKind.COMMS, EventKind.SEVERITY, EventKind.STATUS})
# The figures a person records, and the acknowledged, mitigated and resolved times.
register_part("impact", refresh_on={EventKind.IMPACT, EventKind.STATUS})
