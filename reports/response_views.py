"""The response report page, its CSV exports, and the charts drawn from the report."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from common.inputs import InputError, clean_text
from reports.charts import Chart
from reports.periods import MAX_DAYS
from reports.response import (
    DEFINITIONS,
    Period,
    ResponseReport,
    Share,
    cache_seconds,
    period_parse,
    response_report_cached,
)
from teams.access import role_in
from teams.models import Team


def team_for_member(user, slug: str) -> Team:
    """The team a member (or a Vigil administrator) asks about; 404 for everyone else, so an
    outsider cannot tell a team from a typing error."""
    team = Team.objects.filter(slug=slug).first()
    if team is None or not (user.is_superuser or role_in(user, team.pk) is not None):
        raise Http404("No such team.")
    return team


def _minutes(seconds):
    return None if seconds is None else round(seconds / 60, 1)


def _share_row(label, share: Share):
    return [label, share.met, share.of, share.percent]


def report_charts(report: ResponseReport) -> list[Chart]:
    """The charts of the page, in order; each one's rows are its table and its CSV."""
    durations = [
        ("Time to acknowledge", report.acknowledge),
        ("Time to mitigate", report.mitigate),
        ("Time to resolve", report.resolve),
    ]
    return [
        Chart(
            name="times",
            title="Mean and median response times",
            kind="bar",
            columns=["Measure", "Mean (min)", "Median (min)", "Incidents measured"],
            rows=[
                [label, _minutes(d.mean), _minutes(d.median), d.measured] for label, d in durations
            ],
            series=[1, 2],
            unit="min",
        ),
        Chart(
            name="targets",
            title="Within target",
            kind="bar",
            columns=["Target", "Met", "Of", "Share (%)"],
            rows=[
                _share_row("Acknowledged within 5 minutes", report.acknowledged_within_target),
                _share_row("Escalated within 15 minutes", report.escalated_within_target),
                _share_row("SEV1 updates every 15 minutes", report.sev1_updates_kept),
                _share_row("Action items done on time", report.action_items_on_time),
            ],
            series=[3],
            unit="%",
        ),
        Chart(
            name="escalations",
            title="Escalations that reached the secondary and the lead",
            kind="bar",
            columns=["Reached", "Paged incidents", "Of paged", "Share (%)"],
            rows=[
                [
                    "The secondary",
                    report.reached_secondary.met,
                    report.paged,
                    report.reached_secondary.percent,
                ],
                ["The lead", report.reached_lead.met, report.paged, report.reached_lead.percent],
            ],  # fmt: skip
            series=[1],
            unit="incidents",
        ),
        Chart(
            name="severity",
            title="Incidents by severity",
            kind="bar",
            columns=[
                "Severity",
                "Incidents",
                "Median time to acknowledge (min)",
                "Median time to resolve (min)",
            ],
            rows=[
                [g.label, g.incidents, _minutes(g.acknowledge.median), _minutes(g.resolve.median)]
                for g in report.by_severity
            ],
            series=[1],
            unit="incidents",
        ),
        Chart(
            name="service",
            title="Incidents by service",
            kind="bar",
            columns=["Service", "Incidents"],
            rows=[[service, count] for service, count in report.by_service],
            series=[1],
            unit="incidents",
            note="An incident that affected two services counts once for each.",
        ),
        Chart(
            name="week",
            title="Incidents by week",
            kind="bar",
            columns=["Week starting", "Incidents"],
            rows=[[g.label, g.incidents] for g in report.by_week],
            series=[1],
            unit="incidents",
            note="Weeks start on Monday in the team's time zone; the first and last may be "
            "partly outside the period.",
        ),
        Chart(
            name="weekly_times",
            title="Median response times by week",
            kind="line",
            columns=[
                "Week starting",
                "Median time to acknowledge (min)",
                "Median time to mitigate (min)",
                "Median time to resolve (min)",
            ],
            rows=[
                [
                    g.label,
                    _minutes(g.acknowledge.median),
                    _minutes(g.mitigate.median),
                    _minutes(g.resolve.median),
                ]
                for g in report.by_week
            ],
            series=[1, 2, 3],
            unit="min",
        ),
    ]


def _duration_text(seconds) -> str:
    if seconds is None:
        return "none to measure"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _share_text(share: Share) -> str:
    if not share.of:
        return "none to count"
    return f"{share.percent}% ({share.met} of {share.of})"


def headline(report: ResponseReport) -> list[tuple[str, str]]:
    """The figures at the top of the page, in words."""
    return [
        ("Incidents", str(report.incidents)),
        ("Mean time to acknowledge", _duration_text(report.acknowledge.mean)),
        ("Median time to acknowledge", _duration_text(report.acknowledge.median)),
        ("Mean time to mitigate", _duration_text(report.mitigate.mean)),
        ("Median time to mitigate", _duration_text(report.mitigate.median)),
        ("Mean time to resolve", _duration_text(report.resolve.mean)),
        ("Median time to resolve", _duration_text(report.resolve.median)),
        ("Acknowledged within 5 minutes", _share_text(report.acknowledged_within_target)),
        ("Escalated within 15 minutes", _share_text(report.escalated_within_target)),
        ("SEV1 updates every 15 minutes", _share_text(report.sev1_updates_kept)),
        ("Reached the secondary", _share_text(report.reached_secondary)),
        ("Reached the lead", _share_text(report.reached_lead)),
        ("Action items done on time", _share_text(report.action_items_on_time)),
    ]


def _csv_link(team, period: Period, chart: Chart) -> str:
    query = urlencode(
        {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "format": "csv",
            "chart": chart.name,
        }
    )
    return f"{reverse('reports_response', args=[team.slug])}?{query}"


def _refuse(request, team, reason, start, end):
    context = {
        "team": team,
        "error": reason,
        "start": clean_text(start)[:40],
        "end": clean_text(end)[:40],
        "max_days": MAX_DAYS,
        "definitions": DEFINITIONS,
    }
    return render(request, "reports/response.html", context, status=400)


@never_cache
@login_required
def response_page(request, slug):
    """A team's response report for a period (?start=&end=, YYYY-MM-DD, end included;
    default the last 90 days); ?format=csv&chart=<name> gives one chart's rows as CSV."""
    team = team_for_member(request.user, slug)
    start, end = request.GET.get("start", ""), request.GET.get("end", "")
    try:
        period = period_parse(team=team, start=start, end=end)
    except InputError as exc:
        return _refuse(request, team, str(exc), start, end)
    wanted = request.GET.get("format", "html")
    if wanted not in ("html", "csv"):
        return _refuse(
            request, team, "format must be html or csv.", period.start.isoformat(),
            period.end.isoformat(),
        )  # fmt: skip
    report, computed_at = response_report_cached(team=team, period=period)
    charts = report_charts(report)
    if wanted == "csv":
        by_name = {chart.name: chart for chart in charts}
        chart = by_name.get(request.GET.get("chart", ""))
        if chart is None:
            names = ", ".join(by_name)
            return _refuse(
                request, team, f"chart must be one of: {names}.", period.start.isoformat(),
                period.end.isoformat(),
            )  # fmt: skip
        response = HttpResponse(chart.csv(), content_type="text/csv; charset=utf-8")
        filename = f"vigil-response-{team.slug}-{period.start}-{period.end}-{chart.name}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    context = {
        "team": team,
        "period": period,
        "report": report,
        "headline": headline(report),
        "computed_at": computed_at,
        "cache_seconds": cache_seconds(),
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "charts": [(chart, _csv_link(team, period, chart)) for chart in charts],
        "definitions": DEFINITIONS,
        "max_days": MAX_DAYS,
        "api_url": "/api/v1/reports/response?"
        + urlencode({"team": team.slug, "start": period.start, "end": period.end}),
    }
    return render(request, "reports/response.html", context)
