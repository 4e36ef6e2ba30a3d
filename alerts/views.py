import hashlib
import hmac
import ipaddress
import time

import structlog
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerts import metrics, payloads
from alerts.forms import IntegrationForm, MaintenanceForm, RoutingForm, SilenceForm
from alerts.models import (
    AlertGroup,
    Integration,
    IntegrationKind,
    SignedReceipt,
    Silence,
    token_hash,
)
from alerts.selectors import group_list_for_user, integrations_for_user, silences_for_user
from alerts.services import (
    AlertError,
    ingest,
    integration_create,
    integration_rotate_token,
    integration_set_maintenance,
    silence_create,
    silence_expire,
)
from common.inputs import InputError, reads_own_body
from teams.access import CHANGE, MANAGE, VIEW, can, get_object_for_user
from teams.models import Team, TeamRouting
from teams.services import routing_save

logger = structlog.get_logger(__name__)

SIGNATURE_MAX_AGE = 300  # seconds a signed request stays acceptable
SIGNATURE_MAX_LENGTH = 512  # characters; a real header is about 80


def _refuse(status, reason):
    metrics.webhook_rejected.labels(status=str(status)).inc()
    return JsonResponse({"status": "error", "error": reason}, status=status)


def integration_token_ok(integration, token: str) -> bool:
    """Whether the token is the integration's, or its previous one during a rotation; in
    constant time (the changes webhook checks its tokens here too)."""
    digest = token_hash(token)
    ok = hmac.compare_digest(digest, integration.token_hash)
    previous = integration.previous_token_hash
    if (
        previous
        and integration.previous_valid_until
        and integration.previous_valid_until > (timezone.now())
    ):
        ok = hmac.compare_digest(digest, previous) or ok
    return ok


def _check_signature(header: str, token: str, body: bytes):
    """`X-Vigil-Signature: t=<unix>,v1=<hex HMAC-SHA256(token, "<t>." + body)>`. Returns the
    signature; raises InputError when the header is malformed, ValueError when it does not
    match."""
    if len(header) > SIGNATURE_MAX_LENGTH or not header.isascii():
        raise InputError(
            f"X-Vigil-Signature must be ASCII and at most {SIGNATURE_MAX_LENGTH} characters."
        )
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", "").strip(), parts.get("v1", "").strip()
    # A bounded number of digits: a 400-digit time overflowed the clock arithmetic.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12 and given):
        raise InputError("X-Vigil-Signature must be 't=<unix time>,v1=<hex>'.")
    stamp = int(stamp)
    if abs(time.time() - stamp) > SIGNATURE_MAX_AGE:
        raise ValueError("The signature's timestamp is more than 5 minutes off.")
    expected = hmac.new(token.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise ValueError("The signature does not match the body.")
    return given


@reads_own_body
@csrf_exempt
def webhook(request, public_id, token=None):
    """Alerts in. 202 when stored; 400 bad body or malformed X-Vigil-Signature, 401 bad token
    or signature, 404 unknown integration, 409 replayed signed request, 413 body over 1 MiB
    or more than 10,000 alerts."""
    started = time.perf_counter()
    if request.method != "POST":
        return _refuse(405, "Send alerts with POST.")
    integration = (
        Integration.objects.select_related("team")
        .filter(public_id=public_id)
        .exclude(kind__in=[IntegrationKind.INTERNAL, IntegrationKind.CHANGES])
        .first()
    )
    if integration is None:
        return _refuse(404, "No such integration.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _refuse(400, "Content-Length is not a number.")
    if length > payloads.MAX_BODY_BYTES:
        return _refuse(413, "The body is over 1 MiB.")
    if token is None:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
    if not token or not integration_token_ok(integration, token):
        return _refuse(401, "A valid integration token is required (path or Bearer).")
    body = request.read(payloads.MAX_BODY_BYTES + 1)
    if len(body) > payloads.MAX_BODY_BYTES:
        return _refuse(413, "The body is over 1 MiB.")
    signature = None
    if request.headers.get("X-Vigil-Signature"):
        try:
            signature = _check_signature(request.headers["X-Vigil-Signature"], token, body)
        except InputError as exc:
            return _refuse(400, str(exc))
        except ValueError as exc:
            return _refuse(401, str(exc))
    try:
        data = payloads.decode(body)
        if integration.kind == IntegrationKind.ALERTMANAGER:
            alerts = payloads.parse_alertmanager(data)
        else:
            alerts = payloads.parse_generic(data)
    except payloads.PayloadError as exc:
        return _refuse(exc.status, str(exc))
    try:
        with transaction.atomic():
            if signature:
                SignedReceipt.objects.create(integration=integration, signature=signature)
            summary = ingest(integration=integration, alerts=alerts)
    except IntegrityError:
        return _refuse(409, "This signed request was already received (replay refused).")
    metrics.alerts_received.labels(kind=integration.kind).inc(len(alerts))
    metrics.ingest_latency.observe(time.perf_counter() - started)
    logger.info("alerts_ingested", integration_id=integration.pk, **summary)
    return JsonResponse({"status": "accepted", **summary}, status=202)


_INTERNAL_NETWORKS = [
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
]


def _internal_client(request) -> bool:
    """A client on loopback or an RFC 1918 / unique-local network (a Prometheus inside)."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in _INTERNAL_NETWORKS)


def metrics_view(request):
    expected = getattr(settings, "METRICS_TOKEN", "")
    if expected:
        auth = request.headers.get("Authorization", "")
        if not hmac.compare_digest(auth.encode("utf-8", "replace"), f"Bearer {expected}".encode()):
            return HttpResponse("A metrics token is required.", status=401)
    elif settings.PRODUCTION and not _internal_client(request):
        return HttpResponse(
            "Set METRICS_TOKEN to read /metrics from outside this network.", status=401
        )
    return HttpResponse(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)


@login_required
def group_list(request):
    status = request.GET.get("status", "open")
    groups = list(group_list_for_user(user=request.user, status=status)[:200])
    for group in groups:
        group.visible_incident = _visible_incident(request.user, group)
    return render(request, "alerts/group_list.html", {"groups": groups, "status": status})


def _visible_incident(user, group):
    """The group's incident when the person may see it: a private incident's number and title
    are its team's, though the alert group itself is not private."""
    incident = group.incident
    return incident if incident is not None and can(user, VIEW, incident) else None


@login_required
def group_detail(request, pk):
    group = get_object_for_user(
        request.user, AlertGroup.objects.select_related("team", "integration", "incident"), pk=pk
    )
    alerts = group.alerts.all()[:500]
    return render(
        request,
        "alerts/group_detail.html",
        {"group": group, "alerts": alerts, "incident": _visible_incident(request.user, group)},
    )


def _routing_for_manage(request, slug):
    team = get_object_or_404(Team, slug=slug)
    return get_object_for_user(
        request.user, TeamRouting.objects.select_related("team"), action=MANAGE, team=team
    )


def _integrations_with_permissions(user):
    """The integrations a person sees, each saying which of its buttons their role allows."""
    integrations = list(integrations_for_user(user=user))
    for integration in integrations:
        integration.can_set_maintenance = can(user, CHANGE, integration)
        integration.can_rotate_token = can(user, MANAGE, integration)
    return integrations


@login_required
def integration_list(request):
    integrations = _integrations_with_permissions(request.user)
    teams = [t for t in Team.objects.all() if can(request.user, MANAGE, t)]
    form = IntegrationForm(teams=teams)
    return render(
        request,
        "alerts/integrations.html",
        {"integrations": integrations, "form": form, "can_create": bool(teams)},
    )


@never_cache
@login_required
@require_POST
def integration_new(request):
    teams = [t for t in Team.objects.all() if can(request.user, MANAGE, t)]
    form = IntegrationForm(request.POST, teams=teams)
    if not form.is_valid():
        integrations = _integrations_with_permissions(request.user)
        return render(
            request,
            "alerts/integrations.html",
            {"integrations": integrations, "form": form, "can_create": bool(teams)},
            status=400,
        )
    team = form.cleaned_data["team"]
    if not can(request.user, MANAGE, team):
        raise PermissionDenied("Only a manager of the team may add integrations.")
    try:
        integration, token = integration_create(
            team=team,
            kind=form.cleaned_data["kind"],
            name=form.cleaned_data["name"],
            by=request.user,
        )
    except AlertError as exc:
        messages.error(request, str(exc))
        return redirect("alerts_integrations")
    return render(
        request,
        "alerts/integration_token.html",
        {"integration": integration, "url": integration.webhook_url(token), "token": token},
    )


@never_cache
@login_required
@require_POST
def integration_rotate(request, pk):
    integration = get_object_for_user(
        request.user, Integration.objects.select_related("team"), action=MANAGE, pk=pk
    )
    token = integration_rotate_token(integration=integration, by=request.user)
    return render(
        request,
        "alerts/integration_token.html",
        {
            "integration": integration,
            "url": integration.webhook_url(token),
            "token": token,
            "rotated": True,
        },
    )


@login_required
@require_POST
def integration_maintenance(request, pk):
    integration = get_object_for_user(
        request.user, Integration.objects.select_related("team"), action=CHANGE, pk=pk
    )
    form = MaintenanceForm(request.POST)
    if form.is_valid():
        minutes = form.cleaned_data["minutes"]
        until = timezone.now() + timezone.timedelta(minutes=minutes) if minutes else None
        integration_set_maintenance(integration=integration, until=until, by=request.user)
        messages.success(
            request,
            f"{integration.name} is in maintenance for {minutes} minutes."
            if minutes
            else f"{integration.name} is out of maintenance.",
        )
    else:
        messages.error(request, "Choose a maintenance length.")
    return redirect("alerts_integrations")


@login_required
def silence_list(request):
    teams = [t for t in Team.objects.all() if can(request.user, CHANGE, t)]
    form = SilenceForm(teams=teams)
    if request.method == "POST":
        form = SilenceForm(request.POST, teams=teams)
        if form.is_valid():
            team = form.cleaned_data["team"]
            if not can(request.user, CHANGE, team):
                raise PermissionDenied("Only a responder of the team may add silences.")
            try:
                silence_create(
                    team=team,
                    matchers=form.cleaned_data["matchers"],
                    ends_at=timezone.now()
                    + timezone.timedelta(minutes=form.cleaned_data["minutes"]),
                    reason=form.cleaned_data["reason"],
                    by=request.user,
                )
            except AlertError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Silence created.")
                return redirect("alerts_silences")
    silences = list(silences_for_user(user=request.user))
    for silence in silences:
        silence.can_end = can(request.user, CHANGE, silence)
    return render(
        request,
        "alerts/silences.html",
        {"silences": silences, "form": form, "now": timezone.now(), "can_create": bool(teams)},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def silence_end(request, pk):
    silence = get_object_for_user(request.user, Silence.objects.all(), action=CHANGE, pk=pk)
    silence_expire(silence=silence, by=request.user)
    messages.success(request, "Silence ended.")
    return redirect("alerts_silences")


@login_required
def routing_edit(request, slug):
    routing = _routing_for_manage(request, slug)
    team = routing.team
    form = RoutingForm(request.POST or None, instance=routing)
    if request.method == "POST" and form.is_valid():
        routing_save(routing=routing, values=form.routing_values(), by=request.user)
        messages.success(request, f"Routing for {team} saved.")
        return redirect("alerts_routing", slug=team.slug)
    return render(
        request,
        "alerts/routing.html",
        {"team": team, "form": form},
        status=400 if form.errors else 200,
    )
