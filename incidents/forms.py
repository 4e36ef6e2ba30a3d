from django import forms

from incidents.models import Severity, Status
from incidents.selectors import LIST_SORTS, TIMELINE_FILTERS
from incidents.services import CLOCK_SLACK, MAX_NOTE_LENGTH, ROLE_FIELDS, time_out_of_range
from teams.models import Team


class DeclareIncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ModelChoiceField(
        queryset=Severity.objects.all(),
        to_field_name="name",
        empty_label=None,
        error_messages={"invalid_choice": "Unknown severity: choose SEV1 to SEV4."},
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        to_field_name="slug",
        error_messages={"invalid_choice": "You cannot declare incidents for that team."},
    )

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["severity"].initial = "SEV2"


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_NOTE_LENGTH,
        strip=True,
        error_messages={
            "required": "A note needs some text.",
            "max_length": f"A note is limited to {MAX_NOTE_LENGTH:,} characters.",
        },
    )
    occurred_at = forms.DateTimeField(
        label="Happened at (optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="For something that happened earlier; in your time zone.",
    )

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if wrong := time_out_of_range(value, slack=CLOCK_SLACK):
            raise forms.ValidationError(f"A note cannot be dated {wrong}.")
        return value


class NoteEditForm(forms.Form):
    body = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_NOTE_LENGTH,
        error_messages={
            "required": "A note needs some text.",
            "max_length": f"A note is limited to {MAX_NOTE_LENGTH:,} characters.",
        },
    )


class StatusUpdateForm(forms.Form):
    body = forms.CharField(
        label="Status update",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_NOTE_LENGTH,
        error_messages={
            "required": "A status update needs some text.",
            "max_length": f"A status update is limited to {MAX_NOTE_LENGTH:,} characters.",
        },
    )


class SeverityForm(forms.Form):
    severity = forms.ModelChoiceField(
        queryset=Severity.objects.all(),
        to_field_name="name",
        error_messages={"invalid_choice": "Unknown severity: choose SEV1 to SEV4."},
    )


ROLE_CHOICES = [*ROLE_FIELDS.items(), ("responder", "Responder")]


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        choices=ROLE_CHOICES, error_messages={"invalid_choice": "Unknown role."}
    )
    person = forms.ModelChoiceField(
        queryset=None,
        required=False,
        to_field_name="username",
        empty_label="(nobody)",
        error_messages={"invalid_choice": "That person is not a responder in this team."},
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(s.value, s.label) for s in Status if s != Status.TRIGGERED],
        error_messages={"invalid_choice": "Unknown status."},
    )


class IncidentFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("open", "Open"), *Status.choices],
    )
    severity = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)
    sort = forms.ChoiceField(
        required=False, choices=[(k, label) for k, (label, _) in LIST_SORTS.items()]
    )

    def __init__(self, *args, severities, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = [("", "Any severity")] + [
            (s.name, s.name) for s in severities
        ]
        self.fields["team"].choices = [("", "Any team")] + [(t.slug, t.name) for t in teams]

    def filters(self):
        """Valid filter values; an unknown one is ignored rather than failing the page."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "text": (data.get("q") or "").strip(),
            "status": data.get("status") or "",
            "severity": data.get("severity") or "",
            "team": data.get("team") or "",
            "sort": data.get("sort") or "open",
        }


TIMELINE_FILTER_CHOICES = [(k, label) for k, (label, _) in TIMELINE_FILTERS.items()]


class ImpactForm(forms.Form):
    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    started_at = forms.DateTimeField(
        label="Impact started at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In your time zone; may be earlier than the declaration.",
    )
    # Up to what their columns hold (integer, bigint).
    users_affected = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    failed_requests = forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    revenue_impact = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2
    )
    sla_breach = forms.BooleanField(label="SLA breached", required=False)
    affected_services = forms.CharField(
        required=False, help_text="Comma-separated, e.g. auth-api, web", max_length=1000
    )
    status_page_url = forms.URLField(required=False, assume_scheme="https")

    def __init__(self, *args, started_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_started_at = started_at

    def clean_affected_services(self):
        raw = self.cleaned_data.get("affected_services") or ""
        return [s.strip() for s in raw.split(",") if s.strip()]

    def clean_started_at(self):
        value = self.cleaned_data.get("started_at")
        if wrong := time_out_of_range(value):
            raise forms.ValidationError(f"The impact cannot start {wrong}.")
        # The field shows the stored start to the minute: sent back as shown, it is unchanged.
        stored = self.stored_started_at
        if value and stored and value == stored.replace(second=0, microsecond=0):
            return stored
        return value
