from django.db.models import Case, Value, When

from alerts.models import AlertGroup, GroupStatus, Integration, Silence
from teams.access import team_roles


def _team_filter(user, qs, prefix=""):
    if user.is_superuser:
        return qs
    return qs.filter(**{f"{prefix}team_id__in": list(team_roles(user))})


def group_list_for_user(*, user, status="open"):
    qs = AlertGroup.objects.select_related("team", "incident", "integration")
    if status == "open":
        qs = qs.filter(resolved_at__isnull=True)
    elif status == "resolved":
        qs = qs.filter(resolved_at__isnull=False)
    return _team_filter(user, qs).order_by("-last_alert_at")


def integrations_for_user(*, user):
    return _team_filter(user, Integration.objects.select_related("team"))


def silences_for_user(*, user):
    return _team_filter(user, Silence.objects.select_related("team", "created_by"))[:200]


def groups_for_incident(*, incident):
    return list(incident.alert_groups.order_by("opened_at")[:50])


def firing_groups_for_user(*, user):
    """The open, firing alert groups of the person's teams that nobody silenced: critical
    first, then the most recently active. One query."""
    rank = Case(
        When(severity="critical", then=Value(0)),
        When(severity="warning", then=Value(1)),
        default=Value(2),
    )
    qs = (
        AlertGroup.objects.filter(
            status=GroupStatus.FIRING, resolved_at__isnull=True, silenced=False
        )
        .select_related("team", "incident")
        .annotate(severity_rank=rank)
        .order_by("severity_rank", "-last_alert_at", "-pk")
    )
    return _team_filter(user, qs)
