import structlog
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render

from accounts.forms import LockoutAuthenticationForm, ProfileForm
from audit.services import audit_record

log = structlog.get_logger(__name__)


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        log.info("login_failed", username=form.data.get("username", "")[:150])
        return super().form_invalid(form)


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
    return render(request, "accounts/profile.html", {"form": form})
