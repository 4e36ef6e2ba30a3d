"""The public pages are read by everyone at once, exactly when things are broken: each answer
is kept in the cache for STATUS_PAGE_CACHE_SECONDS (5 s by default), under a generation
that every write to what the pages show moves on, so a new update shows at once and
nothing shows more than a few seconds stale."""

import hashlib
from functools import wraps

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse

log = structlog.get_logger(__name__)
GENERATION_KEY = "status:generation"
KEPT_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Content-Security-Policy",
    "Access-Control-Allow-Origin",
    "Allow",
)


def generation() -> int:
    value = cache.get(GENERATION_KEY)
    if value is None:
        cache.add(GENERATION_KEY, 1, timeout=None)
        value = cache.get(GENERATION_KEY) or 1
    return value


def _move_on() -> None:
    # A cache that is down must never fail the write that called this (an incident saved at
    # 3 AM); the pages then serve uncached, see served_from_cache.
    try:
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:  # no generation yet
            cache.add(GENERATION_KEY, 1, timeout=None)
    except Exception as exc:  # any cache backend's connection error
        log.warning("status.cache_unavailable", error=type(exc).__name__)


def pages_changed() -> None:
    """Call where anything a public page shows is written: the cached answers are dropped
    now, and again at the commit (a reader between the two caches at most the old state
    under a generation the commit leaves behind)."""
    _move_on()
    transaction.on_commit(_move_on)


def served_from_cache(view):
    """A GET answered 200 is kept whole (body and the headers that matter) per host and
    address; HEAD is answered from the same entry."""

    @wraps(view)
    def answer(request, *args, **kwargs):
        seconds = settings.STATUS_PAGE_CACHE_SECONDS
        if seconds <= 0 or request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        address = f"{request.get_host()}|{request.get_full_path()}"
        try:
            key = f"status:page:{generation()}:{hashlib.sha256(address.encode()).hexdigest()}"
            kept = cache.get(key)
        except Exception as exc:  # a cache that is down: answer uncached
            log.warning("status.cache_unavailable", error=type(exc).__name__)
            return view(request, *args, **kwargs)
        if kept is not None:
            status, headers, body = kept
            response = HttpResponse(body, status=status)
            for name, value in headers.items():
                response[name] = value
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming and request.method == "GET":
            headers = {h: response[h] for h in KEPT_HEADERS if h in response}
            try:
                cache.set(key, (200, headers, response.content), timeout=seconds)
            except Exception as exc:
                log.warning("status.cache_unavailable", error=type(exc).__name__)
        return response

    return answer
