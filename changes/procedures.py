"""The source document's four rollback procedures, their commands filled in from the change
being rolled back. Every value from a sender is shell-quoted: these are pasted into a
terminal at 3 AM, and a service named `x; rm -rf ~` must stay a name."""

import json
import re
import shlex

from changes.models import ChangeKind, Procedure

# The namespace when the change did not name an environment (the document's).
DEFAULT_NAMESPACE = "production"
# The document's flag service; a team's own is named in its runbook.
FLAG_API = "http://localhost:8000"


def _q(value: str) -> str:
    return shlex.quote(value)


def flag_name(change) -> str:
    """The flag a flag change turned: its details say, else the summary's "flag <name>"."""
    if change is None:
        return ""
    named = (change.details or {}).get("flag")
    if isinstance(named, str) and named:
        return named
    found = re.search(r"\bflag\s+([^\s:]+)", change.summary or "", re.IGNORECASE)
    return found.group(1) if found else ""


def commands(procedure: str, change) -> str:
    """The commands for `procedure`, for the change's service, environment and revision. A
    value the change did not carry is a named placeholder in capitals, never a guess."""
    service = change.service.name if change else "SERVICE"
    namespace = (change.environment if change else "") or DEFAULT_NAMESPACE
    previous = change.previous_version if change else ""
    if procedure == Procedure.KUBERNETES:
        deployment = _q(f"deployment/{service}")
        lines = [
            "# Immediate rollback to the previous version",
            f"kubectl rollout undo {deployment} -n {_q(namespace)}",
        ]
        if previous:
            lines += [
                "",
                f"# Or back to the revision before this change ({previous})",
                f"kubectl rollout history {deployment} -n {_q(namespace)}",
                f"kubectl rollout undo {deployment} -n {_q(namespace)} "
                f"--to-revision={_q(previous)}",
            ]
        lines += [
            "",
            "# Monitor the rollback",
            f"kubectl rollout status {deployment} -n {_q(namespace)}",
        ]
    elif procedure == Procedure.BLUE_GREEN:
        colour = previous or "blue"
        patch = json.dumps({"spec": {"selector": {"version": colour}}})
        lines = [
            f"# Switch {service} back to {colour}",
            f"kubectl patch service {_q(service)} -n {_q(namespace)} -p {_q(patch)}",
            "",
            "# Verify traffic switched",
            f"kubectl get endpoints {_q(service)} -n {_q(namespace)}",
        ]
    elif procedure == Procedure.FLAG_OFF:
        flag = flag_name(change) if change and change.kind == ChangeKind.FLAG else ""
        flag = flag or "FLAG_NAME"
        url = f"{FLAG_API}/flags/{flag}"
        lines = [
            f"# Disable {flag} instantly",
            f"curl -X POST {_q(url + '/disable')}",
            "",
            "# Verify disabled",
            f"curl {_q(url)}",
        ]
    elif procedure == Procedure.DATABASE:
        migration = previous or "PREVIOUS_MIGRATION"
        lines = [
            f"# Roll {service}'s schema back to {migration}",
            f"python manage.py migrate {_q(service)} {_q(migration)}",
            "",
            "# Verify the schema",
            f"python manage.py showmigrations {_q(service)}",
        ]
    else:
        raise ValueError(f"Unknown procedure {procedure!r}.")
    return "\n".join(lines)


def suggested(change) -> str:
    """The procedure a change's kind suggests: a flag is turned off, the rest rolled back."""
    if change is not None and change.kind == ChangeKind.FLAG:
        return Procedure.FLAG_OFF
    return Procedure.KUBERNETES
