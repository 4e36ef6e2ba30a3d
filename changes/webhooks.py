"""Change events in through a team's changes integration (`create_integration changes`).

    POST /changes/webhook/<public_id>/<token>/     (or the token as `Authorization: Bearer`)

The body is GitHub's deployment_status webhook, a PagerDuty Change Events v2 body, or Vigil's
own JSON (changes.payloads). The token authenticates every request: in the path, as Bearer,
or (PagerDuty) as the body's routing_key. GitHub cannot send a Bearer header and Vigil keeps
only the token's hash, so a GitHub webhook uses the URL with the token in it AND the token as
its Secret: the X-Hub-Signature-256 of every GitHub request is then checked with that token,
and a GitHub request without the token in its URL is refused (401), never trusted on a
signature Vigil cannot check.

Answers: 201 a new change (200 one already recorded: a replay stores nothing new), 202 for
PagerDuty bodies as PagerDuty answers, 202 a GitHub event that is not a change; 400 with the
reason, 401 a missing or wrong token or signature, 404 an unknown integration or one that
takes alerts, 405 not POST, 413 a body over 1 MiB.
"""

import hashlib
import hmac

import structlog
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from alerts import metrics
from alerts.models import Integration, IntegrationKind
from alerts.views import integration_token_ok
from changes import payloads
from changes.models import ChangeSource
from changes.services import change_record
from common.inputs import InputError, reads_own_body

logger = structlog.get_logger(__name__)

SIGNATURE_MAX_LENGTH = 512  # characters; GitHub's header is 71


def _refuse(status, reason):
    metrics.webhook_rejected.labels(status=str(status)).inc()
    return JsonResponse({"status": "error", "error": reason}, status=status)


def _bearer(request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def github_signature_ok(header: str, token: str, body: bytes) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed by the Secret>`,
    compared in constant time."""
    if not header or len(header) > SIGNATURE_MAX_LENGTH or not header.isascii():
        return False
    expected = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


@reads_own_body
@csrf_exempt
def webhook(request, public_id, token=None):
    if request.method != "POST":
        response = _refuse(405, "Send changes with POST.")
        response["Allow"] = "POST"
        return response
    integration = (
        Integration.objects.select_related("team")
        .filter(public_id=public_id, kind=IntegrationKind.CHANGES)
        .first()
    )
    if integration is None:
        return _refuse(404, "No such changes integration.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _refuse(400, "Content-Length is not a number.")
    if length > payloads.MAX_BODY_BYTES:
        return _refuse(413, "The body is over 1 MiB.")
    body = request.read(payloads.MAX_BODY_BYTES + 1)
    if len(body) > payloads.MAX_BODY_BYTES:
        return _refuse(413, "The body is over 1 MiB.")
    github_event = request.headers.get("X-GitHub-Event")
    token = token or _bearer(request)
    if not token and github_event is None:
        token = payloads.routing_key(body)
    if not token or not integration_token_ok(integration, token):
        if github_event is not None:
            return _refuse(
                401,
                "GitHub must send to this integration's webhook URL with the token in it, "
                "with the token as the webhook's Secret.",
            )
        return _refuse(401, "A valid integration token is required (path, Bearer or routing_key).")
    if github_event is not None and not github_signature_ok(
        request.headers.get("X-Hub-Signature-256", ""), token, body
    ):
        return _refuse(
            401,
            "X-Hub-Signature-256 is missing or does not match the body: set the webhook's "
            "Secret to the integration's token.",
        )
    team = integration.team
    try:
        told = payloads.parse(
            body,
            team_slug=team.slug,
            github_event=github_event,
            content_type=request.content_type or "",
        )
        if isinstance(told, payloads.Skipped):
            logger.info("change_webhook_skipped", integration_id=integration.pk, **told.answer)
            return JsonResponse(told.answer, status=told.status)
        with transaction.atomic():
            change, created = change_record(
                team=team, integration=integration, **told.as_arguments()
            )
    except InputError as exc:
        return _refuse(400, str(exc))
    logger.info(
        "change_webhook_received",
        integration_id=integration.pk,
        change_id=change.pk,
        created=created,
        source=told.source,
    )
    if told.source == ChangeSource.PAGERDUTY:
        return JsonResponse(payloads.PAGERDUTY_ANSWER, status=202)
    return JsonResponse(
        {
            "status": "recorded" if created else "already recorded",
            "change": payloads.change_as_json(change, team_slug=team.slug),
        },
        status=201 if created else 200,
    )
