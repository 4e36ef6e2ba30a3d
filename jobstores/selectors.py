"""Reads for job stores: only the team's members see a store (it holds conversations)."""

from jobstores.models import JobStore
from teams.access import team_roles


def stores_for(user):
    stores = JobStore.objects.select_related("team")
    if user.is_superuser:
        return stores
    return stores.filter(team_id__in=list(team_roles(user)))
