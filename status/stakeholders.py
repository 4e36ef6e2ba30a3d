"""A team's stakeholders: people in Vigil, email addresses and Slack-compatible channels it
keeps informed. An update the poster chooses to tell them goes through paging's outbox, so
each delivery has its retries and a line in the incident's delivery log."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction

from audit.services import audit_record
from common import outbound
from common.text import one_line
from oncall.models import ContactMethod
from paging.messages import incident_url
from paging.models import Channel, Notification
from paging.services import outbox_write
from status.models import Phase, Stakeholder, StakeholderKind
from teams.access import VIEW, can

STAKEHOLDER_PURPOSE = "stakeholder"
NAME_LIMIT = 100
ADDRESS_LIMIT = 500
# A person stakeholder is told in the app and at these contact methods of theirs.
PERSON_CHANNELS = {ContactMethod.Kind.EMAIL: Channel.EMAIL, ContactMethod.Kind.SLACK: Channel.SLACK}


class StakeholderError(ValueError):
    """A refused stakeholder change; the message says why and nothing was stored."""


def _clean_address(kind, address) -> str:
    address = (address or "").strip()
    if not address:
        raise StakeholderError(
            "Give the email address." if kind == StakeholderKind.EMAIL else "Give the webhook URL."
        )
    if len(address) > ADDRESS_LIMIT:
        raise StakeholderError(f"An address is at most {ADDRESS_LIMIT} characters.")
    if kind == StakeholderKind.EMAIL:
        try:
            EmailValidator()(address)
        except ValidationError:
            raise StakeholderError(f"{address!r} is not an email address.") from None
        return address
    try:
        outbound.check_url(address)
    except outbound.OutboundRefused as exc:
        raise StakeholderError(f"Vigil will not post to that URL: {exc}") from None
    return address


def stakeholder_add(*, team, kind, by, name="", address="", username="") -> Stakeholder:
    """Keep someone informed of the team's updates: a person of Vigil (by username), an
    email address, or a Slack-compatible webhook URL (checked for a public address)."""
    if kind not in StakeholderKind.values:
        raise StakeholderError(
            "Say whether the stakeholder is a person, an email or a Slack channel."
        )
    name = one_line(name or "")
    if len(name) > NAME_LIMIT:
        raise StakeholderError(f"A name is at most {NAME_LIMIT} characters.")
    user = None
    if kind == StakeholderKind.PERSON:
        username = (username or "").strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if not username or user is None:
            raise StakeholderError(f"Nobody in Vigil has the username {username!r}.")
        if Stakeholder.objects.filter(team=team, user=user).exists():
            raise StakeholderError(f"{user.display_name} is already a stakeholder.")
        name, address = name or user.display_name, ""
    else:
        address = _clean_address(kind, address)
        if Stakeholder.objects.filter(team=team, kind=kind, address=address).exists():
            raise StakeholderError("That address is already a stakeholder.")
        if not name:
            raise StakeholderError("Give the stakeholder a name.")
    with transaction.atomic():
        stakeholder = Stakeholder.objects.create(
            team=team, kind=kind, name=name[:NAME_LIMIT], user=user, address=address
        )
        audit_record(
            actor=by,
            action="status.stakeholder_add",
            obj=team,
            after={"kind": kind, "name": stakeholder.name, "user": user.pk if user else None},
        )
    return stakeholder


def stakeholder_remove(*, stakeholder, by) -> None:
    with transaction.atomic():
        audit_record(
            actor=by,
            action="status.stakeholder_remove",
            obj=stakeholder.team,
            before={"kind": stakeholder.kind, "name": stakeholder.name},
        )
        stakeholder.delete()


def _message(update) -> dict:
    incident = update.incident
    where = "public" if update.is_public else "internal"
    subject = one_line(
        f"[{incident.severity.name}] {incident.title}: {Phase(update.phase).label} update", 200
    )
    body = f"{update.body}\n\n({where} update) Incident: {incident_url(incident)}"
    return {"subject": subject, "body": body}


def stakeholders_tell(*, update) -> list[Notification]:
    """Queue the update to every stakeholder of the incident's team, in the caller's
    transaction: one outbox row per channel, keyed by update and stakeholder. A private
    incident's update goes only to the stakeholders who are people who may see it; a drill's
    to none of them (a rehearsal tells only the people who opted in)."""
    incident = update.incident
    if incident.is_drill:
        return []
    stakeholders = list(Stakeholder.objects.filter(team_id=incident.team_id).select_related("user"))
    if not stakeholders:
        return []
    message = _message(update)
    contacts = {}
    people = [s.user_id for s in stakeholders if s.kind == StakeholderKind.PERSON and s.user_id]
    for cm in ContactMethod.objects.filter(user_id__in=people, kind__in=list(PERSON_CHANNELS)):
        contacts.setdefault(cm.user_id, []).append(cm)
    rows = []

    def row(stakeholder, channel, target, suffix, *, user=None):
        if channel == Channel.EMAIL:
            payload = {"to": target, **message}
        elif channel == Channel.SLACK:
            payload = {"text": f"*{message['subject']}*\n{message['body']}"}
        else:
            payload = {"title": message["subject"][:300], "body": update.body[:1000]}
            payload["url"] = incident_url(incident) + "#part-communications"
        rows.append(
            Notification(
                key=f"stakeholder:{update.pk}:{stakeholder.pk}:{channel}:{suffix}",
                incident=incident,
                user=user,
                channel=channel,
                purpose=STAKEHOLDER_PURPOSE,
                target=target,
                payload=payload,
            )
        )

    for stakeholder in stakeholders:
        if incident.is_private and stakeholder.kind != StakeholderKind.PERSON:
            continue  # a private incident stays with the people who may see it
        if stakeholder.kind == StakeholderKind.PERSON:
            user = stakeholder.user
            if user is None or not can(user, VIEW, incident):
                continue
            row(stakeholder, Channel.IN_APP, user.username, 0, user=user)
            for cm in contacts.get(user.pk, []):
                row(stakeholder, PERSON_CHANNELS[cm.kind], cm.value, cm.pk, user=user)
        elif stakeholder.kind == StakeholderKind.EMAIL:
            row(stakeholder, Channel.EMAIL, stakeholder.address, 0)
        else:
            row(stakeholder, Channel.SLACK, stakeholder.address, 0)
    # The update is new, so none of these keys exists yet.
    outbox_write(rows, fresh=True)
    return rows
