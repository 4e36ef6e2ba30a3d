"""An incident's timeline as the postmortem template's `| Time | Event |` Markdown table. The
timeline export and the postmortem's Timeline section are both this one table."""

from datetime import UTC

TIMELINE_HEADER = ["| Time | Event |", "|------|-------|"]


def markdown_cell(text) -> str:
    """One table cell: on one line, its pipes escaped."""
    return " ".join((text or "").split()).replace("|", "\\|")


def timeline_table(events, *, started_at=None, tz=UTC) -> str:
    """Times alone when every event (and the start of impact, when given) falls on one day
    in `tz`; otherwise every row carries its date, so "03:10" can never mean two days."""
    events = list(events)
    days = {e.occurred_at.astimezone(tz).date() for e in events}
    if started_at is not None:
        days.add(started_at.astimezone(tz).date())
    stamp = "%Y-%m-%d %H:%M" if len(days) > 1 else "%H:%M"
    rows = [
        f"| {event.occurred_at.astimezone(tz):{stamp}} | {markdown_cell(event.body)} |"
        for event in events
    ]
    return "\n".join(TIMELINE_HEADER + rows)
