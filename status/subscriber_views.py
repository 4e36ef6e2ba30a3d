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


def _signed_link(request, token, slug, *, act, check, done, ask):
    """A link from a mail: GET shows a button (so a mail scanner opening it changes
    nothing), POST does what it says. A link Vigil did not send, or too old, is a 400."""
    page = _page_or_404(slug)
    try:
        if request.method == "POST":
            act(token, page=page)
        else:
            check(token, page=page)
    except subscribers.SubscribeError as exc:
        context = {"title": "This link does not work", "message": str(exc)}
        return _status(_render(request, "status/subscribe_result.html", page, slug, context), 400)
    if request.method == "POST":
        title, message = done(page)
        context = {"title": title, "message": message}
    else:
        title, message, button = ask(page)
        context = {
            "title": title,
            "message": message,
            "form": {"action": request.path, "button": button},
        }
    return _render(request, "status/subscribe_result.html", page, slug, context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token, slug=None):
    """Confirm a subscription; again is harmless."""
    return _signed_link(
        request,
        token,
        slug,
        act=subscribers.confirm,
        check=subscribers.subscriber_for_confirm,
        done=lambda page: (
            "Subscribed",
            f"You will be told of {page.title}'s updates. Every mail has a link to unsubscribe.",
        ),
        ask=lambda page: (
            "Confirm your subscription",
            f"Confirm that you want mail about {page.title}'s incidents and maintenance.",
            "Confirm subscription",
        ),
    )


# Mail providers POST the one-click unsubscribe (RFC 8058) with no CSRF token: the signed
# link is the authority, and unsubscribing is all it can do.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token, slug=None):
    """Unsubscribe: the button, or a mail provider's one-click POST."""
    return _signed_link(
        request,
        token,
        slug,
        act=subscribers.unsubscribe,
        check=subscribers.subscriber_for_unsubscribe,
        done=lambda page: ("Unsubscribed", f"You will get no more mail about {page.title}."),
        ask=lambda page: ("Unsubscribe", f"Stop all mail about {page.title}?", "Unsubscribe"),
    )
