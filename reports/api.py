"""Reports over the JSON API: a team's response figures for a period.

Only the team's members (and Vigil administrators) may read a team's report; for anyone else
the team does not exist (404). Times are in seconds, null when there is nothing to average;
shares are fractions from 0 to 1, null when there is nothing to count.
"""

from ninja import Field, Router, Schema
from ninja import Status as Reply

from common.api_schemas import ErrorOut
from common.inputs import InputError, Text
from reports.response import period_parse, report_as_json, response_report_cached
from teams.access import role_in
from teams.models import Team

router = Router(tags=["reports"])


class ShareOut(Schema):
    met: int
    of: int
    share: float | None = Field(description="met / of; null when `of` is 0.")


class SeverityRowOut(Schema):
    severity: str
    incidents: int
    median_time_to_acknowledge_seconds: float | None
    median_time_to_mitigate_seconds: float | None
    median_time_to_resolve_seconds: float | None


class WeekRowOut(Schema):
    week: str = Field(description="The Monday starting the week, in the team's time zone.")
    incidents: int
    median_time_to_acknowledge_seconds: float | None
    median_time_to_mitigate_seconds: float | None
    median_time_to_resolve_seconds: float | None


class ServiceRowOut(Schema):
    service: str
    incidents: int


class ResponseReportOut(Schema):
    team: str
    time_zone: str
    start: str
    end: str = Field(description="Included.")
    incidents: int = Field(description="Declared in the period (team time zone); no drills.")
    mean_time_to_acknowledge_seconds: float | None
    median_time_to_acknowledge_seconds: float | None
    mean_time_to_mitigate_seconds: float | None
    median_time_to_mitigate_seconds: float | None
    mean_time_to_resolve_seconds: float | None
    median_time_to_resolve_seconds: float | None
    acknowledged: int
    mitigated: int
    resolved: int
    paged: int = Field(description="Incidents with an escalation.")
    acknowledged_within_5_minutes: ShareOut
    escalated_within_15_minutes: ShareOut
    sev1_updates_every_15_minutes: ShareOut
    reached_secondary: ShareOut
    reached_lead: ShareOut
    action_items_done_on_time: ShareOut
    by_severity: list[SeverityRowOut]
    by_week: list[WeekRowOut]
    by_service: list[ServiceRowOut]


@router.get(
    "/response",
    response={200: ResponseReportOut, 400: ErrorOut, 404: ErrorOut},
    summary="A team's response report",
    operation_id="reports_response",
)
def response(request, team: Text, start: Text = "", end: Text = ""):
    """The team's response figures for the days from `start` to `end` (YYYY-MM-DD, both
    included, in the team's time zone; default the last 90 days; at most 731 days), as on
    the report page, whose definitions apply. Drills are never counted."""
    slug = team.strip()
    found = Team.objects.filter(slug=slug).first()
    if found is None or not (
        request.user.is_superuser or role_in(request.user, found.pk) is not None
    ):
        return Reply(404, {"detail": f"No team with slug {slug[:100]!r} that you belong to."})
    try:
        period = period_parse(team=found, start=start, end=end)
    except InputError as exc:
        return Reply(400, {"detail": str(exc)})
    report, _ = response_report_cached(team=found, period=period)
    return Reply(200, report_as_json(report))
