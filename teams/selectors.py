"""Reads of teams and their settings; they create nothing."""

from teams.models import TeamRouting


def team_routing(team) -> TeamRouting:
    """The team's routing settings. Every team has its row, made with the team (and by a data
    migration for teams made before); should one be missing, the defaults apply, unsaved."""
    try:
        return team.routing
    except TeamRouting.DoesNotExist:
        return TeamRouting(team=team)
