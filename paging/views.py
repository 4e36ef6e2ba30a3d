from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from paging.messages import ACK_SALT
from paging.models import InAppNotification, Page
from paging.services import PagingError, notifications_mark_read, page_acknowledge_by_link

ACK_LINK_MAX_AGE = 7 * 24 * 3600


def _page_from_token(token):
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=ACK_LINK_MAX_AGE)
        return Page.objects.select_related("incident", "user").get(pk=data["page"])
    except (signing.BadSignature, KeyError, TypeError, Page.DoesNotExist):
        return None


def ack_link(request, token):
    """GET shows what is being acknowledged (link scanners must not acknowledge); POST does it.
    The signed token is the credential: no sign-in needed at 3 AM on a phone."""
    page = _page_from_token(token)
    if page is None:
        return render(
            request, "paging/ack_link.html", {"error": "This link is not valid."}, status=404
        )
    if request.method == "POST":
        try:
            page_acknowledge_by_link(page_id=page.pk)
        except PagingError as exc:
            return render(
                request, "paging/ack_link.html", {"page": page, "error": str(exc)}, status=410
            )
        return render(request, "paging/ack_link.html", {"page": page, "done": True})
    if page.ack_link_used_at:
        return render(
            request,
            "paging/ack_link.html",
            {"page": page, "error": "This acknowledgement link was already used."},
            status=410,
        )
    return render(request, "paging/ack_link.html", {"page": page})


@login_required
def notification_list(request):
    items = InAppNotification.objects.filter(user=request.user).select_related("incident")[:100]
    return render(request, "paging/notifications.html", {"items": items})


@login_required
@require_POST
def notification_read_all(request):
    count = notifications_mark_read(user=request.user)
    messages.success(request, f"{count} notification(s) marked read.")
    return redirect("paging_notifications")


@login_required
def bell(request):
    unread = InAppNotification.objects.filter(user=request.user, read_at__isnull=True).count()
    response = render(request, "paging/bell.html", {"unread": unread})
    response["Cache-Control"] = "no-store"
    return response
