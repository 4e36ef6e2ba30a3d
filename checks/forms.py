import urllib.parse

from django import forms

from checks.models import SEED_EXAMPLES, CheckKind, Comparison

TARGET_HELP = (
    "http: a URL (https://api.anthropic.com/); tcp: host:port; redis: redis://[:password@]"
    "host:6379/0; postgres: postgres://user:password@host:5432/db; prometheus: its base URL "
    "(http://prometheus:9090). When editing, leave the password out to keep the saved one."
)
QUERY_HELP = "An instant query; the check fails when its value breaches the threshold, " + (
    "and when it gives no data. The seed's: "
    + "; ".join(
        f"{e['query']} {e['comparison']} {e['threshold']:g}" for e in SEED_EXAMPLES.values()
    )
)


def without_password(url: str) -> str:
    """The URL as an edit form shows it: the password left out (never sent back)."""
    try:
        parts = urllib.parse.urlsplit(url or "")
        if parts.password is None:
            return url or ""
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    user = f"{parts.username}@" if parts.username else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}{host}{port}"))


class CheckForm(forms.Form):
    """A check's settings; the rules (the target per kind, the address check, RE2) are the
    service's, and its errors come back onto these fields."""

    team = forms.ModelChoiceField(queryset=None, empty_label=None)
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=CheckKind.choices)
    target = forms.CharField(
        max_length=500,
        required=False,
        help_text=TARGET_HELP,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    expected_status = forms.IntegerField(
        label="Expected HTTP status", min_value=100, max_value=599, initial=200
    )
    body_match = forms.CharField(
        label="Body must match (RE2 regular expression, http only)",
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    query = forms.CharField(
        label="Prometheus query",
        max_length=2000,
        required=False,
        help_text=QUERY_HELP,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    comparison = forms.ChoiceField(
        label="Fails when the value is", choices=Comparison.choices, initial=">"
    )
    threshold = forms.FloatField(label="Threshold", required=False)
    interval_seconds = forms.IntegerField(
        label="Interval (seconds)", min_value=10, max_value=86400, initial=60
    )
    timeout_seconds = forms.FloatField(
        label="Timeout (seconds)", min_value=1, max_value=60, initial=5
    )
    fail_after = forms.IntegerField(
        label="Down after (failures in a row)", min_value=1, max_value=100, initial=3
    )
    recover_after = forms.IntegerField(
        label="Up again after (successes in a row)", min_value=1, max_value=100, initial=2
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, teams, check=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        if check is not None:
            self.fields["team"].disabled = True
            self.fields["team"].initial = check.team_id
        else:
            self.fields["target"].required = True


class ExampleForm(forms.Form):
    """The seed's alert expressions, to start a Prometheus check from."""

    example = forms.ChoiceField(
        label="Start from the seed's alert",
        choices=[(key, e["label"]) for key, e in SEED_EXAMPLES.items()],
    )


def example_initial(key: str) -> dict:
    example = SEED_EXAMPLES.get(key)
    if example is None:
        return {}
    return {
        "name": example["name"],
        "kind": CheckKind.PROMETHEUS,
        "query": example["query"],
        "comparison": example["comparison"],
        "threshold": example["threshold"],
    }
