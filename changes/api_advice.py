"""The rollback advisor over the JSON API: an incident's advice, and a responder's answer to
one of its questions. Same rules as the incident: a private incident is a 404 to outsiders,
answering needs the responder role in the incident's team."""

from typing import Literal

import structlog
from ninja import Field, Router, Schema
from ninja import Status as Reply

from changes.advisor import CRITERIA, advice_as_json, advice_for, answer_record
from changes.models import Answer
from changes.services import ChangeError
from common.api_schemas import ErrorOut
from incidents.models import Incident
from teams.access import CHANGE, get_object_for_user

log = structlog.get_logger(__name__)
router = Router(tags=["rollback advice"])

CriterionName = Literal[tuple(c.name for c in CRITERIA)]  # type: ignore[valid-type]
AnswerName = Literal[tuple(Answer.values)]  # type: ignore[valid-type]


class CriterionOut(Schema):
    name: str = Field(examples=["error_rate"])
    label: str = Field(examples=["Error rate > 10%"])
    value: str = Field(examples=["45.0%"], description="What is shown for it.")
    met: bool | None = Field(description="Whether it holds; null when unknown.")
    source: Literal["prometheus", "responder", "unanswered"]
    for_rollback: bool = Field(description="True: calls for a rollback; false: an exception.")


class PrometheusOut(Schema):
    url: str = Field(description="The team's Prometheus (password masked); empty: none.")
    problem: str = Field(description="Why Prometheus could not be used; empty: it was.")


class AdviceOut(Schema):
    recommendation: Literal["rollback", "no_rollback", "undecided"]
    reason: str = Field(examples=["Roll back: error rate 45% > 10%."])
    criteria: list[CriterionOut]
    service: str | None = Field(description="The service whose metrics were read.")
    prometheus: PrometheusOut


class AnswerIn(Schema):
    criterion: CriterionName
    answer: AnswerName = Field(description="yes, no, or unknown (don't know).")


def _incident(request, incident_id: int, action=None):
    lookup = {"action": action} if action else {}
    return get_object_for_user(
        request.user, Incident.objects.select_related("team"), pk=incident_id, **lookup
    )


@router.get(
    "/incidents/{int:incident_id}/rollback-advice",
    response={200: AdviceOut, 404: ErrorOut},
    summary="Read an incident's rollback advice",
    operation_id="incident_rollback_advice",
)
def rollback_advice(request, incident_id: int):
    """Whether to roll back, by the source document's nine rules: the error rate and p95
    latency from the team's Prometheus where it can say, the responders' answers for the
    rest."""
    incident = _incident(request, incident_id)
    return Reply(200, advice_as_json(advice_for(incident=incident)))


@router.post(
    "/incidents/{int:incident_id}/rollback-advice/answers",
    response={200: AdviceOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Answer one of the rollback advisor's questions",
    operation_id="incident_rollback_advice_answer",
)
def rollback_advice_answer(request, incident_id: int, payload: AnswerIn):
    """Answer a criterion (yes, no, unknown) for the incident; returns the new advice. An
    answer to a metric criterion counts only while Prometheus gives no value for it."""
    incident = _incident(request, incident_id, CHANGE)
    try:
        answer_record(
            incident=incident, criterion=payload.criterion, answer=payload.answer, by=request.user
        )
    except ChangeError as exc:
        return Reply(400, {"detail": str(exc)})
    log.info("api_rollback_advice_answered", incident_id=incident.pk, user_id=request.user.pk)
    return Reply(200, advice_as_json(advice_for(incident=incident)))
