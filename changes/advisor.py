"""The rollback advisor: the source document's "When to Rollback" rules, read for one incident.

Five rules call for a rollback (error rate > 10%, p95 latency > 2× normal, user-facing bugs,
data corruption risk, a root cause not found quickly) and four are its exceptions (a minor
issue, a fix under way, a fix faster than a rollback, a rollback that loses data). The two
metric rules are read from the team's Prometheus for the incident's service; when Prometheus
cannot say, they are questions for the responder like the other seven.
"""

import hashlib
from dataclasses import dataclass, field, replace

import structlog
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from changes.models import AdvisorAnswer, Answer, Service
from changes.prometheus import Reading, normal_query, prometheus_url_for, read
from changes.selectors import suspect_change
from changes.services import ChangeError
from common.links import redact_url

logger = structlog.get_logger(__name__)

ROLLBACK, NO_ROLLBACK, UNDECIDED = "rollback", "no_rollback", "undecided"
PROMETHEUS, RESPONDER, UNANSWERED = "prometheus", "responder", "unanswered"

ERROR_RATE_LIMIT = 0.10
LATENCY_FACTOR = 2.0
# A page render or an API call reuses a reading this long instead of asking Prometheus again;
# a failure is kept shorter, so a Prometheus that comes back is seen soon.
READING_SECONDS = 30
FAILED_READING_SECONDS = 10


@dataclass(frozen=True)
class Criterion:
    name: str
    label: str
    for_rollback: bool
    question: str
    metric: bool
    # How the reason names it when it is met.
    because: str


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "error_rate",
        "Error rate > 10%",
        True,
        "Is the error rate above 10%?",
        True,
        "error rate above 10%",
    ),
    Criterion(
        "latency",
        "p95 latency > 2× normal",
        True,
        "Is the p95 latency more than twice its normal?",
        True,
        "p95 latency above 2× normal",
    ),
    Criterion(
        "user_facing_bugs",
        "User-facing bugs",
        True,
        "Is there a user-facing bug?",
        False,
        "a user-facing bug",
    ),
    Criterion(
        "data_corruption",
        "Data corruption risk",
        True,
        "Is there a risk of data corruption?",
        False,
        "a risk of data corruption",
    ),
    Criterion(
        "root_cause_unknown",
        "Can't identify root cause quickly",
        True,
        "Is the root cause still unknown?",
        False,
        "the root cause is not identified quickly",
    ),
    Criterion(
        "minor_impact",
        "Minor issue (< 1% of users)",
        False,
        "Are fewer than 1% of users affected?",
        False,
        "a minor issue (< 1% of users)",
    ),
    Criterion(
        "fix_in_progress",
        "Root cause known and fixing",
        False,
        "Is the root cause known and a fix under way?",
        False,
        "the root cause is known and a fix is under way",
    ),
    Criterion(
        "fix_faster",
        "Fix is faster than rollback",
        False,
        "Would a fix be faster than a rollback?",
        False,
        "a fix is faster than a rollback",
    ),
    Criterion(
        "rollback_loses_data",
        "Rollback would cause data loss",
        False,
        "Would a rollback cause data loss?",
        False,
        "a rollback would cause data loss",
    ),
)
CRITERIA_BY_NAME = {c.name: c for c in CRITERIA}
ANSWER_WORDS = {Answer.YES: "yes", Answer.NO: "no", Answer.UNKNOWN: "don't know"}


@dataclass(frozen=True)
class CriterionResult:
    name: str
    label: str
    for_rollback: bool
    question: str
    # What is shown: "45.0%", "3.1 s vs 1.2 s normal (2.6×)", "yes", "not answered".
    value: str
    # True / False, or None when unknown.
    met: bool | None
    source: str  # "prometheus" | "responder" | "unanswered"
    # The responder's stored answer ("yes", "no", "unknown"), or "".
    answer: str
    metric: bool = False
    because: str = ""

    @property
    def answerable(self) -> bool:
        """Whether the responder is asked it (Prometheus did not answer it)."""
        return self.source != PROMETHEUS


@dataclass(frozen=True)
class Advice:
    recommendation: str  # "rollback" | "no_rollback" | "undecided"
    reason: str
    criteria: list[CriterionResult] = field(default_factory=list)
    service: Service | None = None
    prometheus_url: str = ""  # redacted
    prometheus_problem: str = ""

    @property
    def questions(self) -> list[CriterionResult]:
        """The criteria the responder answers (all but those Prometheus answered)."""
        return [c for c in self.criteria if c.answerable]

    def as_snapshot(self) -> dict:
        """The advice as stored with a rollback decision (the API's JSON)."""
        return advice_as_json(self)


# --- Prometheus --------------------------------------------------------------------------


def _cache_key(url: str, query: str) -> str:
    # Hashed: the URL may carry a password, and a key has a length limit.
    digest = hashlib.sha256(f"{url}\n{query}".encode()).hexdigest()
    return f"changes:advisor:reading:{digest}"


def cached_read(url: str, query: str) -> Reading:
    """read(), answered from Django's cache for 30 s (10 s for a failure)."""
    key = _cache_key(url, query)
    try:
        kept = cache.get(key)
    except Exception:  # noqa: BLE001 (a cache outage costs a fresh read, never the advice)
        logger.warning("advisor_cache_unavailable")
        kept = None
    if isinstance(kept, list | tuple) and len(kept) == 3:
        return Reading(*kept)
    reading = read(url, query)
    seconds = READING_SECONDS if reading.value is not None else FAILED_READING_SECONDS
    try:
        cache.set(key, (reading.value, reading.problem, reading.series), seconds)
    except Exception:  # noqa: BLE001
        logger.warning("advisor_cache_unavailable")
    return reading


def _problem_text(reading: Reading, where: str, what: str = "") -> str:
    """The reading's problem, saying whether Prometheus was unreachable, timed out, refused
    the query or had no data."""
    detail = reading.problem.removeprefix(f"{where}: ").strip()
    lowered = detail.lower()
    if "within" in lowered and "answer" in lowered:
        verb = "timed out"
    elif "refused the query" in lowered:
        verb = "refused the query"
    elif "no data" in lowered:
        verb = "had no data"
    elif lowered.startswith("prometheus answered") or "did not answer json" in lowered:
        verb = "gave an answer Vigil cannot use"
    else:
        verb = "is unreachable"
    query = f" for the {what} query" if what else ""
    return f"Prometheus at {where} {verb}{query}: {detail}"


def _is_down(reading: Reading) -> bool:
    """Whether the failure is Prometheus itself, not the query (so no other query is sent)."""
    lowered = reading.problem.lower()
    return bool(reading.problem) and not ("no data" in lowered or "refused the query" in lowered)


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _metric_readings(url: str, service) -> tuple[dict, str]:
    """({criterion name: (value text, met, because)} for what Prometheus measured, and what
    went wrong in words, or "")."""
    where = redact_url(url)
    found, problems = {}, []
    if service.error_rate_query.strip():
        reading = cached_read(url, service.error_rate_query)
        if _is_down(reading):
            # The same Prometheus for the latency: asking it again would only wait again.
            return {}, _problem_text(reading, where) + " The metric questions are asked instead."
        if reading.value is None:
            problems.append(_problem_text(reading, where, "error-rate"))
        else:
            met = reading.value > ERROR_RATE_LIMIT
            because = f"error rate {reading.value * 100:.3g}% > 10%" if met else ""
            found["error_rate"] = (_percent(reading.value), met, because)
    else:
        problems.append(f"{service.name} has no error-rate query.")
    if service.latency_query.strip():
        now = cached_read(url, service.latency_query)
        if now.value is None:
            problems.append(_problem_text(now, where, "p95 latency"))
        else:
            normal = cached_read(url, normal_query(service.latency_query))
            found["latency"] = _latency(now.value, normal.value)
    else:
        problems.append(f"{service.name} has no p95 latency query.")
    return found, " ".join(problems)


def _latency(now: float, normal: float | None):
    if normal is None:
        return f"{_seconds(now)} now; no normal value from a week ago", None, ""
    if normal <= 0:
        return f"{_seconds(now)} vs {_seconds(normal)} normal", None, ""
    ratio = now / normal
    met = now > LATENCY_FACTOR * normal
    because = f"p95 latency {_seconds(now)} > 2× normal {_seconds(normal)}" if met else ""
    return f"{_seconds(now)} vs {_seconds(normal)} normal ({ratio:.1f}×)", met, because


# --- the advice --------------------------------------------------------------------------


def advice_service(*, incident) -> Service | None:
    """The service whose metrics the advice reads: the suspect change's, else a service of
    the incident's team it names as affected, else the team's only service."""
    change = suspect_change(incident=incident)
    if change is not None:
        return change.service
    named = [s for s in (incident.affected_services or []) if isinstance(s, str) and s]
    if named:
        rows = Service.objects.filter(team_id=incident.team_id, name__in=named)
        by_name = {s.name: s for s in rows}
        for name in named:
            if name in by_name:
                return by_name[name]
    only = list(Service.objects.filter(team_id=incident.team_id)[:2])
    return only[0] if len(only) == 1 else None


def _answered(criterion: Criterion, answer: str) -> CriterionResult | None:
    if answer not in ANSWER_WORDS:
        return None
    met = {Answer.YES: True, Answer.NO: False}.get(answer)
    return _result(criterion, ANSWER_WORDS[answer], met, RESPONDER, answer)


def _result(criterion, value, met, source, answer, because="") -> CriterionResult:
    return CriterionResult(
        name=criterion.name,
        label=criterion.label,
        for_rollback=criterion.for_rollback,
        question=criterion.question,
        value=value,
        met=met,
        source=source,
        answer=answer,
        metric=criterion.metric,
        because=(because or criterion.because) if met else "",
    )


def advice_for(*, incident) -> Advice:
    """The advice for the incident now: Prometheus for the metrics where it can say, the
    responders' answers for the rest. Never raises for Prometheus; reads are cached."""
    service = advice_service(incident=incident)
    url = prometheus_url_for(incident.team)
    measured, problem = {}, ""
    if not url:
        problem = "No Prometheus is set for this team (nor PROMETHEUS_URL)."
    elif service is None:
        problem = "No service is known for this incident, so no metrics were read."
    else:
        measured, problem = _metric_readings(url, service)
    answers = dict(
        AdvisorAnswer.objects.filter(incident=incident).values_list("criterion", "answer")
    )
    results = []
    for criterion in CRITERIA:
        answer = answers.get(criterion.name, "")
        reading = measured.get(criterion.name)
        if reading is not None and reading[1] is not None:
            value, met, because = reading
            results.append(_result(criterion, value, met, PROMETHEUS, answer, because))
            continue
        answered = _answered(criterion, answer)
        if answered is not None:
            if reading is not None:  # Prometheus measured something, without a verdict
                answered = replace(answered, value=f"{answered.value} ({reading[0]})")
            results.append(answered)
            continue
        value = f"not answered ({reading[0]})" if reading is not None else "not answered"
        results.append(_result(criterion, value, None, UNANSWERED, ""))
    recommendation, reason = _decide(results)
    return Advice(
        recommendation=recommendation,
        reason=reason,
        criteria=results,
        service=service,
        prometheus_url=redact_url(url) if url else "",
        prometheus_problem=problem,
    )


def _listed(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _decide(results: list[CriterionResult]) -> tuple[str, str]:
    """The document's order of precedence: an exception (a "don't") wins over the reasons."""
    against = [r.because for r in results if r.met and not r.for_rollback]
    towards = [r.because for r in results if r.met and r.for_rollback]
    if against and towards:
        return NO_ROLLBACK, (
            f"Don't roll back: {_listed(against)}, an exception that outweighs {_listed(towards)}."
        )
    if against:
        return NO_ROLLBACK, f"Don't roll back: {_listed(against)}."
    if towards:
        return ROLLBACK, f"Roll back: {_listed(towards)}."
    open_questions = [f"“{r.question}”" for r in results if r.met is None]
    if not open_questions:
        return NO_ROLLBACK, "Don't roll back: nothing calls for a rollback."
    return UNDECIDED, f"Not enough to say: answer {_listed(open_questions)}."


def answer_record(*, incident, criterion: str, answer: str, by) -> AdvisorAnswer:
    """Store (or change) a responder's answer to one criterion's question."""
    if not isinstance(criterion, str) or criterion not in CRITERIA_BY_NAME:
        raise ChangeError(f"Unknown criterion: use one of {', '.join(CRITERIA_BY_NAME)}.")
    if not isinstance(answer, str) or answer not in Answer.values:
        raise ChangeError(f"The answer must be one of {', '.join(Answer.values)}.")
    with transaction.atomic():
        row, _ = AdvisorAnswer.objects.update_or_create(
            incident=incident,
            criterion=criterion,
            defaults={
                "answer": answer,
                "answered_by": by if getattr(by, "is_authenticated", False) else None,
                "answered_at": timezone.now(),
            },
        )
    logger.info(
        "rollback_advice_answered",
        incident_id=incident.pk,
        criterion=criterion,
        answer=answer,
        user_id=getattr(by, "pk", None),
    )
    return row


def advice_as_json(advice: Advice) -> dict:
    return {
        "recommendation": advice.recommendation,
        "reason": advice.reason,
        "criteria": [
            {
                "name": c.name,
                "label": c.label,
                "value": c.value,
                "met": c.met,
                "source": c.source,
                "for_rollback": c.for_rollback,
            }
            for c in advice.criteria
        ],
        "service": advice.service.name if advice.service is not None else None,
        "prometheus": {"url": advice.prometheus_url, "problem": advice.prometheus_problem},
    }
