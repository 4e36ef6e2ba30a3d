import factory
from django.utils import timezone

from accounts.models import User
from incidents.models import Incident, Severity
from teams.models import Membership, Role, Team

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@vigil.example")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    time_zone = "UTC"


def member(team, role=Role.RESPONDER, **user_kwargs) -> User:
    user = UserFactory(**user_kwargs)
    Membership.objects.create(team=team, user=user, role=role)
    return user


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Incident {n}")
    severity = factory.LazyFunction(lambda: Severity.objects.get(level=2))
    team = factory.SubFactory(TeamFactory)
    started_at = factory.LazyFunction(timezone.now)
