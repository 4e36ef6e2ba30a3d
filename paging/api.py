from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from incidents.models import Incident
from paging.models import Escalation
from paging.services import incident_acknowledge
from teams.access import CHANGE, get_object_for_user

router = Router(tags=["paging"])


class EscalationOut(Schema):
    incident_id: int
    status: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    time_to_acknowledge_seconds: float | None


def _out(escalation):
    return {
        "incident_id": escalation.incident_id,
        "status": escalation.status,
        "acknowledged_at": escalation.acknowledged_at.isoformat()
        if escalation.acknowledged_at
        else None,
        "acknowledged_by": escalation.acknowledged_by.username
        if escalation.acknowledged_by
        else None,
        "time_to_acknowledge_seconds": escalation.time_to_acknowledge.total_seconds()
        if escalation.time_to_acknowledge
        else None,
    }


@router.post("/incidents/{incident_id}/acknowledge", response=EscalationOut)
def acknowledge(request, incident_id: int):
    """Acknowledge an incident's page: stops its escalation, records time-to-acknowledge."""
    incident = get_object_for_user(
        request.user, Incident.objects.all(), action=CHANGE, pk=incident_id
    )
    incident_acknowledge(incident=incident, by=request.user, via="API")
    return _out(
        get_object_or_404(Escalation.objects.select_related("acknowledged_by"), incident=incident)
    )


@router.get("/incidents/{incident_id}/escalation", response=EscalationOut)
def escalation(request, incident_id: int):
    incident = get_object_for_user(request.user, Incident.objects.all(), pk=incident_id)
    return _out(
        get_object_or_404(Escalation.objects.select_related("acknowledged_by"), incident=incident)
    )
