"""Parsing what senders post: Alertmanager webhook v4 and Vigil's generic JSON.

Both become a list of NormalizedAlert. Anything malformed raises PayloadError with a reason
the sender can act on (the view answers 400 with it).

Generic JSON (one alert, or {"alerts": [...]} with up to MAX_ALERTS of them):

    {"title": "Checkout error rate above 10%",      required
     "severity": "critical" | "warning" | "info",   default "warning"
     "dedup_key": "checkout-errors",                default: derived from the title
     "status": "firing" | "resolved",               default "firing"
     "description": "…",
     "links": [{"text": "Runbook", "href": "https://…"}, {"text": "Dashboard", "href": …}],
     "labels": {"service": "checkout", "sev": "SEV2", "oncall": "page"}}
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from common.inputs import LAST_DATE, clean_json
from incidents.services import EARLIEST_TIME

# A payload may carry at most this many alerts (Alertmanager's max_alerts is unbounded by
# default; 10,000 covers a whole cluster going down). More is refused with 413.
MAX_ALERTS = 10_000
MAX_BODY_BYTES = 1024 * 1024
STATUSES = ("firing", "resolved")
SEVERITIES = ("critical", "warning", "info")


class PayloadError(ValueError):
    status = 400


class PayloadTooLarge(PayloadError):
    status = 413


@dataclass
class NormalizedAlert:
    group_key: str
    fingerprint: str
    status: str
    labels: dict
    annotations: dict
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    extra: dict = field(default_factory=dict)


_FRACTION = re.compile(r"\.(\d{6})\d+")


def parse_time(value, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{where} must be an RFC 3339 string.")
    if value.startswith("0001-01-01"):
        return None  # Alertmanager's zero time: not ended
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r".\1", value))
    except ValueError as exc:
        raise PayloadError(f"{where} is not an RFC 3339 time: {value!r}.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed < EARLIEST_TIME or parsed.date() > LAST_DATE:
        # A sender's broken clock: unknown, like the zero time, rather than a refused batch
        # (Alertmanager would retry it forever, and the other alerts would never page).
        return None
    return parsed.astimezone(UTC)  # PostgreSQL refuses offsets of 16 hours and more


def _string_map(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object of strings.")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key} must be a string, not {type(item).__name__}.")
        if len(key) > 200 or len(item) > 10_000:
            raise PayloadError(f"{where}.{key} is too long.")
    return value


def fingerprint_of(labels: dict) -> str:
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def decode(body: bytes):
    """The body's JSON with every NUL, unpaired surrogate and byte that is not UTF-8 read as
    U+FFFD: PostgreSQL cannot store them, and an alert must not be refused (and retried
    forever) for one label."""
    try:
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            data = json.loads(body.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        raise PayloadError(f"The body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:
        raise PayloadError("The body nests too deeply to be an alert payload.") from exc
    return clean_json(data)


def _check_count(alerts):
    if len(alerts) > MAX_ALERTS:
        raise PayloadTooLarge(
            f"A payload may carry at most {MAX_ALERTS:,} alerts; this one has {len(alerts):,}."
        )


def parse_alertmanager(data) -> list[NormalizedAlert]:
    if not isinstance(data, dict):
        raise PayloadError("An Alertmanager webhook body must be a JSON object.")
    version = data.get("version", "4")
    if version != "4":
        raise PayloadError(f"Only Alertmanager webhook version 4 is supported, not {version!r}.")
    if "alerts" not in data:
        raise PayloadError("The payload has no 'alerts' list.")
    alerts = data["alerts"]
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list.")
    _check_count(alerts)
    group_key = data.get("groupKey")
    if group_key is not None and not isinstance(group_key, str):
        raise PayloadError("'groupKey' must be a string.")
    common_annotations = _string_map(data.get("commonAnnotations"), "commonAnnotations")
    _string_map(data.get("commonLabels"), "commonLabels")
    out = []
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            raise PayloadError(f"{where} must be an object.")
        labels = _string_map(alert.get("labels"), f"{where}.labels")
        if not labels:
            raise PayloadError(f"{where}.labels must not be empty.")
        annotations = _string_map(alert.get("annotations"), f"{where}.annotations")
        status = alert.get("status", "firing")
        if status not in STATUSES:
            raise PayloadError(f"{where}.status must be 'firing' or 'resolved'.")
        fingerprint = alert.get("fingerprint") or fingerprint_of(labels)
        if not isinstance(fingerprint, str) or len(fingerprint) > 128:
            raise PayloadError(f"{where}.fingerprint must be a short string.")
        generator_url = alert.get("generatorURL") or ""
        if not isinstance(generator_url, str):
            raise PayloadError(f"{where}.generatorURL must be a string.")
        out.append(
            NormalizedAlert(
                group_key=(group_key or fingerprint)[:500],
                fingerprint=fingerprint,
                status=status,
                labels=labels,
                annotations={**common_annotations, **annotations},
                starts_at=parse_time(alert.get("startsAt"), f"{where}.startsAt"),
                ends_at=parse_time(alert.get("endsAt"), f"{where}.endsAt"),
                generator_url=generator_url[:2000],
            )
        )
    return out


def _generic_one(item, where: str) -> NormalizedAlert:
    if not isinstance(item, dict):
        raise PayloadError(f"{where} must be an object.")
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PayloadError(f"{where}.title is required (a non-empty string).")
    severity = item.get("severity", "warning")
    if severity not in SEVERITIES:
        raise PayloadError(f"{where}.severity must be one of {', '.join(SEVERITIES)}.")
    status = item.get("status", "firing")
    if status not in STATUSES:
        raise PayloadError(f"{where}.status must be 'firing' or 'resolved'.")
    dedup_key = item.get("dedup_key") or hashlib.sha256(title.encode()).hexdigest()[:16]
    if not isinstance(dedup_key, str) or len(dedup_key) > 128:
        raise PayloadError(f"{where}.dedup_key must be a string of at most 128 characters.")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise PayloadError(f"{where}.description must be a string.")
    labels = dict(_string_map(item.get("labels"), f"{where}.labels"))
    labels.setdefault("alertname", title.strip()[:200])
    labels["severity"] = severity
    annotations = {"summary": title.strip()}
    if description:
        annotations["description"] = description
    links = item.get("links") or []
    if not isinstance(links, list):
        raise PayloadError(f"{where}.links must be a list of {{text, href}}.")
    for j, link in enumerate(links):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            raise PayloadError(f"{where}.links[{j}] needs an 'href' string.")
        text = str(link.get("text") or "").strip().lower()
        if not link["href"].startswith(("https://", "http://")):
            raise PayloadError(f"{where}.links[{j}].href must be an http(s) URL.")
        if text.startswith("runbook"):
            annotations["runbook_url"] = link["href"]
        elif text.startswith("dashboard"):
            annotations["dashboard_url"] = link["href"]
        else:
            annotations[f"link_{j}"] = link["href"]
    return NormalizedAlert(
        group_key=dedup_key,
        fingerprint=dedup_key,
        status=status,
        labels=labels,
        annotations=annotations,
    )


def parse_generic(data) -> list[NormalizedAlert]:
    if isinstance(data, dict) and "alerts" in data:
        items = data["alerts"]
        if not isinstance(items, list):
            raise PayloadError("'alerts' must be a list.")
        _check_count(items)
        return [_generic_one(item, f"alerts[{i}]") for i, item in enumerate(items)]
    return [_generic_one(data, "body")]
