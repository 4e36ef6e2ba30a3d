"""Vigil's public status pages in Statuspage's public v2 JSON (summary.json, status.json,
components.json, incidents.json, incidents/unresolved.json, scheduled-maintenances.json), the
format status aggregators and dashboards already read. Nobody signs in; as on the page
itself, only public updates of incidents that are not private appear, under their public
names. An unknown page is a JSON 404."""

from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from zoneinfo import ZoneInfo

from django.http import JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from status import selectors
from status.caching import served_from_cache
from status.models import STATUS_RANK, ComponentStatus, MaintenanceStatus

# Statuspage lists the 50 most recent incidents and scheduled maintenances.
INCIDENTS_LISTED = 50
MAINTENANCES_LISTED = 50
READ_METHODS = ("GET", "HEAD")
OPERATIONAL = ComponentStatus.OPERATIONAL.value


@dataclass
class Reading:
    """One request's page, its current state and the way its times and links are written."""

    request: object
    slug: str | None
    view: selectors.PageView
    tz: ZoneInfo
    components: dict  # component pk (a group: its id) → its JSON
    changed: dict  # component pk → when its status last changed

    @property
    def page(self):
        return self.view.page

    @property
    def now(self) -> datetime:
        return self.view.generated_at

    def when(self, moment: datetime | None) -> str | None:
        """ISO 8601 with the page's offset and milliseconds, as Statuspage writes times."""
        if moment is None:
            return None
        return moment.astimezone(self.tz).isoformat(timespec="milliseconds")

    def link(self, name: str, **kwargs) -> str:
        """An absolute address on the same page: /status/... when reached there, else
        /status/p/<slug>/..."""
        if self.slug is None:
            path = reverse(name, kwargs=kwargs or None)
        else:
            path = reverse(f"{name}_named", kwargs={"slug": self.page.slug, **kwargs})
        return self.request.build_absolute_uri(path)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"code": status, "message": message}, status=status)


def statuspage_api(view):
    """No login, GET and HEAD only (any other method is a JSON 405), readable from any
    origin, and cached for 5 seconds so a rush of aggregators during an outage is served by
    proxies."""

    # Nothing here writes, so a POST is answered 405 rather than a CSRF 403.
    @csrf_exempt
    @served_from_cache
    @wraps(view)
    def answer(request, slug=None):
        if request.method not in READ_METHODS:
            response = _error(405, "Only GET and HEAD are allowed here.")
            response["Allow"] = ", ".join(READ_METHODS)
        else:
            page = selectors.page_named(slug)
            if page is None:
                response = _error(404, "No such status page.")
            else:
                response = JsonResponse(view(_reading(request, slug, page)))
            patch_cache_control(response, public=True, max_age=5)
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return answer


def _reading(request, slug, page) -> Reading:
    tz = selectors.page_zone(page)
    page.time_zone = tz.key  # a mistyped zone answers in UTC
    reading = Reading(
        request=request,
        slug=slug,
        view=selectors.page_view(page=page, with_history=False),
        tz=tz,
        components={},
        changed={},
    )
    reading.components = _component_entries(reading)
    return reading


# The parts every answer is made of.


def _last_changes(view) -> dict[int, datetime]:
    """When each component's status last changed, as far as the page's recent public
    incidents and maintenance windows tell."""
    last = {}

    def seen(component_id, moment):
        if moment is not None and (component_id not in last or moment > last[component_id]):
            last[component_id] = moment

    for public_incident in [*view.open_incidents, *view.recent_incidents]:
        for update in public_incident.updates.all():
            for impact in update.impacts.all():
                seen(impact.component_id, update.posted_at)
                seen(impact.component_id, public_incident.resolved_at)
    for maintenance in view.active_maintenances:
        for component in maintenance.components.all():
            seen(component.pk, maintenance.starts_at)
    return last


def _component_entries(reading) -> dict:
    """Every component's JSON, in the order the public page shows them: components outside
    any group, then each group (listed as a component with "group": true) and its own.
    Positions count from 1 within the page or the group."""
    view = reading.view
    last = _last_changes(view)
    page_id = str(reading.page.pk)
    ungrouped, groups = [], {}
    for component in view.components:  # in position, name order
        if component.group_id is None:
            ungrouped.append(component)
        else:
            groups.setdefault(component.group_id, (component.group, []))[1].append(component)

    def changed_at(component):
        return max(component.created_at, last.get(component.pk, component.created_at))

    def entry(component, position, group_id):
        status = view.statuses.get(component.pk, OPERATIONAL)
        return {
            "id": str(component.pk),
            "name": component.name,
            "status": str(status),
            "created_at": reading.when(component.created_at),
            "updated_at": reading.when(changed_at(component)),
            "position": position,
            "description": component.description or None,
            # Vigil shows every component's 90-day history on the page.
            "showcase": True,
            "start_date": component.created_at.astimezone(reading.tz).date().isoformat(),
            "group_id": group_id,
            "page_id": page_id,
            "group": False,
            "only_show_if_degraded": False,
        }

    entries = {}
    for position, component in enumerate(ungrouped, start=1):
        entries[component.pk] = entry(component, position, None)
        reading.changed[component.pk] = changed_at(component)
    ordered_groups = sorted(groups.values(), key=lambda g: (g[0].position, g[0].name))
    for offset, (group, members) in enumerate(ordered_groups, start=1):
        # Groups and components share one list, and their pks overlap: a group's id is marked.
        group_id = f"group-{group.pk}"
        children = [entry(c, i, group_id) for i, c in enumerate(members, start=1)]
        worst = max((c["status"] for c in children), key=lambda s: STATUS_RANK[s])
        entries[group_id] = {
            "id": group_id,
            "name": group.name,
            "status": worst,
            "created_at": reading.when(min(c.created_at for c in members)),
            "updated_at": reading.when(max(changed_at(c) for c in members)),
            "position": len(ungrouped) + offset,
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [c["id"] for c in children],
        }
        for component, child in zip(members, children, strict=True):
            entries[component.pk] = child
            reading.changed[component.pk] = changed_at(component)
    return entries


def _page(reading) -> dict:
    view = reading.view
    moments = [reading.page.created_at, *reading.changed.values()]
    moments += [i.updated_at for i in [*view.open_incidents, *view.recent_incidents]]
    moments += [m.created_at for m in view.maintenances]
    return {
        "id": str(reading.page.pk),
        "name": reading.page.title,
        "url": reading.link("status_page"),
        "time_zone": reading.page.time_zone,
        "updated_at": reading.when(max(moments)),
    }


def _status(reading) -> dict:
    return {"indicator": reading.view.indicator, "description": reading.view.description}


def _components(reading) -> list[dict]:
    return list(reading.components.values())


def _incident(reading, public_incident) -> dict:
    """One public incident with its public updates, newest first; each update says which
    components it set, from what to what."""
    incident_id = str(public_incident.incident_id)
    updates = list(public_incident.updates.all())  # newest first
    previous, affected, monitoring_at, named = {}, {}, None, []
    for update in reversed(updates):  # oldest first: each status follows the one before
        impacts = sorted(
            update.impacts.all(), key=lambda i: (i.component.position, i.component.name)
        )
        affected[update.pk] = [
            {
                "code": str(impact.component_id),
                "name": impact.component.name,
                "old_status": previous.get(impact.component_id, OPERATIONAL),
                "new_status": impact.status,
            }
            for impact in impacts
        ]
        for impact in impacts:
            previous[impact.component_id] = impact.status
            if impact.component_id not in named:
                named.append(impact.component_id)
        if update.phase == "monitoring":
            monitoring_at = update.posted_at
    return {
        "id": incident_id,
        "name": public_incident.name,
        "status": public_incident.phase,
        "created_at": reading.when(public_incident.created_at),
        "updated_at": reading.when(public_incident.updated_at),
        "monitoring_at": reading.when(monitoring_at),
        "resolved_at": reading.when(public_incident.resolved_at),
        "impact": public_incident.impact,
        "shortlink": reading.link("status_incident", pk=public_incident.incident_id),
        "started_at": reading.when(public_incident.created_at),
        "page_id": str(reading.page.pk),
        "incident_updates": [
            {
                "id": str(update.pk),
                "status": update.phase,
                "body": update.body,
                "incident_id": incident_id,
                "created_at": reading.when(update.posted_at),
                "updated_at": reading.when(update.posted_at),
                "display_at": reading.when(update.posted_at),
                "affected_components": affected[update.pk],
            }
            for update in updates
        ],
        "components": [reading.components[pk] for pk in named if pk in reading.components],
    }


def _maintenance(reading, maintenance) -> dict:
    """A planned window as Statuspage's scheduled maintenance: its announcement is its one
    update (Vigil posts no others to a window)."""
    now = reading.now
    phase = maintenance.status_at(now)
    components = [c for c in maintenance.components.all() if c.pk in reading.components]
    components.sort(key=lambda c: (c.position, c.name))
    maintenance_id = str(maintenance.pk)
    # It changes when announced, when it starts and when it ends.
    passed = [m for m in (maintenance.starts_at, maintenance.ends_at) if m <= now]
    changed = max([maintenance.created_at, *passed])
    return {
        "id": maintenance_id,
        "name": maintenance.name,
        "status": phase.value,
        "created_at": reading.when(maintenance.created_at),
        "updated_at": reading.when(changed),
        "monitoring_at": None,
        "resolved_at": reading.when(
            maintenance.ends_at if phase == MaintenanceStatus.COMPLETED else None
        ),
        "impact": "maintenance",
        "shortlink": reading.link("status_page"),
        "started_at": reading.when(maintenance.created_at),
        "page_id": str(reading.page.pk),
        "incident_updates": [
            {
                "id": maintenance_id,
                "status": MaintenanceStatus.SCHEDULED.value,
                "body": maintenance.body,
                "incident_id": maintenance_id,
                "created_at": reading.when(maintenance.created_at),
                "updated_at": reading.when(maintenance.created_at),
                "display_at": reading.when(maintenance.created_at),
                "affected_components": [
                    {
                        "code": str(c.pk),
                        "name": c.name,
                        "old_status": OPERATIONAL,
                        "new_status": ComponentStatus.MAINTENANCE.value,
                    }
                    for c in components
                ],
            }
        ],
        "components": [reading.components[c.pk] for c in components],
        "scheduled_for": reading.when(maintenance.starts_at),
        "scheduled_until": reading.when(maintenance.ends_at),
    }


# The endpoints.


@statuspage_api
def summary(reading) -> dict:
    """The page, its components, its unresolved incidents and its upcoming or in-progress
    maintenance, and the status they add up to."""
    view = reading.view
    return {
        "page": _page(reading),
        "components": _components(reading),
        "incidents": [_incident(reading, i) for i in view.open_incidents],
        "scheduled_maintenances": [_maintenance(reading, m) for m in view.maintenances],
        "status": _status(reading),
    }


@statuspage_api
def status(reading) -> dict:
    return {"page": _page(reading), "status": _status(reading)}


@statuspage_api
def components(reading) -> dict:
    return {"page": _page(reading), "components": _components(reading)}


@statuspage_api
def incidents(reading) -> dict:
    """The 50 most recent public incidents, resolved or not."""
    listed = selectors.public_incidents(page=reading.page, limit=INCIDENTS_LISTED)
    return {"page": _page(reading), "incidents": [_incident(reading, i) for i in listed]}


@statuspage_api
def incidents_unresolved(reading) -> dict:
    listed = selectors.public_incidents(page=reading.page, unresolved=True)
    return {"page": _page(reading), "incidents": [_incident(reading, i) for i in listed]}


@statuspage_api
def scheduled_maintenances(reading) -> dict:
    """The 50 most recent maintenance windows, newest first, the completed ones too;
    cancelled windows are not listed."""
    windows = selectors.maintenances(page=reading.page, at=reading.now)
    windows.sort(key=lambda m: (m.starts_at, m.pk), reverse=True)
    return {
        "page": _page(reading),
        "scheduled_maintenances": [_maintenance(reading, m) for m in windows[:MAINTENANCES_LISTED]],
    }
