"""The one rank rule: at_least, roles_at_least and members_with_role."""

import pytest

from teams.access import at_least, members_with_role, roles_at_least
from teams.models import Membership, Role, TeamRouting
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_role_covers_every_role_below_it():
    assert at_least(Role.ADMIN, Role.MANAGER)
    assert at_least(Role.RESPONDER, Role.RESPONDER)
    assert not at_least(Role.VIEWER, Role.RESPONDER)
    assert not at_least(None, Role.VIEWER)
    assert roles_at_least(Role.MANAGER) == [Role.MANAGER, Role.ADMIN]


def test_members_with_role_lists_the_active_people_at_or_above_it(team):
    people = {role: UserFactory(username=f"p-{role}") for role in Role.values}
    for role, user in people.items():
        Membership.objects.create(team=team, user=user, role=role)
    gone = UserFactory(username="gone", is_active=False)
    Membership.objects.create(team=team, user=gone, role=Role.ADMIN)
    managers = set(members_with_role(team, Role.MANAGER).values_list("username", flat=True))
    assert managers == {"p-manager", "p-admin"}
    assert members_with_role(team.pk, Role.VIEWER).count() == 4


def test_a_new_team_has_its_routing_and_escalation_path_before_anyone_reads_them(team):
    assert TeamRouting.objects.filter(team=team).exists()
    policy = team.escalation_policies.get()
    assert [s.target_kind for s in policy.steps.order_by("position")] == ["layer", "layer", "lead"]
