"""The drill log's forms: start a drill, the team's drill schedule, and a scenario of the
team's own. They check the shape of what was sent (a known scenario, a whole number of weeks);
reports.drills decides the rest and says why when it refuses."""

from django import forms

from common.inputs import parse_id

EVERY_WEEKS_MIN, EVERY_WEEKS_MAX = 1, 52
# A deploy recorded up to two hours before the alert still reads as "just before" it.
MINUTES_BEFORE_MAX = 120
SEVERITIES = [("critical", "critical"), ("warning", "warning"), ("info", "info")]


class ScenarioChoiceField(forms.CharField):
    """A scenario offered to the team, sent as its id. Unlike ModelChoiceField it never
    queries with a number PostgreSQL cannot hold: the choices are loaded once and looked up."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label", "Scenario")
        kwargs.setdefault("error_messages", {"required": "Pick a scenario."})
        super().__init__(*args, **kwargs)
        self.scenarios = {}

    def clean(self, value):
        value = super().clean(value)
        scenario = self.scenarios.get(parse_id(value))
        if scenario is None:
            raise forms.ValidationError(
                "That scenario is not one of this team's drill scenarios.", code="invalid_choice"
            )
        return scenario


class _TeamScenarioForm(forms.Form):
    def __init__(self, *args, scenarios, **kwargs):
        super().__init__(*args, **kwargs)
        self.scenario_list = list(scenarios)
        self.fields["scenario"].scenarios = {s.pk: s for s in self.scenario_list}


class DrillStartForm(_TeamScenarioForm):
    scenario = ScenarioChoiceField()


class DrillScheduleForm(_TeamScenarioForm):
    scenario = ScenarioChoiceField()
    every_weeks = forms.IntegerField(
        label="Every how many weeks",
        error_messages={
            "required": "Say every how many weeks (1 to 52).",
            "invalid": "Every how many weeks must be a whole number from 1 to 52.",
        },
    )
    enabled = forms.BooleanField(label="Enabled", required=False)

    def clean_every_weeks(self):
        weeks = self.cleaned_data["every_weeks"]
        if not EVERY_WEEKS_MIN <= weeks <= EVERY_WEEKS_MAX:
            raise forms.ValidationError(
                f"A drill can be every {EVERY_WEEKS_MIN} to {EVERY_WEEKS_MAX} weeks, "
                f"not every {weeks}."
            )
        return weeks


class DrillScenarioForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    alert_name = forms.CharField(
        label="Alert name", max_length=200, help_text="e.g. AgentHighErrorRate"
    )
    severity = forms.ChoiceField(
        label="Severity", choices=SEVERITIES, initial="critical", required=False
    )
    service = forms.CharField(label="Service", max_length=100, required=False)
    value = forms.CharField(
        label="Value", max_length=40, required=False, help_text="The figure, e.g. 45%."
    )
    description = forms.CharField(
        label="Description",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    change_version = forms.CharField(
        label="Deploy version",
        max_length=100,
        required=False,
        help_text="A deploy recorded before the alert, e.g. v1.5.2; empty: none.",
    )
    change_minutes_before = forms.IntegerField(
        label="Minutes before",
        initial=3,
        min_value=0,
        max_value=MINUTES_BEFORE_MAX,
        error_messages={
            "invalid": f"Minutes before must be a whole number from 0 to {MINUTES_BEFORE_MAX}.",
            "min_value": f"Minutes before must be from 0 to {MINUTES_BEFORE_MAX}.",
            "max_value": f"Minutes before must be from 0 to {MINUTES_BEFORE_MAX}.",
        },
    )

    def clean_severity(self):
        return self.cleaned_data["severity"] or "critical"


def first_error(form) -> str:
    """The form's first error, with the field's label: the reason a page shows with its 400."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        return f"{label}: {errors[0]}" if label else errors[0]
    return ""
