import structlog
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.forms import ApiTokenForm, LockoutAuthenticationForm, ProfileForm
from accounts.models import ApiToken
from accounts.tokens import api_token_create, api_token_revoke
from audit.services import audit_record

log = structlog.get_logger(__name__)


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    template_name = "registration/logged_out.html"


@login_required
def profile(request):
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=user)
        if form.is_valid():
            before = {f: str(form.initial.get(f, "")) for f in form.changed_data}
            with transaction.atomic():
                form.save()
                audit_record(
                    actor=user,
                    action="profile.update",
                    obj=user,
                    before=before,
                    after={f: str(form.cleaned_data[f]) for f in form.changed_data},
                )
            messages.success(request, "Profile saved.")
            return redirect("profile")
    else:
        form = ProfileForm(instance=user)
    return _render_profile(request, form=form)


class _ShownOnce(str):
    """The raw token on its way to the page: its repr (in debug logs of the template
    context, in tracebacks) never shows the value."""

    def __repr__(self):
        return "<new API token, hidden>"


def _render_profile(request, *, form=None, token_form=None, new_token=None, status=200):
    """The profile page; new_token is (token, raw) right after creation, shown this once."""
    context = {
        "form": form or ProfileForm(instance=request.user),
        "token_form": token_form or ApiTokenForm(),
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id"),
        "new_token": new_token[0] if new_token else None,
        "new_token_raw": _ShownOnce(new_token[1]) if new_token else None,
    }
    return render(request, "accounts/profile.html", context, status=status)


@never_cache
@login_required
@require_POST
def api_token_new(request):
    """Create a personal API token and show it once; only its hash is kept."""
    token_form = ApiTokenForm(request.POST)
    if not token_form.is_valid():
        return _render_profile(request, token_form=token_form, status=400)
    token, raw = api_token_create(user=request.user, name=token_form.cleaned_data["name"])
    log.info("api_token_created", token_id=token.pk, prefix=token.prefix, user_id=request.user.pk)
    messages.success(request, f"Token “{token.name}” created. Copy it now: it is shown only once.")
    return _render_profile(request, new_token=(token, raw))


@login_required
@require_POST
def api_token_revoke_view(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    api_token_revoke(token=token, by=request.user)
    log.info("api_token_revoked", token_id=token.pk, user_id=request.user.pk)
    messages.success(request, f"Token “{token.name}” revoked. Programs using it get 401 now.")
    return redirect("profile")
