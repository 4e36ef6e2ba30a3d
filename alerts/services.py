"""Writes for alerts: storing a payload, routing new groups, silences, integrations."""

from collections import defaultdict
from datetime import timedelta

import structlog
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertGroup,
    Decision,
    GroupStatus,
    Integration,
    IntegrationKind,
    Silence,
    annotation_link,
    matchers_match,
    new_token,
    token_hash,
)
from alerts.payloads import NormalizedAlert
from alerts.routing import decide
from audit.services import audit_record
from common.text import one_line
from incidents.models import EventKind, Severity, Status
from incidents.services import (
    IncidentError,
    incident_declare,
    incident_reopen,
    timeline_event_add,
    timeline_events_add,
)
from paging import services as paging
from teams.selectors import team_routing

logger = structlog.get_logger(__name__)


class AlertError(ValueError):
    """A request about alerts that cannot be honoured; the message is shown to the person."""


def integration_create(*, team, kind, name, by=None) -> tuple[Integration, str]:
    """Returns the integration and its token (shown once, only its hash is stored)."""
    name = (name or "").strip()
    if not name:
        raise AlertError("An integration needs a name.")
    if Integration.objects.filter(team=team, name=name).exists():
        raise AlertError(f"{team} already has an integration named {name!r}.")
    token = new_token()
    with transaction.atomic():
        integration = Integration.objects.create(
            team=team, kind=kind, name=name, token_hash=token_hash(token), created_by=by
        )
        audit_record(
            actor=by,
            action="integration.create",
            obj=integration,
            after={"team": team.slug, "kind": kind, "name": name},
        )
    return integration, token


INTERNAL_INTEGRATION_NAME = "Vigil checks and scans"


def internal_integration(team) -> Integration:
    """The team's integration for what Vigil itself finds (made on first use)."""
    found = Integration.objects.filter(team=team, kind=IntegrationKind.INTERNAL).first()
    if found:
        return found
    with transaction.atomic():
        integration, _ = Integration.objects.get_or_create(
            team=team,
            name=INTERNAL_INTEGRATION_NAME,
            defaults={"kind": IntegrationKind.INTERNAL, "token_hash": token_hash(new_token())},
        )
    return integration


def internal_alert(
    *, team, key, title, firing, source, severity="warning", description="", labels=None
) -> dict:
    """Raise (firing) or resolve one alert of Vigil's own through the team's internal
    integration: the same grouping, routing rules, silences, maintenance and paging as an
    Alertmanager alert. `key` names the condition; a later call with the same key updates
    or resolves it."""
    integration = internal_integration(team)
    alert_labels = {
        **{str(k): str(v) for k, v in (labels or {}).items()},
        "alertname": one_line(title, 200),
        "severity": severity,
        "source": source,
    }
    annotations = {"summary": one_line(title, 200)}
    if description:
        annotations["description"] = description
    alert = NormalizedAlert(
        group_key=f"vigil:{key}",
        fingerprint=key,
        status="firing" if firing else "resolved",
        labels=alert_labels,
        annotations=annotations,
    )
    return ingest(integration=integration, alerts=[alert])


def integration_rotate_token(*, integration, by=None, overlap_hours=24) -> str:
    """A new token; the old one stays valid for overlap_hours so senders can switch over."""
    token = new_token()
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        locked.previous_token_hash = locked.token_hash
        locked.previous_valid_until = timezone.now() + timezone.timedelta(hours=overlap_hours)
        locked.token_hash = token_hash(token)
        locked.save(update_fields=["token_hash", "previous_token_hash", "previous_valid_until"])
        audit_record(actor=by, action="integration.rotate_token", obj=locked)
    integration.token_hash = locked.token_hash
    return token


def integration_set_maintenance(*, integration, until, by) -> Integration:
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        before = locked.maintenance_until
        locked.maintenance_until = until
        locked.save(update_fields=["maintenance_until"])
        audit_record(
            actor=by,
            action="integration.maintenance",
            obj=locked,
            before={"until": before.isoformat() if before else None},
            after={"until": until.isoformat() if until else None},
        )
    return locked


def silence_create(*, team, matchers, ends_at, reason, by, starts_at=None) -> Silence:
    reason = (reason or "").strip()
    starts_at = starts_at or timezone.now()
    if not reason:
        raise AlertError("A silence needs a reason.")
    if not matchers:
        raise AlertError("A silence needs at least one label matcher.")
    if ends_at <= starts_at:
        raise AlertError("A silence must end after it starts.")
    with transaction.atomic():
        silence = Silence.objects.create(
            team=team,
            matchers=matchers,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=by,
        )
        audit_record(
            actor=by,
            action="silence.create",
            obj=silence,
            after={"matchers": matchers, "ends_at": ends_at.isoformat(), "reason": reason},
        )
    return silence


def silence_expire(*, silence, by) -> Silence:
    with transaction.atomic():
        locked = Silence.objects.select_for_update().get(pk=silence.pk)
        now = timezone.now()
        if locked.ends_at > now:
            before = locked.ends_at
            locked.ends_at = max(now, locked.starts_at)
            locked.save(update_fields=["ends_at"])
            audit_record(
                actor=by,
                action="silence.expire",
                obj=locked,
                before={"ends_at": before.isoformat()},
                after={"ends_at": locked.ends_at.isoformat()},
            )
    return locked


def _team_for(integration, labels, rules):
    for rule in rules:
        if matchers_match(rule.matchers, labels):
            return rule.team
    return integration.team


def alert_event_data(*, alert, group) -> dict:
    """The ALERT timeline event's data; runbooks and postmortems read exactly these keys."""
    return {
        "alertname": alert.labels.get("alertname", ""),
        "labels": alert.labels,
        "annotations": alert.annotations,
        "fingerprint": alert.fingerprint,
        "group_key": group.group_key,
        "status": alert.status,
        "runbook_url": annotation_link(alert.annotations, "runbook"),
        "dashboard_url": annotation_link(alert.annotations, "dashboard"),
    }


def _severity_for(labels, routing, route) -> Severity:
    sev = (labels.get("sev") or "").strip().upper()
    if sev:
        level = sev.removeprefix("SEV")
        found = Severity.objects.filter(name=f"SEV{level}").first() if level.isdigit() else None
        if found:
            return found
    name = routing.severity_map.get(route.severity) or ("SEV1" if route.severity else "SEV3")
    return Severity.objects.filter(name=name).first() or Severity.objects.order_by("-level")[0]


def ingest(*, integration, alerts, received_at=None) -> dict:
    """Store one payload in one transaction: upsert the open group per key, insert or update
    its alerts, route new groups, resolve groups with nothing firing. Idempotent."""
    now = received_at or timezone.now()
    by_key = defaultdict(list)
    for alert in alerts:
        by_key[alert.group_key].append(alert)
    summary = {"alerts": len(alerts), "groups": 0, "new_alerts": 0, "resolved_groups": 0}
    # No savepoint: inside the webhook's transaction a failure fails the payload as a whole.
    with transaction.atomic(savepoint=False):
        stormed = _contain_storm(integration=integration, by_key=by_key, now=now)
        if stormed:
            summary["storm_alerts"] = stormed
        rules = None  # read when a payload opens a group: a repeat needs none of this
        silences_by_team = {}
        maintenance = integration.in_maintenance(now)
        # Sorted keys: two payloads touching the same groups lock them in the same order.
        for key in sorted(by_key):
            items = by_key[key]
            summary["groups"] += 1
            if rules is None:
                rules = _LazyRules(integration)
            counts = _ingest_group(
                integration=integration,
                key=key,
                items=items,
                rules=rules,
                silences_by_team=silences_by_team,
                maintenance=maintenance,
                now=now,
            )
            summary["new_alerts"] += counts["new"]
            summary["resolved_groups"] += counts["resolved"]
    return summary


# The one group per integration that gathers the new groups over the storm limit.
STORM_GROUP_KEY = "vigil:alert-storm"
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def _contain_storm(*, integration, by_key, now) -> int:
    """Keep an alert storm to one incident: at most ALERT_STORM_GROUPS_PER_REQUEST new groups
    from one payload and ALERT_STORM_GROUPS_PER_MINUTE from one integration open as
    themselves; the alerts of the rest move (in `by_key`) to the integration's storm group,
    which opens one incident and pages once. Alerts already gathered there stay there until
    they resolve. Returns how many alerts this payload sent to the storm group."""
    open_keys = set(
        AlertGroup.objects.filter(
            integration=integration,
            resolved_at__isnull=True,
            group_key__in=[*by_key, STORM_GROUP_KEY],
        ).values_list("group_key", flat=True)
    )
    moved = []
    if STORM_GROUP_KEY in open_keys:
        closed = {
            a.fingerprint: key
            for key, items in by_key.items()
            if key not in open_keys
            for a in items
        }
        gathered = Alert.objects.filter(
            group__integration=integration,
            group__group_key=STORM_GROUP_KEY,
            group__resolved_at__isnull=True,
            fingerprint__in=list(closed),
        ).values_list("fingerprint", flat=True)
        moved = sorted({closed[fp] for fp in gathered})
    new_keys = [
        key
        for key in sorted(by_key)
        if key not in open_keys
        and key not in moved
        and key != STORM_GROUP_KEY
        and any(a.status == "firing" for a in by_key[key])
    ]
    if new_keys:
        # Counting and opening under the integration's row lock: concurrent payloads cannot
        # each see room for the same groups. NO KEY UPDATE leaves group inserts unblocked.
        Integration.objects.select_for_update(no_key=True).filter(pk=integration.pk).first()
        recent = (
            AlertGroup.objects.filter(
                integration=integration, opened_at__gt=now - timedelta(minutes=1)
            )
            .exclude(group_key=STORM_GROUP_KEY)
            .count()
        )
        room = max(
            0,
            min(
                settings.ALERT_STORM_GROUPS_PER_REQUEST,
                settings.ALERT_STORM_GROUPS_PER_MINUTE - recent,
            ),
        )
        moved += new_keys[room:]
    if not moved:
        return 0
    storm = by_key.pop(STORM_GROUP_KEY, [])
    for key in moved:
        storm.extend(by_key.pop(key))
    by_key[STORM_GROUP_KEY] = storm
    logger.warning(
        "alert_storm", integration_id=integration.pk, groups=len(moved), alerts=len(storm)
    )
    return len(storm)


def _storm_group_fields(integration, items) -> dict:
    """The storm group's own title and labels: the worst severity among what it gathers, and
    a page override when any of them asked for one, so the storm is routed as its worst."""
    worst = min(items, key=lambda a: _SEVERITY_RANK.get(a.labels.get("severity", ""), 1))
    labels = {"alertname": "AlertStorm", "severity": worst.labels.get("severity", "warning")}
    if any(a.labels.get("oncall", "").lower() == "page" for a in items):
        labels["oncall"] = "page"
    minute = settings.ALERT_STORM_GROUPS_PER_MINUTE
    return {
        "worst": worst,
        "title": one_line(f"Alert storm from {integration.name}", 300),
        "labels": labels,
        "annotations": {
            "summary": f"More new alert groups than Vigil opens at once from {integration.name}",
            "description": (
                f"{integration.name} sent more than {minute} new alert groups in a minute (or "
                f"more than {settings.ALERT_STORM_GROUPS_PER_REQUEST} in one request). The "
                "rest are gathered in this group, so one incident pages once; every alert is "
                "listed on the group's page."
            ),
        },
    }


class _LazyRules:
    """An integration's routing rules, read from the database the first time they are used."""

    def __init__(self, integration):
        self.integration, self.rules = integration, None

    def __iter__(self):
        if self.rules is None:
            self.rules = list(self.integration.routing_rules.select_related("team"))
        return iter(self.rules)


def _ingest_group(*, integration, key, items, rules, silences_by_team, maintenance, now):
    first = items[0]
    any_firing = any(a.status == "firing" for a in items)

    def open_group():
        return (
            AlertGroup.objects.select_for_update(of=("self",))
            .select_related("team", "incident")
            .filter(integration=integration, group_key=key, resolved_at__isnull=True)
            .first()
        )

    group = open_group()
    created = False
    if group is None and any_firing:
        if key == STORM_GROUP_KEY:
            fields = _storm_group_fields(integration, items)
            team = _team_for(integration, fields.pop("worst").labels, rules)
        else:
            team = _team_for(integration, first.labels, rules)
            fields = {
                "title": one_line(
                    first.labels.get("alertname") or first.annotations.get("summary") or key,
                    300,
                ),
                "labels": first.labels,
                "annotations": first.annotations,
            }
        # The partial unique index decides between concurrent senders: one insert wins, the
        # others wait for it and then lock the same row.
        AlertGroup.objects.bulk_create(
            [
                AlertGroup(
                    integration=integration,
                    team=team,
                    group_key=key,
                    status=GroupStatus.FIRING,
                    severity=fields["labels"].get("severity", "")[:32],
                    opened_at=now,
                    last_alert_at=now,
                    **fields,
                )
            ],
            ignore_conflicts=True,
        )
        group = open_group()
        # Our insert won when the open group carries this payload's own receipt time (a
        # concurrent sender's row would carry its own) and has not been routed yet.
        created = group is not None and group.opened_at == now and not group.decision
    if group is None:
        return {"new": 0, "resolved": 0}  # resolutions for a group already resolved: nothing

    def silences():
        if group.team_id not in silences_by_team:
            silences_by_team[group.team_id] = list(
                Silence.objects.filter(team_id=group.team_id, starts_at__lte=now, ends_at__gt=now)
            )
        return silences_by_team[group.team_id]

    # The last word per fingerprint wins within one payload.
    latest = {a.fingerprint: a for a in items}
    existing = (
        {}
        if created  # a group opened just now has no alerts yet
        else {
            a.fingerprint: a
            for a in Alert.objects.filter(group=group, fingerprint__in=list(latest))
        }
    )
    new_rows, changed, newly_firing, newly_resolved = [], [], [], []
    for fp, item in latest.items():
        row = existing.get(fp)
        if row is None:
            silenced = maintenance or any(s.matches(item.labels) for s in silences())
            row = Alert(
                group=group,
                fingerprint=fp,
                status=item.status,
                labels=item.labels,
                annotations=item.annotations,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
                generator_url=item.generator_url,
                silenced=silenced,
                received_at=now,
                updated_at=now,
            )
            new_rows.append(row)
            (newly_firing if item.status == "firing" else newly_resolved).append(row)
            continue
        if (
            row.status != item.status
            or row.ends_at != item.ends_at
            or row.annotations != item.annotations
        ):
            if row.status != item.status:
                (newly_firing if item.status == "firing" else newly_resolved).append(row)
            row.status, row.ends_at, row.annotations = item.status, item.ends_at, item.annotations
            row.updated_at = now
            changed.append(row)
    if new_rows:
        Alert.objects.bulk_create(new_rows)
    if changed:
        Alert.objects.bulk_update(changed, ["status", "ends_at", "annotations", "updated_at"])
    if not (new_rows or changed):
        return {"new": 0, "resolved": 0}
    if group.last_alert_at != now:
        group.last_alert_at = now
        group.save(update_fields=["last_alert_at"])

    loud = [a for a in newly_firing if not a.silenced]
    if not group.decision or group.decision in (Decision.SILENCED, Decision.MAINTENANCE):
        if loud:
            _route_new_group(group=group, alerts=loud, now=now)
        elif newly_firing:
            group.silenced = True
            group.decision = Decision.MAINTENANCE if maintenance else Decision.SILENCED
            group.save(update_fields=["silenced", "decision"])
            logger.info("alert_group_silenced", group_id=group.pk, decision=group.decision)
    elif loud and group.incident_id and {a.name for a in loud} - {group.title}:
        # Another alert name joined the group: the timeline says so (same names stay quiet).
        loud = [a for a in loud if a.name != group.title]
        timeline_event_add(
            incident=group.incident,
            kind=EventKind.ALERT,
            body=_alert_body(loud[0], len(loud), verb="joined"),
            data={**alert_event_data(alert=loud[0], group=group), "count": len(loud)},
        )

    resolved = 0
    if newly_resolved and not group.alerts.filter(status=GroupStatus.FIRING).exists():
        _resolve_group(group=group, sample=newly_resolved[0], now=now)
        resolved = 1
    return {"new": len(new_rows), "resolved": resolved}


def _alert_body(alert, count, *, verb):
    name = alert.labels.get("alertname") or alert.annotations.get("summary") or alert.fingerprint
    summary = alert.annotations.get("summary", "")
    more = f" (+{count - 1} more)" if count > 1 else ""
    # Cut to fit one event (MAX_NOTE_LENGTH): a long name and summary failed the whole payload.
    text = f"Alert **{name[:300]}** {verb}{more}"
    return text + (f": {summary[:10_000]}" if summary and summary != name else "")


def _earlier_incident(group):
    """The incident an earlier group of the same key opened or joined (the latest), if any."""
    earlier = (
        AlertGroup.objects.filter(
            integration_id=group.integration_id,
            group_key=group.group_key,
            incident__isnull=False,
        )
        .exclude(pk=group.pk)
        .select_related("incident__severity", "incident__team")
        .order_by("-opened_at", "-pk")
        .first()
    )
    return earlier.incident if earlier else None


def _join_open_incident(*, group, incident, alerts, now):
    """A flapping alert: the same cause, still being handled. Nobody is paged again."""
    group.incident = incident
    group.decision = Decision.FIRED_AGAIN
    group.silenced = False
    group.save(update_fields=["incident", "decision", "silenced"])
    logger.info("alert_group_fired_again", group_id=group.pk, incident_id=incident.pk)
    timeline_event_add(
        incident=incident,
        kind=EventKind.ALERT,
        body=_alert_body(alerts[0], len(alerts), verb="fired again")
        + " (the incident is still open: nobody is paged again)",
        data={
            **alert_event_data(alert=alerts[0], group=group),
            "count": len(alerts),
            "fired_again": True,
        },
        occurred_at=now,
    )


def _within_reopen_window(incident, routing, now) -> bool:
    window = timedelta(minutes=routing.reopen_window_minutes)
    return bool(window and incident.resolved_at and now - incident.resolved_at <= window)


def _route_new_group(*, group, alerts, now):
    routing = team_routing(group.team)
    route = decide(labels=group.labels, routing=routing, time_zone=group.team.time_zone, at=now)
    reopened = None
    earlier = _earlier_incident(group) if route.opens_incident and not group.incident_id else None
    if earlier is not None and earlier.status != Status.RESOLVED:
        _join_open_incident(group=group, incident=earlier, alerts=alerts, now=now)
        return
    if earlier is not None and _within_reopen_window(earlier, routing, now):
        ago = max(1, round((now - earlier.resolved_at).total_seconds() / 60))
        try:
            reopened = incident_reopen(
                incident=earlier,
                reason=f"alert **{group.title}** fired again {ago} min after it was resolved",
                at=now,
            )
        except IncidentError:  # reopened by a concurrent payload in the meantime
            _join_open_incident(group=group, incident=earlier, alerts=alerts, now=now)
            return
        group.incident = reopened
    group.decision = route.decision
    group.silenced = False
    fields = ["decision", "silenced"]
    logger.info(
        "alert_routed",
        group_id=group.pk,
        alert=group.title,
        severity=route.severity,
        decision=route.decision,
    )
    events = [
        {
            "kind": EventKind.ALERT,
            "body": _alert_body(alerts[0], len(alerts), verb="fired"),
            "data": {**alert_event_data(alert=alerts[0], group=group), "count": len(alerts)},
            "pinned": True,
        },
        {
            "kind": EventKind.ROUTING,
            "body": route.describe(),
            "data": {
                "decision": route.decision,
                "severity": route.severity,
                "page": route.page,
                "channel": route.channel,
                "business_hours": route.business_hours,
                "override": route.override,
                "group_key": group.group_key,
            },
        },
    ]
    new_incident = route.opens_incident and group.incident_id is None
    if new_incident:
        severity = _severity_for(group.labels, routing, route)
        starts = [a.starts_at for a in alerts if a.starts_at and a.starts_at <= now]
        description = group.annotations.get("description") or group.annotations.get("summary", "")

        def attach(incident):
            # Linked before paging starts, so the first page and PagerDuty carry the alert.
            group.incident = incident
            AlertGroup.objects.filter(pk=group.pk).update(incident=incident)
            _mark_drill(group=group, incident=incident)

        incident_declare(
            title=f"[{route.severity.upper()}] {group.title}",
            severity=severity,
            team=group.team,
            by=None,
            summary=description,
            started_at=min(starts) if starts else None,
            affected_services=[group.labels["service"]] if group.labels.get("service") else None,
            events=events,
            page=route.page,
            attach=attach,
        )
    if reopened is not None:
        fields.append("incident")
    group.save(update_fields=fields)
    if group.incident_id and not new_incident:
        timeline_events_add(incident=group.incident, events=events)
    if route.channel:
        paging.chat_post(group=group, channel=route.channel, routing=routing, at=now)
    if route.page and reopened is not None:
        paging.escalation_restart(incident=reopened, at=now, routing=routing)
    elif route.page and group.incident_id and not new_incident:
        # An open incident this group joined; a new one started paging when it was declared.
        paging.escalation_start(incident=group.incident, at=now, routing=routing)


DRILL_LABEL = "vigil_drill"


def _mark_drill(*, group, incident):
    """A drill's alert (Vigil's own integration, naming a running drill of the team that has
    no incident yet) opens an incident marked is_drill and linked to the drill, before
    paging hears of it. The same label from any other sender is just a label."""
    drill_id = str(group.labels.get(DRILL_LABEL, ""))
    if not drill_id.isdigit() or group.integration.kind != IntegrationKind.INTERNAL:
        return
    drill_model = apps.get_model("reports", "Drill")
    linked = drill_model.objects.filter(
        pk=int(drill_id), team_id=group.team_id, incident__isnull=True, state="running"
    ).update(incident=incident)
    if linked:
        type(incident).objects.filter(pk=incident.pk).update(is_drill=True)
        incident.is_drill = True


def _resolve_group(*, group, sample, now):
    group.status = GroupStatus.RESOLVED
    group.resolved_at = now
    group.save(update_fields=["status", "resolved_at"])
    logger.info("alert_group_resolved", group_id=group.pk)
    if group.incident_id:
        timeline_event_add(
            incident=group.incident,
            kind=EventKind.ALERT,
            body=f"Alert group **{group.title}** resolved: nothing is firing any more",
            data={**alert_event_data(alert=sample, group=group), "status": "resolved"},
        )
        if not group.incident.alert_groups.filter(resolved_at__isnull=True).exists():
            paging.escalation_alerts_resolved(incident=group.incident, at=now)
