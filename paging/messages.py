"""What each channel's message says. Built when the outbox row is written, so a retry sends
exactly the same bytes."""

import re
from xml.sax.saxutils import escape

from django.conf import settings
from django.core import signing
from django.urls import reverse

from common.text import one_line

ACK_SALT = "vigil.paging.ack-link"


def ack_token(page) -> str:
    return signing.dumps({"page": page.pk}, salt=ACK_SALT, compress=True)


def ack_link(page) -> str:
    return settings.SITE_URL + reverse("paging_ack_link", args=[ack_token(page)])


def voice_ack_url(page) -> str:
    """Where the telephony provider posts the digit pressed during a call."""
    return settings.SITE_URL + reverse("paging_voice_ack", args=[ack_token(page)])


def incident_url(incident) -> str:
    return settings.SITE_URL + incident.get_absolute_url()


# The seed's rules put the measured value into the description ("Error rate is 12.5%", "p95
# latency is 7.2s (threshold: 5s)", "Queue has 1234 jobs waiting"): the number after the verb.
VALUE_IN_DESCRIPTION = re.compile(
    r"\b(?:is|has|to|at|reached)\s+(-?\d+(?:[.,]\d+)*(?:e[+-]?\d+)?(?:\s?%|[a-zA-Zµ]{1,2}\b)?)"
)


def alert_value(*, labels: dict, annotations: dict) -> str:
    """The alert's value: a `value` annotation or label, else the one its description
    carries; "" when there is none (the messages then leave the field out)."""
    explicit = annotations.get("value") or labels.get("value")
    if explicit not in (None, ""):
        return str(explicit)
    found = VALUE_IN_DESCRIPTION.search(str(annotations.get("description") or ""))
    return found.group(1) if found else ""


def alert_facts(*, incident=None, group=None) -> dict:
    """Name, severity, description, value, runbook and dashboard of what paged."""
    if group is None and incident is not None:
        group = incident.alert_groups.order_by("opened_at").first()
    labels = group.labels if group else {}
    annotations = group.annotations if group else {}
    severity = labels.get("severity") or (incident.severity.name if incident else "")
    return {
        "name": (group.title if group else incident.title),
        "severity": severity,
        "description": annotations.get("description")
        or annotations.get("summary")
        or (incident.summary if incident else "")
        or "",
        "value": alert_value(labels=labels, annotations=annotations),
        "runbook_url": group.runbook_url if group else "",
        "dashboard_url": group.dashboard_url if group else "",
        "incident_title": incident.title if incident else (group.title if group else ""),
        "incident_url": incident_url(incident) if incident else "",
        # A rehearsal: every channel's message says so first.
        "drill": bool(incident is not None and incident.is_drill),
    }


def _drill(facts: dict) -> str:
    return "[DRILL] " if facts.get("drill") else ""


def _button(text, url, style=None):
    button = {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}
    if style:
        button["style"] = style
    return button


def slack_message(facts: dict, *, ack_url: str = "", channel: str = "") -> dict:
    """The seed's Block Kit message: header, description, severity and value fields,
    Runbook and Dashboard buttons, plus Acknowledge (pages) and the incident link."""
    buttons = []
    if facts["runbook_url"]:
        buttons.append(_button("Runbook", facts["runbook_url"]))
    if facts["dashboard_url"]:
        buttons.append(_button("Dashboard", facts["dashboard_url"]))
    if ack_url:
        buttons.append(_button("Acknowledge", ack_url, style="primary"))
    if facts["incident_url"]:
        buttons.append(_button("Open incident", facts["incident_url"]))
    fields = [{"type": "mrkdwn", "text": f"*Severity:*\n{facts['severity']}"}]
    if facts["value"]:
        fields.append({"type": "mrkdwn", "text": f"*Value:*\n{facts['value']}"})
    blocks = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{_drill(facts)}🚨 {facts['name']}"[:150]},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": (facts["description"] or facts["name"])[:3000]},
        },
        {"type": "section", "fields": fields},
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    message = {
        "text": f"{_drill(facts)}[{facts['severity'].upper()}] {facts['name']}",
        "blocks": blocks,
    }
    if channel:
        message["channel"] = channel
    return message


def email_message(facts: dict, *, to: str, ack_url: str) -> dict:
    lines = [
        f"{_drill(facts)}{facts['incident_title']}",
        "",
        facts["description"],
        "",
        f"Severity: {facts['severity']}",
    ]
    if facts["value"]:
        lines.append(f"Value: {facts['value']}")
    if facts["runbook_url"]:
        lines.append(f"Runbook: {facts['runbook_url']}")
    if facts["dashboard_url"]:
        lines.append(f"Dashboard: {facts['dashboard_url']}")
    lines += [
        "",
        f"Acknowledge (one tap, single use): {ack_url}",
        f"Incident: {facts['incident_url']}",
    ]
    return {
        "to": to,
        "subject": one_line(f"{_drill(facts)}[{facts['severity'].upper()}] {facts['name']}", 200),
        "body": "\n".join(lines),
    }


PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def pagerduty_event(facts: dict, *, routing_key: str, action: str, dedup_key: str) -> dict:
    event = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        details = {
            "description": facts["description"],
            "runbook": facts["runbook_url"],
            "dashboard": facts["dashboard_url"],
        }
        if facts["value"]:
            details["value"] = facts["value"]
        if facts.get("drill"):
            details["drill"] = True
        event["payload"] = {
            "summary": f"{_drill(facts)}[{facts['severity'].upper()}] {facts['name']}"[:1024],
            "source": "vigil",
            "severity": PD_SEVERITY.get(facts["severity"].lower(), "error"),
            "custom_details": details,
        }
        event["links"] = [
            {"href": url, "text": text}
            for text, url in (
                ("Incident", facts["incident_url"]),
                ("Runbook", facts["runbook_url"]),
                ("Dashboard", facts["dashboard_url"]),
            )
            if url
        ]
    return event


def webhook_message(facts: dict, *, event: str, ack_url: str = "", user=None) -> dict:
    return {
        "event": event,
        "drill": bool(facts.get("drill")),
        "text": f"{_drill(facts)}[{facts['severity'].upper()}] {facts['name']}",
        "incident": {"title": facts["incident_title"], "url": facts["incident_url"]},
        "alert": {
            "name": facts["name"],
            "severity": facts["severity"],
            "description": facts["description"],
            "value": facts["value"] or None,
            "runbook_url": facts["runbook_url"],
            "dashboard_url": facts["dashboard_url"],
        },
        "ack_url": ack_url,
        "person": user.username if user else None,
    }


def sms_message(facts: dict, *, to: str, ack_url: str) -> dict:
    """One text: what fired and the acknowledge link, within three SMS segments."""
    head = f"{_drill(facts)}Vigil [{facts['severity'].upper()}] {facts['name']}"
    tail = f" Ack: {ack_url}"
    room = 459 - len(head) - len(tail)
    description = facts["description"]
    if room > 10 and description:
        if len(description) > room:
            description = description[: room - 1] + "…"
        head += f": {description}"
    return {"to": to, "body": head + tail}


def voice_message(facts: dict, *, to: str, ack_url: str) -> dict:
    """A call that reads out what fired and asks for 1 to acknowledge; the digit goes to
    `ack_url` (the page's signed single-use token). The text is XML-escaped into TwiML."""
    said = escape(
        f"{'[DRILL] This is a drill. ' if facts.get('drill') else ''}"
        f"This is Vigil. {facts['severity']} alert: {facts['name']}. "
        f"{facts['description'][:300]} Press 1 to acknowledge."
    )
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Gather numDigits="1" timeout="8" method="POST" action="{escape(ack_url)}">'
        f'<Say voice="alice">{said}</Say><Pause length="1"/><Say voice="alice">{said}</Say>'
        "</Gather>"
        '<Say voice="alice">Nothing was pressed. The page stays open.</Say></Response>'
    )
    return {"to": to, "twiml": twiml}


def in_app_message(facts: dict, *, ack_url: str = "") -> dict:
    return {
        "title": f"{_drill(facts)}[{facts['severity'].upper()}] {facts['name']}"[:300],
        "body": facts["description"][:1000],
        "url": facts["incident_url"],
        "ack_url": ack_url,
    }
