"""The public status pages: the page, its history, one incident, its feeds and a badge per
component. Nobody signs in; only public updates of incidents that are not private appear,
under their public names. An unknown page, incident or component is a plain 404."""

import re
from collections import defaultdict
from datetime import timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import feedgenerator, timezone
from django.utils.html import format_html
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from common.inputs import parse_id
from common.links import http_url
from common.markdown import render_markdown
from status import selectors
from status.caching import served_from_cache
from status.models import (
    Component,
    ComponentImpact,
    ComponentStatus,
    Phase,
    PublicIncident,
    StatusUpdate,
)

FEED_ITEMS = 50
HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
# Shields' colours, so a badge beside others in a README looks like them.
BADGE_COLOURS = {
    ComponentStatus.OPERATIONAL: "#2e7d32",
    ComponentStatus.DEGRADED: "#8a6d00",
    ComponentStatus.PARTIAL: "#c2410c",
    ComponentStatus.MAJOR: "#b42318",
    ComponentStatus.MAINTENANCE: "#0b5cad",
}


def public_page(view):
    """No login, GET and HEAD only, and a short public cache so a rush of readers during an
    outage is served by proxies."""
    return require_safe(served_from_cache(cache_control(public=True, max_age=5)(view)))


def _page_or_404(slug):
    page = selectors.page_named(slug)
    if page is None:
        raise Http404
    page.tz = selectors.page_zone(page)
    page.time_zone = page.tz.key  # a mistyped zone in the admin shows UTC
    return page


def _url(name, page, slug, **kwargs) -> str:
    """The page's own address: /status/... for the default page reached there, else
    /status/p/<slug>/..."""
    if slug is None:
        return reverse(name, kwargs=kwargs or None)
    return reverse(f"{name}_named", kwargs={"slug": page.slug, **kwargs})


def _links(request, page, slug) -> dict:
    return {
        "page": _url("status_page", page, slug),
        "history": _url("status_history", page, slug),
        "atom": _url("status_atom", page, slug),
        "rss": _url("status_rss", page, slug),
        "absolute_page": request.build_absolute_uri(_url("status_page", page, slug)),
    }


def _incident_url(page, slug, incident_id) -> str:
    return _url("status_incident", page, slug, pk=incident_id)


def _logo(page) -> tuple[str, str]:
    """(the logo's https URL, its origin for the page's CSP), or ("", "") for any other
    link: a plain host name only, as the origin goes into a header."""
    url = http_url(page.logo_url)
    if not url:
        return "", ""
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        return "", ""
    host = parsed.hostname or ""
    if parsed.scheme.lower() != "https" or not HOST_NAME.fullmatch(host):
        return "", ""
    return url, f"https://{host}" + (f":{port}" if port else "")


def _render(request, template, page, slug, context):
    logo, origin = _logo(page)
    context = {
        "page": page,
        "tz": page.tz,
        "logo_url": logo,
        "links": _links(request, page, slug),
        **context,
    }
    response = render(request, template, context)
    if logo:
        # Vigil's policy allows images from itself only; the page's logo host is added here.
        response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY.replace(
            "img-src 'self'", f"img-src 'self' {origin}"
        )
    return response


def _with_html(public_incidents):
    """Each public update's body as sanitised HTML."""
    for public_incident in public_incidents:
        for update in public_incident.updates.all():
            update.body_html = render_markdown(update.body)
    return public_incidents


def _link_incidents(public_incidents, page, slug):
    for public_incident in public_incidents:
        public_incident.url = _incident_url(page, slug, public_incident.incident_id)
    return public_incidents


@public_page
def page(request, slug=None):
    page = _page_or_404(slug)
    view = selectors.page_view(page=page)
    now = view.generated_at
    statuses = {
        c.pk: ComponentStatus(view.statuses.get(c.pk, ComponentStatus.OPERATIONAL))
        for c in view.components
    }
    uptime = {h.component.pk: h for h in view.history}
    groups = {}
    for component in view.components:
        component.status = statuses[component.pk]
        component.history = uptime.get(component.pk)
        group = groups.setdefault(component.group_id, (component.group, []))
        group[1].append(component)
    # Components outside any group come first, then the groups in their order.
    ordered = sorted(
        groups.values(),
        key=lambda g: (g[0] is not None, g[0].position if g[0] else 0, g[0].name if g[0] else ""),
    )
    for maintenance in view.maintenances:
        maintenance.status = maintenance.status_at(now)
        maintenance.body_html = render_markdown(maintenance.body)
    open_incidents = _link_incidents(_with_html(view.open_incidents), page, slug)
    return _render(
        request,
        "status/page.html",
        page,
        slug,
        {
            "view": view,
            "groups": ordered,
            "open_incidents": open_incidents,
            "maintenances": view.maintenances,
            "days": selectors.HISTORY_DAYS,
            "now": now,
        },
    )


@public_page
def history(request, slug=None):
    page = _page_or_404(slug)
    now = timezone.now()
    since = now - timedelta(days=selectors.HISTORY_DAYS)
    resolved = selectors.public_incidents(page=page, unresolved=False, since=since)
    _link_incidents(_with_html(resolved), page, slug)
    by_day = defaultdict(list)
    for public_incident in resolved:  # newest first already
        by_day[public_incident.created_at.astimezone(page.tz).date()].append(public_incident)
    return _render(
        request,
        "status/history.html",
        page,
        slug,
        {"days": sorted(by_day.items(), reverse=True), "history_days": selectors.HISTORY_DAYS},
    )


def _public_incident_or_404(page, pk) -> PublicIncident:
    """The page's public incident for a Vigil incident id, with its public updates; a
    private incident, or one never posted to this page, is the same 404 as no incident."""
    incident_id = parse_id(str(pk))
    if incident_id is None:
        raise Http404
    updates = StatusUpdate.objects.filter(is_public=True).prefetch_related(
        Prefetch("impacts", queryset=ComponentImpact.objects.select_related("component"))
    )
    found = (
        selectors.shown(PublicIncident.objects.filter(page=page, incident_id=incident_id))
        .prefetch_related(Prefetch("updates", queryset=updates.order_by("-posted_at", "-id")))
        .first()
    )
    if found is None:
        raise Http404
    return found


@public_page
def incident(request, pk, slug=None):
    page = _page_or_404(slug)
    public_incident = _public_incident_or_404(page, pk)
    _with_html([public_incident])
    components = {}
    for update in reversed(public_incident.updates.all()):  # oldest first: the last one wins
        for impact in update.impacts.all():
            components[impact.component] = ComponentStatus(impact.status)
    return _render(
        request,
        "status/incident.html",
        page,
        slug,
        {
            "incident": public_incident,
            "components": sorted(components.items(), key=lambda i: (i[0].position, i[0].name)),
        },
    )


def _feed(request, slug, feed_class):
    page = _page_or_404(slug)
    links = _links(request, page, slug)
    updates = (
        selectors.shown(StatusUpdate.objects.filter(is_public=True, public_incident__page=page))
        .select_related("public_incident")
        .order_by("-posted_at", "-id")[:FEED_ITEMS]
    )
    feed = feed_class(
        title=f"{page.title} status",
        link=links["absolute_page"],
        description=page.description or f"Status updates from {page.title}.",
        feed_url=request.build_absolute_uri(request.path),
        language="en",
    )
    for update in updates:
        link = request.build_absolute_uri(_incident_url(page, slug, update.incident_id))
        feed.add_item(
            title=f"{update.public_incident.name}: {Phase(update.phase).label}",
            link=f"{link}#update-{update.pk}",
            description=render_markdown(update.body),
            pubdate=update.posted_at,
            updateddate=update.posted_at,
            unique_id=f"{link}#update-{update.pk}",
        )
    return HttpResponse(feed.writeString("utf-8"), content_type=feed.content_type)


@public_page
def atom_feed(request, slug=None):
    return _feed(request, slug, feedgenerator.Atom1Feed)


@public_page
def rss_feed(request, slug=None):
    return _feed(request, slug, feedgenerator.Rss201rev2Feed)


def _text_width(text: str) -> int:
    """About how wide Verdana 11px draws the text; shields measures, an estimate will do."""
    return 10 + round(sum(4.5 if ch in "ijlt.,:;'! |" else 7 for ch in text))


@public_page
def badge(request, component_id, slug=None):
    page = _page_or_404(slug)
    component_pk = parse_id(str(component_id))
    component = (
        Component.objects.filter(page=page, pk=component_pk).first() if component_pk else None
    )
    if component is None:
        raise Http404
    view = selectors.page_view(page=page, with_history=False)
    status = ComponentStatus(view.statuses.get(component.pk, ComponentStatus.OPERATIONAL))
    label, value = component.name, status.label.lower()
    left, right = _text_width(label), _text_width(value)
    svg = format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        '<rect width="{left}" height="20" fill="#555"/>'
        '<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        '<text x="{left_mid}" y="14">{label}</text>'
        '<text x="{right_mid}" y="14">{value}</text></g></svg>',
        width=left + right,
        left=left,
        right=right,
        left_mid=left / 2,
        right_mid=left + right / 2,
        colour=BADGE_COLOURS[status],
        label=label,
        value=value,
    )
    return HttpResponse(svg, content_type="image/svg+xml")
