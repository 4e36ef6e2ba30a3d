"""Reading what senders post about changes, and how Vigil answers with a change.

Three bodies reach the changes webhook, told apart by their shape:

- GitHub's `deployment_status` webhook (an `X-GitHub-Event` header): a status of a
  deployment; `success` and `in_progress` are changes, the other states are not yet.
- A PagerDuty Change Events API v2 body (`routing_key`, `payload`, `links`).
- Vigil's own JSON, the API's body without `team` (the integration names the team):

    {"service": "checkout",                    required
     "summary": "Deploy v1.6.0",               required
     "kind": "deploy" | "config" | "flag",     default "deploy"
     "environment": "production",
     "version": "v1.6.0", "previous_version": "v1.5.2",
     "author": "alex",
     "occurred_at": "2026-12-02T03:10:00Z",    ISO 8601 with a zone; default: now
     "url": "https://ci.example/runs/42",
     "external_id": "run-42"}                  the same id again stores nothing new;
                                               default: the body's SHA-256, so a sender's
                                               retry of the same body stores nothing new

Anything malformed raises ChangeError (an InputError) with a reason the sender can act on.
"""

import datetime as dt
import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field

from django.utils import dateparse

from alerts import payloads as alert_payloads
from changes.models import ChangeKind, ChangeSource
from changes.services import ChangeError
from common.inputs import check_text, parse_datetime, unstorable_in_json
from common.links import http_url

# The alert webhooks' limit: one change is far smaller, and a proxy in front sizes both.
MAX_BODY_BYTES = alert_payloads.MAX_BODY_BYTES
# GitHub's deployment states that are a change a responder must see: a deploy under way
# already touches production, and its success is a status (and a change) of its own.
GITHUB_RECORDED_STATES = ("success", "in_progress")
PAGERDUTY_ANSWER = {"status": "success", "message": "Change event processed"}
ROUTING_KEY_MAX = 200


@dataclass
class ChangeInput:
    """One change as a sender told it: change_record's arguments, team aside."""

    service: str
    summary: str
    source: str
    kind: str = ChangeKind.DEPLOY
    environment: str = ""
    version: str = ""
    previous_version: str = ""
    author: str = ""
    occurred_at: dt.datetime | None = None
    url: str = ""
    external_id: str = ""
    details: dict = field(default_factory=dict)

    def as_arguments(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Skipped:
    """A well-formed request that records nothing (GitHub's ping, a state that is not a
    change): the answer to give."""

    status: int
    answer: dict


def decode(body: bytes):
    """The body's JSON. Unlike an alert, a change with bytes that are not UTF-8 is refused:
    its sender is a script or a CI job that can fix it, and nobody is paged for it."""
    if not body.strip():
        raise ChangeError("The body is empty: send a JSON object.")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ChangeError("The body is not UTF-8 text.") from exc
    except json.JSONDecodeError as exc:
        raise ChangeError(f"The body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise ChangeError("The body nests too deeply to be a change.") from exc
    # As the API refuses them: a NUL would otherwise be read as a space, silently.
    if problem := unstorable_in_json(data):
        raise ChangeError(f"The JSON body contains {problem}, which Vigil cannot store.")
    return data


def routing_key(body: bytes) -> str:
    """A PagerDuty body's routing_key, which may carry the integration's token; "" when the
    body has none (or is not a JSON object, or the key could not be a token)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return ""
    key = data.get("routing_key") if isinstance(data, dict) else None
    if isinstance(key, str) and key.isascii() and 0 < len(key) <= ROUTING_KEY_MAX:
        return key
    return ""


def parse_time(value, where: str, *, naive_is_utc: bool = False) -> dt.datetime | None:
    """An ISO 8601 time with a zone, in UTC; None when empty. A time without a zone is
    refused (which zone a deploy script meant cannot be guessed) unless `naive_is_utc`
    (GitHub and PagerDuty write UTC)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ChangeError(f"{where} must be an ISO 8601 string such as 2026-12-02T03:10:00Z.")
    text = check_text(value, where).strip()
    try:
        parsed = dateparse.parse_datetime(text)
    except ValueError:  # well-formed but impossible: 2026-02-30T10:00Z
        parsed = None
    if parsed is None:
        raise ChangeError(
            f"{where} is not a date and time (ISO 8601, e.g. 2026-12-02T03:10:00Z): {text[:40]!r}."
        )
    if parsed.tzinfo is None and not naive_is_utc:
        raise ChangeError(f"{where} needs a time zone (e.g. 2026-12-02T03:10:00Z): {text[:40]!r}.")
    # The range and offset checks every date Vigil reads goes through.
    return parse_datetime(text, where, naive_tz=dt.UTC).astimezone(dt.UTC)


def _text(data: dict, key: str, where: str) -> str:
    """A string field ("" when absent); a number is read as its digits (a build number)."""
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ChangeError(f"{where}.{key} must be a string, not {type(value).__name__}.")
    return str(value)


def _object(data, key: str, where: str, *, required=False) -> dict:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ChangeError(f"{where}.{key} must be an object.")
    return value


def parse_vigil(data, body: bytes, *, team_slug: str) -> ChangeInput:
    if not isinstance(data, dict):
        raise ChangeError("A change must be a JSON object.")
    given_team = data.get("team")
    if given_team not in (None, "", team_slug):
        raise ChangeError(
            f"This integration records changes for team {team_slug!r}: leave out 'team' "
            "or send that one."
        )
    kind = _text(data, "kind", "body") or ChangeKind.DEPLOY
    return ChangeInput(
        service=_text(data, "service", "body"),
        summary=_text(data, "summary", "body"),
        source=ChangeSource.API,
        kind=kind,
        environment=_text(data, "environment", "body"),
        version=_text(data, "version", "body"),
        previous_version=_text(data, "previous_version", "body"),
        author=_text(data, "author", "body"),
        occurred_at=parse_time(data.get("occurred_at"), "occurred_at"),
        url=_text(data, "url", "body"),
        # A sender retrying the same body (a lost answer) must not record the change twice;
        # two changes alike in every word are told apart by occurred_at or external_id.
        external_id=_text(data, "external_id", "body")
        or f"body:{hashlib.sha256(body).hexdigest()}",
    )


def parse_pagerduty(data: dict, body: bytes) -> ChangeInput:
    payload = _object(data, "payload", "body", required=True)
    details = _object(payload, "custom_details", "payload")
    summary = _text(payload, "summary", "payload")
    if not summary.strip():
        raise ChangeError("payload.summary is required (a non-empty string).")
    links = data.get("links") or []
    if not isinstance(links, list):
        raise ChangeError("links must be a list of {href, text}.")
    url = ""
    for i, link in enumerate(links):
        if not isinstance(link, dict):
            raise ChangeError(f"links[{i}] must be an object with an 'href'.")
        url = url or http_url(link.get("href"))
    kind = _text(details, "kind", "payload.custom_details")
    source = _text(payload, "source", "payload")
    return ChangeInput(
        service=_text(details, "service", "payload.custom_details") or source,
        summary=summary,
        source=ChangeSource.PAGERDUTY,
        kind=kind if kind in ChangeKind.values else ChangeKind.DEPLOY,
        environment=_text(details, "environment", "payload.custom_details"),
        version=_text(details, "version", "payload.custom_details")
        or _text(details, "revision", "payload.custom_details"),
        previous_version=_text(details, "previous_version", "payload.custom_details"),
        author=_text(details, "author", "payload.custom_details")
        or _text(details, "user", "payload.custom_details"),
        occurred_at=parse_time(payload.get("timestamp"), "payload.timestamp", naive_is_utc=True),
        url=url,
        # PagerDuty bodies carry no id of their own: the same body again is the same change.
        external_id=hashlib.sha256(body).hexdigest(),
        details={"pagerduty_source": source[:200]} if source else {},
    )


def _login(person) -> str:
    return (
        person.get("login")
        if isinstance(person, dict) and isinstance(person.get("login"), str)
        else ""
    )


def parse_github(event: str, data) -> ChangeInput | Skipped:
    if event == "ping":
        return Skipped(200, {"status": "pong"})
    if event != "deployment_status":
        return Skipped(
            202,
            {
                "status": "ignored",
                "reason": f"Vigil records deployment_status events, not {event[:60]!r}.",
            },
        )
    if not isinstance(data, dict):
        raise ChangeError("A deployment_status event must be a JSON object.")
    status = _object(data, "deployment_status", "body", required=True)
    deployment = _object(data, "deployment", "body", required=True)
    repository = _object(data, "repository", "body", required=True)
    state = _text(status, "state", "deployment_status")
    if state not in GITHUB_RECORDED_STATES:
        return Skipped(
            202,
            {
                "status": "ignored",
                "reason": f"A deployment that is {state[:40] or 'without a state'!r} is not a "
                f"change yet: Vigil records {' and '.join(GITHUB_RECORDED_STATES)}.",
            },
        )
    status_id = status.get("id")
    if isinstance(status_id, bool) or not isinstance(status_id, int | str) or status_id == "":
        raise ChangeError("deployment_status.id is required.")
    environment = _text(deployment, "environment", "deployment") or _text(
        status, "environment", "deployment_status"
    )
    sha = _text(deployment, "sha", "deployment")
    ref = _text(deployment, "ref", "deployment") or sha
    described = _text(deployment, "description", "deployment") or _text(
        status, "description", "deployment_status"
    )
    said = state.replace("_", " ")
    summary = (
        f"{described} ({said})"
        if described.strip()
        else f"Deployment of {ref or 'an unnamed ref'} to {environment or 'an environment'}: {said}"
    )
    url = next(
        filter(
            None, (http_url(status.get(k)) for k in ("target_url", "log_url", "environment_url"))
        ),
        "",
    )
    return ChangeInput(
        service=_text(repository, "name", "repository"),
        summary=summary,
        source=ChangeSource.GITHUB,
        kind=ChangeKind.DEPLOY,
        environment=environment,
        version=ref,
        author=_login(status.get("creator")) or _login(deployment.get("creator")),
        occurred_at=parse_time(
            status.get("created_at"), "deployment_status.created_at", naive_is_utc=True
        ),
        url=url,
        external_id=f"deployment_status:{status_id}",
        details={
            "state": state,
            "sha": sha,
            "task": _text(deployment, "task", "deployment"),
            "deployment": str(deployment.get("id") or ""),
            "repository": _text(repository, "full_name", "repository"),
        },
    )


def is_pagerduty(data) -> bool:
    return isinstance(data, dict) and (
        "routing_key" in data or isinstance(data.get("payload"), dict)
    )


def github_json(body: bytes, content_type: str) -> bytes:
    """The JSON of a GitHub delivery: the body, or its `payload` field when the webhook's
    content type was left at GitHub's default (application/x-www-form-urlencoded)."""
    if content_type != "application/x-www-form-urlencoded":
        return body
    try:
        form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChangeError("The form body is not GitHub's payload=<JSON>.") from exc
    if len(form.get("payload", [])) != 1:
        raise ChangeError("A form-encoded GitHub delivery needs one 'payload' field.")
    return form["payload"][0].encode()


def parse(
    body: bytes, *, team_slug: str, github_event: str | None, content_type: str = ""
) -> ChangeInput | Skipped:
    """The change a webhook body tells, whichever of the three shapes it has."""
    if github_event is not None:
        return parse_github(github_event, decode(github_json(body, content_type)))
    data = decode(body)
    if is_pagerduty(data):
        return parse_pagerduty(data, body)
    return parse_vigil(data, body, team_slug=team_slug)


def change_as_json(change, *, team_slug: str | None = None) -> dict:
    """A change as the API and the webhook answer with it (times as datetimes, which the
    encoders write in ISO 8601)."""
    return {
        "id": change.pk,
        "team": team_slug if team_slug is not None else change.team.slug,
        "service": change.service.name,
        "environment": change.environment,
        "kind": change.kind,
        "summary": change.summary,
        "version": change.version,
        "previous_version": change.previous_version,
        "author": change.author,
        "time": change.occurred_at.astimezone(dt.UTC),
        "url": change.url,
        "source": change.source,
        "recorded_at": change.recorded_at.astimezone(dt.UTC),
    }
