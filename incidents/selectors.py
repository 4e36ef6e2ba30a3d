from incidents.models import Incident, Status
from vigil.access import visible_filter


def incident_list_open_for_user(*, user):
    return (
        Incident.objects.filter(visible_filter(user))
        .exclude(status=Status.RESOLVED)
        .select_related("severity", "team", "commander")
        .order_by("severity__level", "-declared_at")
    )
