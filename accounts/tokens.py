"""API tokens: shown once at creation, stored as SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken
from audit.services import audit_record

TOKEN_PREFIX = "vgl_"  # noqa: S105 - a marker, not a secret


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user, name) -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=(name or "API token")[:100], prefix=raw[:10], token_hash=_digest(raw)
        )
        audit_record(actor=user, action="api_token.create", obj=token, after={"name": token.name})
    return token, raw


def api_token_revoke(*, token, by) -> None:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(actor=by, action="api_token.revoke", obj=token)


def api_token_authenticate(raw: str):
    """Return the active user for a raw token, or None."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = _digest(raw)
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
