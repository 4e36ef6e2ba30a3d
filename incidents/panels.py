"""Panels other apps show on the incident page (runbooks, alerts, postmortem, ...).

An app registers a panel in its AppConfig.ready():

    from incidents.panels import register_panel
    register_panel("runbooks", template="runbooks/incident_panel.html",
                   context=lambda *, incident, user: {...}, order=10)

The incident page renders every registered panel in order; `?part=<name>` (HTMX) renders one
panel alone, so the page's live layer can refresh it after a timeline event: give the panel's
box an id and add that refresh to static/js/incidents.js. A panel's template is rendered
with the request and a context made of the dict its context function returned (each key is a
template variable, e.g. `{{ postmortem }}`), plus `ctx` (that same dict, for templates that
prefer `{{ ctx.postmortem }}`) and `incident`. The template draws its own box (a
`<section class="card">` with a heading). A context function must run a
fixed number of queries, whatever the incident's size (the page's query count is asserted).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: Callable[..., dict[str, Any]]
    order: int = 50
    # "top": above the note box, first thing a responder sees (matching runbooks);
    # "side": the side column beside the timeline.
    placement: str = "side"


_PANELS: dict[str, Panel] = {}


def register_panel(name, *, template, context, order=50, placement="side") -> None:
    if placement not in ("top", "side"):
        raise ValueError(f"Unknown panel placement {placement!r}.")
    _PANELS[name] = Panel(
        name=name, template=template, context=context, order=order, placement=placement
    )


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
