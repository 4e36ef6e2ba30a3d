from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import User


class LockoutAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Wrong username or password. Check both and try again.",
        "locked": "Too many failed attempts. Signing in to this account is paused for 15 minutes.",
    }

    def clean(self):
        # The lockout itself is in accounts.backends, where every way to sign in meets it.
        try:
            return super().clean()
        except forms.ValidationError:
            if getattr(self.request, "login_locked", False):
                raise forms.ValidationError(self.error_messages["locked"], code="locked") from None
            raise


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "phone", "time_zone"]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="What the token is for, e.g. “deploy pipeline” — so you know which to revoke.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name
