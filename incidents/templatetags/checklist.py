"""The response checklist's items as HTML, in Python.

Nineteen items, each a form with its own URL and CSRF field, cost the incident page more as a
template loop (~1.6 ms) than its 200 timeline events do (see timeline.py). Every value from
a person is escaped; the markup is what the checklist template rendered before. An item Vigil
ticked has no form: no person unticks it.
"""

from datetime import UTC

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from incidents.models import ChecklistFact
from incidents.templatetags.timeline import csrf_input, esc, utc_stamp

register = template.Library()


class ChecklistMarkup:
    """Checklist items as one viewer sees them: ticking is disabled for those who may not
    change the incident, and times are in the viewer's time zone."""

    def __init__(self, *, incident_id, can_change, csrf_token):
        self.tz = timezone.get_current_timezone()
        self.disabled = "" if can_change else " disabled"
        # ".../checklist/<item pk>" reversed once, not once per item.
        self.prefix = reverse("incident_checklist_tick", args=[incident_id, 0])[: -len("0")]
        self.csrf_input = csrf_input(csrf_token)

    def item(self, item) -> str:
        url = f"{self.prefix}{int(item.pk)}"
        done = item.done_at is not None
        ticked = ""
        if done:
            utc = item.done_at.astimezone(UTC)
            local = item.done_at.astimezone(self.tz)
            if item.done_by_vigil:
                who = "by Vigil, "
            else:
                who = f"{esc(item.done_by.display_name)}, " if item.done_by_id else ""
            ticked = (
                f' <span class="muted small">{who}'
                f'<time datetime="{utc.isoformat()}" title="{utc_stamp(utc)} UTC">'
                f"{local.hour:02d}:{local.minute:02d}</time></span>"
            )
        if item.done_by_vigil:
            # What Vigil recorded stays ticked: no form, nothing to press.
            return (
                f'<li><span class="check-button" role="checkbox" aria-checked="true" '
                f'aria-disabled="true" title="Vigil ticked this when '
                f'{esc(ChecklistFact(item.fact).label)}">{esc(item.text)}</span>{ticked}</li>'
            )
        return (
            f'<li><form method="post" action="{url}" hx-post="{url}" hx-target="#checklist" '
            f'hx-swap="outerHTML" class="check-form">{self.csrf_input}'
            f'<input type="hidden" name="done" value="{"0" if done else "1"}">'
            f'<button type="submit" class="check-button" role="checkbox" '
            f'aria-checked="{"true" if done else "false"}"{self.disabled}>{esc(item.text)}'
            f"</button></form>{ticked}</li>"
        )


@register.simple_tag(takes_context=True)
def checklist_items(context, items):
    incident = context["incident"]
    can_change, token = bool(context.get("can_change")), context.get("csrf_token")
    key = ("checklist_markup", incident.pk, can_change, str(token or ""))
    markup = context.render_context.get(key)
    if markup is None:
        markup = context.render_context[key] = ChecklistMarkup(
            incident_id=incident.pk, can_change=can_change, csrf_token=token
        )
    return mark_safe("".join(markup.item(item) for item in items))  # noqa: S308 - escaped
