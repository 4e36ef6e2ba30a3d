from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from common.inputs import unstorable
from jobstores.models import STORE_FIELDS, JobStore, redact_url


class JobStoreForm(forms.ModelForm):
    """A job store's settings. The Redis URL's password is never sent back to the browser:
    editing shows the URL without it, and leaving it out keeps the saved one."""

    team = forms.ModelChoiceField(queryset=None, empty_label=None)
    redis_url = forms.CharField(
        label="Redis URL",
        max_length=500,
        required=False,
        help_text="redis://[:password@]host:6379/0 or rediss://… When editing, leave the "
        "password out to keep the saved one.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    class Meta:
        model = JobStore
        fields = ["team", *STORE_FIELDS]
        labels = {
            "stale_after_seconds": "Stale after (seconds)",
            "queue_depth_minutes": "Queue depth alert after (minutes)",
            "prometheus_url": "Prometheus URL (for error patterns)",
            "visibility_timeout_seconds": "Celery visibility timeout (seconds)",
        }

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        if self.instance.pk:
            self.initial["redis_url"] = redact_url(self.instance.redis_url).replace(":••••••@", "@")
            self.fields["team"].disabled = True
        else:
            self.fields["redis_url"].required = True
        limits = {
            "stale_after_seconds": 7 * 86400,
            "queue_depth_minutes": 24 * 60,
            "queue_depth_threshold": 2**31 - 1,
            "visibility_timeout_seconds": 30 * 86400,
        }
        for name, most in limits.items():
            self.fields[name].validators += [MinValueValidator(1), MaxValueValidator(most)]
            self.fields[name].widget.attrs.update(min=1, max=most)

    def clean(self):
        cleaned = super().clean()
        for name, value in cleaned.items():
            if isinstance(value, str) and (bad := unstorable(value)):
                self.add_error(name, f"This contains {bad}, which cannot be stored.")
        return cleaned


class ConversationForm(forms.Form):
    conv_id = forms.CharField(label="Conversation ID", max_length=200)


class ErrorsForm(forms.Form):
    source = forms.ChoiceField(
        choices=[("stream", "Redis stream"), ("prometheus", "Prometheus")], initial="stream"
    )
    hours = forms.FloatField(label="Window (hours)", min_value=0.01, max_value=24 * 30, initial=1)
