"""The public subscriber pages: subscribe (by email, double opt-in), confirm from the mail,
and unsubscribe in one click. Nobody signs in; a link's signature is its authority."""

from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from status import subscribers
from status.models import Component
from status.public_views import _page_or_404, _render


def _own_url(name, page, slug, **kwargs) -> str:
    if slug is None:
        return reverse(name, kwargs=kwargs or None)
    return reverse(f"{name}_named", kwargs={"slug": page.slug, **kwargs})


def _status(response, status):
    response.status_code = status
    return response


def _csrf_passes(request) -> bool:
    return CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {}) is None


# The status page is cached whole (for every reader alike), so its small form carries no
# CSRF token: a POST without a valid one only shows this form again, filled in, with a
# token of the reader's own; nothing is stored or mailed until that form is sent.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request, slug=None):
    """GET: the form. POST: mail a confirmation link; the same answer for any valid address,
    whether or not it already subscribes."""
    page = _page_or_404(slug)
    components = list(Component.objects.filter(page=page))
    action = _own_url("status_subscribe", page, slug)
    email = request.POST.get("email", "") if request.method == "POST" else ""
    chosen = request.POST.getlist("component") if request.method == "POST" else []
    if request.method != "POST" or not _csrf_passes(request):
        return _render(
            request,
            "status/subscribe.html",
            page,
            slug,
            {
                "components": components,
                "chosen": {c for c in chosen if c.isdigit()},
                "action": action,
                "error": "",
                "email": email[:254],
            },
        )
    try:
        subscribers.email_subscribe(page=page, address=email, components=chosen)
    except subscribers.SubscribeError as exc:
        response = _render(
            request,
            "status/subscribe.html",
            page,
            slug,
            {
                "components": components,
                "chosen": {c for c in chosen if c.isdigit()},
                "action": action,
                "error": str(exc),
                "email": email[:254],
            },
        )
        return _status(response, 400)
    return _render(
        request,
        "status/subscribe_result.html",
        page,
        slug,
        {
            "title": "Check your inbox",
            "message": (
                "If that address can receive mail, a link to confirm your subscription is on "
                f"its way. It works for {subscribers.CONFIRM_MAX_AGE.days} days; until you "
                "confirm, nothing else is sent."
            ),
        },
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token, slug=None):
    """GET: a button (so a mail scanner opening the link subscribes nobody). POST: confirm;
    again is harmless."""
    page = _page_or_404(slug)
    try:
        if request.method == "POST":
            subscribers.confirm(token, page=page)
        else:
            subscribers.subscriber_for_confirm(token, page=page)
    except subscribers.SubscribeError as exc:
        return _status(
            _render(
                request,
                "status/subscribe_result.html",
                page,
                slug,
                {"title": "This link does not work", "message": str(exc)},
            ),
            400,
        )
    if request.method == "POST":
        context = {
            "title": "Subscribed",
            "message": f"You will be told of {page.title}'s updates. Every mail has a link to "
            "unsubscribe.",
        }
    else:
        context = {
            "title": "Confirm your subscription",
            "message": f"Confirm that you want mail about {page.title}'s incidents and "
            "maintenance.",
            "form": {"action": request.path, "button": "Confirm subscription"},
        }
    return _render(request, "status/subscribe_result.html", page, slug, context)


# Mail providers POST the one-click unsubscribe (RFC 8058) with no CSRF token: the signed
# link is the authority, and unsubscribing is all it can do.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token, slug=None):
    """GET: a button. POST (the button, or a mail provider's one-click): unsubscribe."""
    page = _page_or_404(slug)
    try:
        if request.method == "POST":
            subscribers.unsubscribe(token, page=page)
        else:
            subscribers.subscriber_for_unsubscribe(token, page=page)
    except subscribers.SubscribeError as exc:
        return _status(
            _render(
                request,
                "status/subscribe_result.html",
                page,
                slug,
                {"title": "This link does not work", "message": str(exc)},
            ),
            400,
        )
    if request.method == "POST":
        context = {
            "title": "Unsubscribed",
            "message": f"You will get no more mail about {page.title}.",
        }
    else:
        context = {
            "title": "Unsubscribe",
            "message": f"Stop all mail about {page.title}?",
            "form": {"action": request.path, "button": "Unsubscribe"},
        }
    return _render(request, "status/subscribe_result.html", page, slug, context)
