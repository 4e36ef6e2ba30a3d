"""The one sign-in backend: Django's model backend behind the login lockout."""

import structlog
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts import lockout

log = structlog.get_logger(__name__)


class LockoutModelBackend(ModelBackend):
    """Every password sign-in (the login page, the admin's, any `authenticate()` call) goes
    through the same lockout. A locked attempt raises PermissionDenied, which makes
    `authenticate()` stop and answer None without checking the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not username or password is None:
            return None
        ip = lockout.client_ip(request)
        if lockout.begin_attempt(username, ip) is None:
            if request is not None:
                request.login_locked = True
            log.warning("login_locked", username=username[:150], client_ip=ip)
            raise PermissionDenied("too many failed sign-ins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            log.info("login_failed", username=username[:150], client_ip=ip)
            return None
        lockout.clear_failures(username, ip)
        return user
