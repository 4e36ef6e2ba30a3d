"""The team metrics settings: where the rollback advisor and the recovery watch read a team's
Prometheus, and each service's error-rate and p95 latency queries."""

import urllib.parse

from django import forms

from common.inputs import unstorable
from common.links import SECRET_MASK, redact_url
from common.outbound import validate_outbound_url

PROMETHEUS_URL_MAX = 200  # TeamMetrics.prometheus_url's column
QUERY_MAX = 4000


def without_password(url: str) -> str:
    """The URL as a form shows it: the user name kept, the password left out."""
    return redact_url(url or "").replace(f":{SECRET_MASK}@", "@")


class PasswordlessInput(forms.TextInput):
    """A URL field that never sends a password back to the browser, not even one just typed
    into a form that is shown again with its errors."""

    def format_value(self, value):
        return without_password(super().format_value(value) or "") or None


def _error_field(service) -> str:
    return f"error_rate_query_{service.pk}"


def _latency_field(service) -> str:
    return f"latency_query_{service.pk}"


class TeamMetricsForm(forms.Form):
    prometheus_url = forms.CharField(
        label="Prometheus URL",
        max_length=PROMETHEUS_URL_MAX,
        required=False,
        help_text="e.g. https://prometheus.example.com or https://vigil:password@host:9090; "
        "empty: Vigil's PROMETHEUS_URL. When editing, leave the password out to keep the "
        "saved one.",
        widget=PasswordlessInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, services, **kwargs):
        super().__init__(*args, **kwargs)
        self.services = list(services)
        for service in self.services:
            self.fields[_error_field(service)] = forms.CharField(
                label=f"{service.name}: error-rate query",
                required=False,
                max_length=QUERY_MAX,
                initial=service.error_rate_query,
                help_text="PromQL giving the error rate as a ratio (0.1 = 10%); "
                "empty: not measured.",
                widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
            )
            self.fields[_latency_field(service)] = forms.CharField(
                label=f"{service.name}: p95 latency query",
                required=False,
                max_length=QUERY_MAX,
                initial=service.latency_query,
                help_text="PromQL giving the p95 latency in seconds; empty: not measured.",
                widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
            )

    def clean(self):
        cleaned = super().clean()
        for name, value in cleaned.items():
            if isinstance(value, str) and (bad := unstorable(value)):
                self.add_error(name, f"This contains {bad}, which cannot be stored.")
        return cleaned

    def clean_prometheus_url(self):
        url = self.cleaned_data["prometheus_url"].strip()
        if not url:
            return ""
        if bad := unstorable(url):
            raise forms.ValidationError(f"This contains {bad}, which cannot be stored.")
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError:
            raise forms.ValidationError("This is not a URL Vigil can read.") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError("Give an https:// URL of the Prometheus server.")
        validate_outbound_url(url)
        return url

    def service_fields(self):
        """(service, its error-rate field, its latency field), for the template."""
        return [
            (service, self[_error_field(service)], self[_latency_field(service)])
            for service in self.services
        ]

    def queries(self) -> dict:
        """{service: (error-rate query, latency query)} as cleaned."""
        return {
            service: (
                self.cleaned_data[_error_field(service)].strip(),
                self.cleaned_data[_latency_field(service)].strip(),
            )
            for service in self.services
        }
