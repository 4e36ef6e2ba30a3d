import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from common.body_limit import BodySizeLimit
from common.garbage_collection import settle_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
django_application = get_asgi_application()

from alerts.payloads import MAX_BODY_BYTES as WEBHOOK_BODY_MAX_BYTES  # noqa: E402 — needs apps

application = BodySizeLimit(
    django_application,
    default=settings.REQUEST_BODY_MAX_BYTES,
    prefixes={
        "/alerts/webhook/": WEBHOOK_BODY_MAX_BYTES,
        "/changes/webhook/": WEBHOOK_BODY_MAX_BYTES,
    },
)
settle_web_process()
