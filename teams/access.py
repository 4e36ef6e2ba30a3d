"""Object-level access: the one place that decides who may see or change what.

Every object that belongs to a team exposes `team_id` (and may expose `is_private`).
Rules:
- Vigil administrators (superusers) may do everything.
- Anyone signed in may view a team's objects unless the object is private; a private object
  is visible only to members of its team.
- Changing needs at least the responder role in the object's team; managing (approvals,
  schedules, settings) needs manager; a team admin may do everything within the team.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from teams.models import ROLE_RANK, Membership, Role, Team

VIEW, CHANGE, MANAGE, ADMINISTER = "view", "change", "manage", "administer"
_REQUIRED_ROLE = {CHANGE: Role.RESPONDER, MANAGE: Role.MANAGER, ADMINISTER: Role.ADMIN}


def at_least(role: str | None, minimum: str) -> bool:
    """Whether `role` (None: not a member) may do what `minimum` may."""
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def roles_at_least(minimum: str) -> list[str]:
    """The roles that may do what `minimum` may, for queries (`role__in=`)."""
    return [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[minimum]]


def members_with_role(team, minimum: str):
    """The active people of `team` (a Team or its id) in `minimum` or a higher role."""
    team_id = getattr(team, "pk", team)
    return (
        get_user_model()
        .objects.filter(
            memberships__team_id=team_id,
            memberships__role__in=roles_at_least(minimum),
            is_active=True,
        )
        .distinct()
    )


def team_roles(user) -> dict[int, str]:
    """{team_id: role} for a user, cached on the user object for the request."""
    if not user.is_authenticated:
        return {}
    cached = getattr(user, "_vigil_team_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._vigil_team_roles = cached
    return cached


def role_in(user, team_id) -> str | None:
    return team_roles(user).get(team_id)


def has_team_role(user, team_id, minimum: str) -> bool:
    if user.is_authenticated and user.is_superuser:
        return True
    return at_least(role_in(user, team_id), minimum)


def sees_contact_values(user, person, *, team_role: str | None) -> bool:
    """Whether `user` may see `person`'s contact values (numbers, addresses, webhook URLs) in
    full: only the person, Vigil administrators and an admin of the team listing the person
    (`team_role` is the user's role there, loaded with the page); others see kinds only."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.pk == person.pk or team_role == Role.ADMIN


def _team_id_of(obj):
    return obj.pk if obj._meta.label_lower == "teams.team" else obj.team_id


def can(user, action: str, obj) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    team_id = _team_id_of(obj)
    if action == VIEW:
        if getattr(obj, "is_private", False):
            return role_in(user, team_id) is not None
        return True
    return has_team_role(user, team_id, _REQUIRED_ROLE[action])


def visible_filter(user, prefix: str = ""):
    """A Q that limits a queryset to rows the user may view (for lists)."""
    if user.is_superuser:
        return Q()
    return Q(**{f"{prefix}is_private": False}) | Q(
        **{f"{prefix}team_id__in": list(team_roles(user))}
    )


def get_object_for_user(user, queryset, *, action: str = VIEW, **lookup):
    """Load an object or raise: 404 when the user may not even see it, 403 when seen but not
    allowed the action. Called first in every view that takes an id."""
    obj = get_object_or_404(queryset, **lookup)
    if not can(user, VIEW, obj):
        raise Http404("No such object.")
    if action != VIEW and not can(user, action, obj):
        team = Team.objects.filter(pk=_team_id_of(obj)).first()
        raise PermissionDenied(f"Your role in {team or 'this team'} does not allow this.")
    return obj
