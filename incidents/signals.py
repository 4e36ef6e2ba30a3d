"""Signals other apps listen to. Sent inside the transaction of the change, so a receiver's
writes commit or roll back with it; receivers that enqueue work use transaction.on_commit."""

from django.dispatch import Signal

# sender=Incident, incident=, by= (a User or None for Vigil itself), page= (whether the
# on-call is to be paged: the one road by which a new incident starts its escalation)
incident_declared = Signal()
# sender=Incident, incident=, old=, new= (Status values), by=
incident_status_changed = Signal()
# sender=Incident, incident=, old=, new= (Severity rows), by=
incident_severity_changed = Signal()
