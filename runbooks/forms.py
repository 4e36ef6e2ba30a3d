from django import forms

from accounts.models import User
from runbooks.models import MAX_BODY_BYTES
from teams.access import at_least
from teams.models import Membership, Role, Team


def teams_user_may_change(user):
    if user.is_superuser:
        return Team.objects.order_by("name")
    team_ids = [
        m.team_id for m in Membership.objects.filter(user=user) if at_least(m.role, Role.RESPONDER)
    ]
    return Team.objects.filter(pk__in=team_ids).order_by("name")


class RunbookForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100,
        help_text="Part of the runbook's address, e.g. high-error-rate. Fixed once created.",
    )
    team = forms.ModelChoiceField(queryset=Team.objects.none(), help_text="The owning team.")
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Receives the review reminders.",
    )
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. errors, agent-api.")
    alert_names = forms.CharField(
        required=False,
        label="Alert names",
        help_text="The alertname values this runbook answers, comma-separated.",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
        label="Runbook (Markdown)",
        help_text=f"Markdown; up to {MAX_BODY_BYTES // 1_000_000} MB.",
        # Let the service give its clear size error instead of a generic one.
        max_length=MAX_BODY_BYTES * 4,
    )
    message = forms.CharField(
        max_length=300, required=False, label="What changed", help_text="Kept with the revision."
    )
    base_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams_user_may_change(user)
        if editing:
            del self.fields["slug"]
            del self.fields["team"]
        else:
            del self.fields["base_revision"]


class CompareForm(forms.Form):
    old = forms.IntegerField(min_value=1, label="From revision")
    new = forms.IntegerField(min_value=1, label="To revision")
