import datetime as dt
import re
import zoneinfo

from django import forms
from django.contrib.auth import get_user_model

from common.outbound import validate_outbound_url
from oncall.models import Cadence, ContactMethod, EscalationStep, Layer, Restriction
from oncall.services import LayerData

User = get_user_model()

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class WindowForm(forms.Form):
    start = forms.DateTimeField(label="From", widget=DATETIME_LOCAL, input_formats=DATETIME_FORMATS)
    end = forms.DateTimeField(label="To", widget=DATETIME_LOCAL, input_formats=DATETIME_FORMATS)
    reason = forms.CharField(label="Reason", max_length=300, required=False)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            raise forms.ValidationError("The end must be after the start.")
        return data


class CoverForm(WindowForm):
    """“Cover from … to …”: who covers (yourself unless you manage the team)."""

    user = forms.ModelChoiceField(label="Who covers", queryset=User.objects.none())
    field_order = ["user", "start", "end", "reason"]

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(
            memberships__team=team, is_active=True
        ).order_by("username")


class SwapForm(WindowForm):
    """Ask a teammate to cover a window for you."""

    recipient = forms.ModelChoiceField(label="Ask", queryset=User.objects.none())
    field_order = ["recipient", "start", "end", "reason"]

    def __init__(self, *args, team, requester, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipient"].queryset = (
            User.objects.filter(memberships__team=team, is_active=True)
            .exclude(pk=requester.pk)
            .order_by("username")
        )


class HandoffNoteForm(forms.Form):
    body = forms.CharField(
        label="Handoff note",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=10000,
        help_text="What the next person needs to know: open incidents, flaky alerts, changes.",
    )
    handoff_at = forms.DateTimeField(widget=forms.HiddenInput)


class ScheduleForm(forms.Form):
    name = forms.CharField(label="Schedule name", max_length=100)
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Handoffs happen at their local time in this zone, across daylight saving.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zones = sorted(zoneinfo.available_timezones())
        self.fields["time_zone"].choices = [(z, z) for z in zones]


class LayerForm(forms.Form):
    layer_id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label="Layer name", max_length=60)
    members = forms.CharField(
        label="Members in order",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Usernames, one per line or separated by commas; they take turns in this order.",
    )
    # Initial values match what an untouched blank layer submits, so it is skipped.
    cadence = forms.ChoiceField(label="Hand off", choices=Cadence.choices, initial=Cadence.WEEKLY)
    interval = forms.IntegerField(label="Every", min_value=1, max_value=52, initial=1)
    handoff_weekday = forms.TypedChoiceField(
        label="Handoff day (weekly)",
        coerce=int,
        choices=Layer._meta.get_field("handoff_weekday").choices,
        initial=0,
    )
    handoff_time = forms.TimeField(
        label="Handoff time",
        initial=dt.time(9),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    start_date = forms.DateField(label="Start date", widget=forms.DateInput(attrs={"type": "date"}))
    restriction = forms.ChoiceField(
        label="On call", choices=Restriction.choices, initial=Restriction.NONE
    )
    active_from = forms.TimeField(
        label="Business hours from",
        initial=dt.time(9),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    active_until = forms.TimeField(
        label="Business hours until",
        initial=dt.time(17),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args, team, **kwargs):
        self.team = team
        super().__init__(*args, **kwargs)

    def clean_members(self):
        names = [n for n in re.split(r"[\s,]+", self.cleaned_data["members"]) if n]
        users = {
            u.username: u
            for u in User.objects.filter(memberships__team=self.team, username__in=names)
        }
        unknown = [n for n in names if n not in users]
        if unknown:
            raise forms.ValidationError(f"Not members of {self.team}: {', '.join(unknown)}.")
        if len(set(names)) != len(names):
            raise forms.ValidationError("Each person may appear only once in a rotation.")
        return [users[n] for n in names]

    def layer_data(self) -> LayerData:
        d = self.cleaned_data
        return LayerData(
            id=d.get("layer_id"),
            name=d["name"].strip(),
            members=d["members"],
            start_date=d["start_date"],
            handoff_time=d["handoff_time"],
            handoff_weekday=d["handoff_weekday"],
            cadence=d["cadence"],
            interval=d["interval"],
            restriction=d["restriction"],
            active_from=d["active_from"],
            active_until=d["active_until"],
        )


LayerFormSet = forms.formset_factory(
    LayerForm, extra=1, can_delete=True, max_num=8, validate_max=True
)


class EscalationPolicyForm(forms.Form):
    repeat = forms.IntegerField(
        label="Run the steps this many times", min_value=1, max_value=9, initial=1
    )


class EscalationStepForm(forms.Form):
    # The empty choice is what an untouched blank step submits, so the formset skips it.
    target_kind = forms.ChoiceField(
        label="Notify", choices=[("", "Choose who is notified"), *EscalationStep.TargetKind.choices]
    )
    layer = forms.ModelChoiceField(label="Layer", queryset=Layer.objects.none(), required=False)
    user = forms.ModelChoiceField(label="Person", queryset=User.objects.none(), required=False)
    wait_minutes = forms.IntegerField(
        label="Then wait (minutes)", min_value=0, max_value=1440, initial=5
    )

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layer"].queryset = Layer.objects.filter(schedule__team=team).select_related(
            "schedule"
        )
        self.fields["user"].queryset = User.objects.filter(memberships__team=team).order_by(
            "username"
        )

    def clean(self):
        data = super().clean()
        kind = data.get("target_kind")
        if kind == EscalationStep.TargetKind.LAYER and not data.get("layer"):
            self.add_error("layer", "Choose the layer whose on-call person is notified.")
        if kind == EscalationStep.TargetKind.USER and not data.get("user"):
            self.add_error("user", "Choose the person to notify.")
        return data


EscalationStepFormSet = forms.formset_factory(
    EscalationStepForm, extra=1, can_delete=True, max_num=10, validate_max=True
)


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class TeamSettingsForm(forms.Form):
    """A team's time zone and business hours, which decide whether a warning pages."""

    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="Business hours are local time in this zone.",
        error_messages={
            "invalid_choice": "%(value)s is not a known time zone (e.g. Europe/Berlin).",
        },
    )
    business_days = forms.TypedMultipleChoiceField(
        label="Business days",
        coerce=int,
        choices=list(enumerate(WEEKDAYS)),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one business day."},
    )
    business_start = forms.TimeField(
        label="Business hours start",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    business_end = forms.TimeField(
        label="Business hours end",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in sorted(zoneinfo.available_timezones())]

    def clean(self):
        data = super().clean()
        start, end = data.get("business_start"), data.get("business_end")
        if start and end and start >= end:
            self.add_error("business_end", "Business hours must end after they start.")
        return data


class ContactMethodForm(forms.ModelForm):
    class Meta:
        model = ContactMethod
        fields = ["kind", "value", "label"]
        labels = {"kind": "Kind", "value": "Address or number", "label": "Label (optional)"}

    def clean(self):
        data = super().clean()
        kind, value = data.get("kind"), (data.get("value") or "").strip()
        if kind == ContactMethod.Kind.EMAIL:
            forms.EmailField().clean(value)
        elif kind in (ContactMethod.Kind.SMS, ContactMethod.Kind.PHONE):
            if not re.fullmatch(r"\+?[0-9 ()./-]{6,32}", value):
                self.add_error("value", "Enter a phone number, e.g. +49 170 1234567.")
        elif kind in (ContactMethod.Kind.WEBHOOK, ContactMethod.Kind.SLACK) and value:
            try:
                validate_outbound_url(value)
                forms.URLField().clean(value)
            except forms.ValidationError as exc:
                self.add_error("value", exc)
        return data
