import re

from django import forms

from alerts.models import MATCH_OPS, IntegrationKind, matcher_regex
from common.outbound import validate_outbound_url
from teams.models import TeamRouting

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$")


def parse_matchers(text: str) -> list[dict]:
    """One matcher per line or comma: `service="checkout"`, `severity=~"warn.*"`."""
    matchers = []
    for raw in re.split(r"[\n,]", text or ""):
        if not raw.strip():
            continue
        found = _MATCHER.match(raw)
        if not found or found.group(2) not in MATCH_OPS:
            raise forms.ValidationError(f'{raw.strip()!r} is not a matcher like service="api".')
        name, op, value = found.groups()
        if op in ("=~", "!~") and matcher_regex(value) is None:
            raise forms.ValidationError(
                f"{value!r} is not a regular expression in Alertmanager's syntax (RE2: no "
                "lookarounds or backreferences)."
            )
        matchers.append({"name": name, "op": op, "value": value})
    if not matchers:
        raise forms.ValidationError("Add at least one matcher.")
    return matchers


class TeamChoiceMixin:
    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(t.pk, t.name) for t in teams]
        self._teams = {str(t.pk): t for t in teams}

    def clean_team(self):
        team = self._teams.get(str(self.cleaned_data["team"]))
        if team is None:
            raise forms.ValidationError("Choose one of your teams.")
        return team


class IntegrationForm(TeamChoiceMixin, forms.Form):
    team = forms.ChoiceField()
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=IntegrationKind.choices)


class MaintenanceForm(forms.Form):
    minutes = forms.IntegerField(min_value=0, max_value=7 * 24 * 60, label="Minutes (0 ends it)")


class SilenceForm(TeamChoiceMixin, forms.Form):
    team = forms.ChoiceField()
    matchers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One per line, e.g. alertname="AgentQueueDepthHigh" or service=~"check.*"',
    )
    minutes = forms.IntegerField(min_value=1, max_value=30 * 24 * 60, initial=60, label="Minutes")
    reason = forms.CharField(max_length=300)

    def clean_matchers(self):
        return parse_matchers(self.cleaned_data["matchers"])


class RoutingForm(forms.ModelForm):
    business_days = forms.TypedMultipleChoiceField(
        coerce=int,
        choices=list(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])),
        widget=forms.CheckboxSelectMultiple,
    )
    incidents_webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Incidents channel webhook URL",
        validators=[validate_outbound_url],
    )
    oncall_webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="On-call channel webhook URL",
        validators=[validate_outbound_url],
    )
    alerts_webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Alerts channel webhook URL",
        validators=[validate_outbound_url],
    )
    severity_critical = forms.ChoiceField(
        choices=[(f"SEV{i}", f"SEV{i}") for i in range(1, 5)], label="critical opens as"
    )
    severity_warning = forms.ChoiceField(
        choices=[(f"SEV{i}", f"SEV{i}") for i in range(1, 5)], label="warning opens as"
    )

    class Meta:
        model = TeamRouting
        fields = [
            "business_days",
            "business_start",
            "business_end",
            "incidents_webhook_url",
            "oncall_webhook_url",
            "alerts_webhook_url",
            "pagerduty_routing_key",
        ]
        labels = {
            "incidents_webhook_url": "Incidents channel webhook URL",
            "oncall_webhook_url": "On-call channel webhook URL",
            "alerts_webhook_url": "Alerts channel webhook URL",
            "pagerduty_routing_key": "PagerDuty Events v2 routing key",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.severity_map or {}
        self.fields["severity_critical"].initial = current.get("critical", "SEV1")
        self.fields["severity_warning"].initial = current.get("warning", "SEV2")

    def clean(self):
        data = super().clean()
        start, end = data.get("business_start"), data.get("business_end")
        if start and end and start >= end:
            raise forms.ValidationError("Business hours must end after they start.")
        return data

    def routing_values(self) -> dict:
        """The settings to save (teams.services.routing_save), the severity map merged into
        the one the team has, so labels other than critical and warning keep their mapping."""
        values = {field: self.cleaned_data[field] for field in self.Meta.fields}
        values["severity_map"] = {
            **(self.instance.severity_map or {}),
            "critical": self.cleaned_data["severity_critical"],
            "warning": self.cleaned_data["severity_warning"],
        }
        return values
