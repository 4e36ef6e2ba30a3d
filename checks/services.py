"""Writes for dependency checks: saving them (the target checked as the runners read it),
recording results and the up/down state they lead to, the alert raised on going down and
resolved on recovery (through the team's internal integration, so routing, silences and
paging treat it like Alertmanager's), and the tick that claims and runs due checks."""

import math
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta

import re2
import structlog
from django.db import transaction
from django.utils import timezone

from alerts.services import internal_alert
from audit.services import audit_record
from checks.models import Check, CheckKind, CheckResult, CheckState, Comparison
from checks.runners import DETAIL_CHARS, TargetError, run_check, target_endpoint
from common.inputs import clean_text, unstorable
from common.outbound import OutboundRefused, check_endpoint
from teams.access import MANAGE, can

logger = structlog.get_logger(__name__)

# Results older than this are deleted by the tick.
RESULTS_KEPT_FOR = timedelta(days=7)
# Checks run at once by one tick (one thread each), and extra seconds a run may take past
# its timeout before the tick records it as unanswered and moves on.
TICK_POOL = 16
TICK_GRACE_SECONDS = 2.0

LIMITS = {
    "interval_seconds": (10, 86400),
    "timeout_seconds": (1, 60),
    "fail_after": (1, 100),
    "recover_after": (1, 100),
    "expected_status": (100, 599),
}
FIELDS = (
    "name",
    "kind",
    "target",
    "expected_status",
    "body_match",
    "query",
    "comparison",
    "threshold",
    "interval_seconds",
    "timeout_seconds",
    "fail_after",
    "recover_after",
    "enabled",
)
# Targets whose password is a secret kept when an edit leaves it out.
SECRET_KINDS = {CheckKind.REDIS, CheckKind.POSTGRES, CheckKind.HTTP, CheckKind.PROMETHEUS}


class CheckError(ValueError):
    """A check that cannot be saved or run as asked; the message is for the person, `field`
    the form field it is about (None: the whole check)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- saving ----------------------------------------------------------------------------


def _kept_password(new_url: str, old_url: str) -> str:
    """An edit that leaves the password out keeps the saved one (it is never shown back),
    as long as it points at the same host and port."""
    try:
        new, old = urllib.parse.urlsplit(new_url), urllib.parse.urlsplit(old_url)
        same = (new.hostname, new.port, new.scheme) == (old.hostname, old.port, old.scheme)
    except ValueError:
        return new_url
    if new.password or not old.password or not same:
        return new_url
    user = new.username or old.username or ""
    host = f"[{new.hostname}]" if ":" in (new.hostname or "") else new.hostname
    netloc = f"{user}:{old.password}@{host}" + (f":{new.port}" if new.port else "")
    return urllib.parse.urlunsplit(new._replace(netloc=netloc))


def _number(data, field, kind=int):
    low, high = LIMITS[field]
    value = data.get(field)
    try:
        value = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckError(
            f"{field.replace('_', ' ').capitalize()} must be a number.", field
        ) from None
    if not (isinstance(value, int) or math.isfinite(value)) or not low <= value <= high:
        raise CheckError(
            f"{field.replace('_', ' ').capitalize()} must be from {low} to {high}.", field
        )
    return value


def _cleaned(data: dict, *, team, check: Check | None) -> dict:
    """The check's fields from form data, each checked; CheckError names the first problem."""
    for field, value in data.items():
        if isinstance(value, str) and (bad := unstorable(value)):
            raise CheckError(f"{field.replace('_', ' ').capitalize()} contains {bad}.", field)
    out = {}
    name = " ".join((data.get("name") or "").split())
    if not name:
        raise CheckError("A check needs a name.", "name")
    if len(name) > 100:
        raise CheckError("A check's name has at most 100 characters.", "name")
    out["name"] = name
    kind = data.get("kind")
    if kind not in CheckKind.values:
        raise CheckError(
            "Choose a kind of check: http, tcp, redis, postgres or prometheus.", "kind"
        )
    out["kind"] = kind

    target = (data.get("target") or "").strip()
    if check is not None and not target:
        target = check.target
    elif check is not None and kind in SECRET_KINDS:
        target = _kept_password(target, check.target)
    if not target:
        raise CheckError("A check needs a target.", "target")
    if len(target) > 500:
        raise CheckError("The target has at most 500 characters.", "target")
    try:
        host, port = target_endpoint(kind, target)
        check_endpoint(host, port)
    except TargetError as exc:
        raise CheckError(str(exc), "target") from None
    except OutboundRefused as exc:
        if not exc.unresolved:  # a name that does not resolve yet is checked at every run
            raise CheckError(str(exc), "target") from None
    out["target"] = target

    out["expected_status"] = _number({"expected_status": 200} | data, "expected_status")
    body_match = data.get("body_match") or ""
    if kind == CheckKind.HTTP and body_match:
        if len(body_match) > 500:
            raise CheckError("The body match has at most 500 characters.", "body_match")
        try:
            re2.compile(body_match)
        except re2.error as exc:
            raise CheckError(
                f"The body match is not a regular expression RE2 reads: {exc}.", "body_match"
            ) from None
    out["body_match"] = body_match if kind == CheckKind.HTTP else ""

    if kind == CheckKind.PROMETHEUS:
        query = (data.get("query") or "").strip()
        if not query:
            raise CheckError("A Prometheus check needs a query.", "query")
        if len(query) > 2000:
            raise CheckError("The query has at most 2000 characters.", "query")
        comparison = data.get("comparison") or Comparison.GT
        if comparison not in Comparison.values:
            raise CheckError("Choose a comparison: >, >=, < or <=.", "comparison")
        try:
            threshold = float(data.get("threshold"))
        except (TypeError, ValueError, OverflowError):
            raise CheckError(
                "A Prometheus check needs a threshold (a number).", "threshold"
            ) from None
        if not math.isfinite(threshold):
            raise CheckError("The threshold must be a finite number.", "threshold")
        out.update(query=query, comparison=comparison, threshold=threshold)
    else:
        out.update(query="", comparison=Comparison.GT, threshold=None)

    out["interval_seconds"] = _number({"interval_seconds": 60} | data, "interval_seconds")
    out["timeout_seconds"] = _number({"timeout_seconds": 5} | data, "timeout_seconds", float)
    if out["timeout_seconds"] >= out["interval_seconds"]:
        raise CheckError("The timeout must be shorter than the interval.", "timeout_seconds")
    out["fail_after"] = _number({"fail_after": 3} | data, "fail_after")
    out["recover_after"] = _number({"recover_after": 2} | data, "recover_after")
    out["enabled"] = bool(data.get("enabled", True))

    clash = Check.objects.filter(team=team, name=name)
    if check is not None:
        clash = clash.exclude(pk=check.pk)
    if clash.exists():
        raise CheckError(f"{team} already has a check named {name!r}.", "name")
    return out


def _audit_view(check) -> dict:
    view = {f: getattr(check, f) for f in FIELDS}
    view["target"] = check.redacted_target
    return view


def _must_manage(by, team) -> None:
    if not can(by, MANAGE, team):
        raise CheckError(f"Only managers of {team} may change its checks.")


def check_create(*, team, data: dict, by) -> Check:
    _must_manage(by, team)
    fields = _cleaned(data, team=team, check=None)
    with transaction.atomic():
        check = Check.objects.create(team=team, created_by=by, next_run_at=timezone.now(), **fields)
        audit_record(actor=by, action="check.create", obj=check, after=_audit_view(check))
    logger.info("check_created", check_id=check.pk, kind=check.kind, team_id=team.pk)
    return check


def check_update(*, check: Check, data: dict, by) -> Check:
    """Save new settings. A new kind or target, or pausing, starts the check over: its state
    goes back to unknown (resolving its alert if it was down)."""
    _must_manage(by, check.team)
    fields = _cleaned(data, team=check.team, check=check)
    with transaction.atomic():
        locked = Check.objects.select_for_update().get(pk=check.pk)
        before = _audit_view(locked)
        start_over = (
            fields["kind"] != locked.kind
            or fields["target"] != locked.target
            or fields["query"] != locked.query
            or (locked.enabled and not fields["enabled"])
        )
        resumed = fields["enabled"] and not locked.enabled
        for name, value in fields.items():
            setattr(locked, name, value)
        if start_over:
            _start_over(locked, detail="The check was changed or paused.")
        if start_over or resumed:
            locked.next_run_at = timezone.now()
        locked.save()
        audit_record(
            actor=by, action="check.update", obj=locked, before=before, after=_audit_view(locked)
        )
    return locked


def _start_over(check: Check, *, detail: str) -> None:
    if check.state == CheckState.DOWN:
        _alert(check, firing=False, detail=detail)
    check.state = CheckState.UNKNOWN
    check.consecutive_failures = check.consecutive_successes = 0


def check_delete(*, check: Check, by) -> None:
    """Delete a check and its results; an alert it raised is resolved, not left firing."""
    _must_manage(by, check.team)
    with transaction.atomic():
        locked = Check.objects.select_for_update().get(pk=check.pk)
        if locked.state == CheckState.DOWN:
            _alert(locked, firing=False, detail="The check was deleted.")
        audit_record(actor=by, action="check.delete", obj=locked, before=_audit_view(locked))
        locked.delete()


# --- results and state -----------------------------------------------------------------


def _alert(check: Check, *, firing: bool, detail: str) -> None:
    internal_alert(
        team=check.team,
        key=check.alert_key,
        title=f"Check failing: {check.name}",
        firing=firing,
        source="check",
        severity="critical",
        description=detail,
        labels={"check": check.name, "kind": check.kind},
    )


def record_result(check: Check, ok: bool, latency_ms, detail: str, now=None):
    """Store one result and move the state: down after `fail_after` failures in a row (the
    alert fires), up again after `recover_after` successes in a row (it resolves). The
    first success of an unknown check makes it up. One transaction: the result, the
    counters, the state and the alert are all written or none. None if the check is gone."""
    now = now or timezone.now()
    detail = clean_text(" ".join(str(detail or "").split()))[:DETAIL_CHARS]
    if latency_ms is not None and not math.isfinite(latency_ms):
        latency_ms = None
    with transaction.atomic():
        locked = (
            Check.objects.select_for_update(of=("self",)).filter(pk=check.pk).order_by().first()
        )
        if locked is None:
            return None
        result = CheckResult.objects.create(
            dependency_check=locked, at=now, ok=bool(ok), latency_ms=latency_ms, detail=detail
        )
        went = None
        if ok:
            locked.consecutive_successes += 1
            locked.consecutive_failures = 0
            if locked.state == CheckState.UNKNOWN:
                locked.state = CheckState.UP
            elif (
                locked.state == CheckState.DOWN
                and locked.consecutive_successes >= locked.recover_after
            ):
                locked.state, went = CheckState.UP, "up"
        else:
            locked.consecutive_failures += 1
            locked.consecutive_successes = 0
            if locked.state != CheckState.DOWN and locked.consecutive_failures >= locked.fail_after:
                locked.state, went = CheckState.DOWN, "down"
        locked.last_run_at = now
        locked.save(
            update_fields=[
                "state",
                "consecutive_failures",
                "consecutive_successes",
                "last_run_at",
            ]
        )
        if went:
            _alert(locked, firing=went == "down", detail=detail)
    if went:
        logger.info("check_state_changed", check_id=locked.pk, state=locked.state)
    for name in ("state", "consecutive_failures", "consecutive_successes", "last_run_at"):
        setattr(check, name, getattr(locked, name))
    return result


def check_run_now(*, check: Check) -> CheckResult | None:
    """Run a check here and now (a person's "Run now"), within its timeout, and record it."""
    ok, latency_ms, detail = run_check(check)
    return record_result(check, ok, latency_ms, detail)


# --- the tick --------------------------------------------------------------------------


def claim_due(*, now=None, limit: int = TICK_POOL) -> list[Check]:
    """Due, enabled checks, each moved to its next run before it runs: a worker that claims
    a check holds it (SKIP LOCKED), so two ticks never run one check twice."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Check.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_run_at__lte=now)
            .order_by("next_run_at", "pk")[:limit]
        )
        for check in due:
            check.next_run_at = now + timedelta(seconds=check.interval_seconds)
        Check.objects.bulk_update(due, ["next_run_at"])
    return due


def _run_batch(checks: list[Check]) -> int:
    """Run the checks at once, each in its own thread, and record what each gave; a run still
    going past its timeout (and the grace) is recorded as unanswered and left behind."""
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="vigil-check")
    try:
        futures = {pool.submit(run_check, check): check for check in checks}
        longest = max(min(max(c.timeout_seconds, 0.1), 60) for c in checks)
        done, _ = wait(futures, timeout=longest + TICK_GRACE_SECONDS)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for future, check in futures.items():
        if future in done and future.exception() is None:
            ok, latency_ms, detail = future.result()
        elif future in done:  # run_check never raises; a bug there still fails only its check
            ok, latency_ms, detail = False, None, "The check could not run."
        else:
            ok, latency_ms = False, check.timeout_seconds * 1000
            detail = f"No answer within {check.timeout_seconds:g} s."
        record_result(check, ok, latency_ms, detail)
    return len(checks)


def run_due_checks(*, budget_seconds: float = 5.0, now=None) -> dict:
    """One tick: claim and run due checks in batches until none is due or the budget is
    spent (a batch started within it finishes), then delete old results."""
    started = time.monotonic()
    ran = 0
    while True:
        claimed = claim_due(now=now)
        if not claimed:
            break
        ran += _run_batch(claimed)
        if time.monotonic() - started >= budget_seconds:
            break
    pruned, _ = CheckResult.objects.filter(at__lt=timezone.now() - RESULTS_KEPT_FOR).delete()
    return {"ran": ran, "pruned": pruned, "seconds": round(time.monotonic() - started, 3)}
