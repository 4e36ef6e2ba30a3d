import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from common.body_limit import BodySizeLimit
from common.edge_cache import PublicEdgeCache
from common.garbage_collection import settle_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
django_application = get_asgi_application()

from alerts.payloads import MAX_BODY_BYTES as WEBHOOK_BODY_MAX_BYTES  # noqa: E402 — needs apps

# The public status pages are read by everyone at once during an outage: their public answers
# are served from each process's memory for STATUS_EDGE_CACHE_SECONDS (1 s by default).
public_answers = PublicEdgeCache(
    django_application, prefixes=("/status/",), seconds=settings.STATUS_EDGE_CACHE_SECONDS
)
application = BodySizeLimit(
    public_answers,
    default=settings.REQUEST_BODY_MAX_BYTES,
    prefixes={
        "/alerts/webhook/": WEBHOOK_BODY_MAX_BYTES,
        "/changes/webhook/": WEBHOOK_BODY_MAX_BYTES,
    },
)
settle_web_process()
