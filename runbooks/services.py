"""Writes for runbooks: saves that keep revisions, restore, review, step ticks, runbooks as
code. Keyword-only; each runs in one transaction with its audit entry."""

import re
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import yaml
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from audit.services import audit_record
from incidents.models import EventKind, Incident
from incidents.services import timeline_event_add
from runbooks.models import MAX_BODY_BYTES, REVIEW_INTERVAL, Runbook, RunbookRevision, StepCheck
from runbooks.rendering import runbook_steps
from teams.models import Team

logger = structlog.get_logger(__name__)

CONTENT_FIELDS = ("title", "body", "tags", "alert_names")
FRONT_MATTER_KEYS = ("title", "slug", "team", "owner", "tags", "alerts")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ALERT_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
LIBRARY_DIR = Path(__file__).resolve().parent / "library"

TEMPLATE_BODY = """## When to Use
- Alert: "AlertName"
- Symptom that brings a responder here

## Severity Assessment
- SEV1 when …
- SEV2 when …
- SEV3 when …

## Diagnostic Steps

### Step 1: Check Recent Changes
```bash
# What changed just before it started?
```

### Step 2: Check Error Patterns
```bash
# What do the logs and metrics say?
```

### Step 3: Check Dependencies
```bash
# Are the services this one needs healthy?
```

## Mitigation Options

### Option 1: Rollback (if recent deployment)
```bash
```

## Escalation
If it does not improve within 15 minutes:
1. Page secondary on-call
2. Post in the incident channel
3. Escalate to the engineering manager

## Post-Incident
- Update status page
- Schedule postmortem
- Document in incident log
"""


class RunbookError(ValueError):
    """A runbook change that cannot be made; the message is shown to the person."""


class RunbookConflict(RunbookError):
    """Someone else saved the runbook after the editor opened it."""

    def __init__(self, message, *, current):
        super().__init__(message)
        self.current = current


def normalise_body(body: str) -> str:
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    body = "\n".join(line.rstrip() for line in body.split("\n")).strip("\n")
    return body + "\n" if body else ""


def normalise_tags(values) -> list[str]:
    return _unique(slugify(str(v)) for v in values or [])


def normalise_alert_names(values) -> list[str]:
    names = _unique(str(v).strip() for v in values or [])
    for name in names:
        if not _ALERT_NAME.match(name):
            raise RunbookError(f"{name!r} is not a valid alert name (like AgentHighErrorRate).")
    return names


def split_list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text or "") if part.strip()]


def _unique(values) -> list[str]:
    out = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def _clean(*, title, body, tags, alert_names) -> dict:
    title = (title or "").strip()
    if not title:
        raise RunbookError("A runbook needs a title.")
    if len(title) > 200:
        raise RunbookError("A title is limited to 200 characters.")
    body = normalise_body(body)
    if not body:
        raise RunbookError("A runbook needs some content.")
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise RunbookError(
            f"The runbook is {size / 1_000_000:.1f} MB; a runbook is limited to "
            f"{MAX_BODY_BYTES // 1_000_000} MB of Markdown. Split it into several runbooks."
        )
    return {
        "title": title,
        "body": body,
        "tags": normalise_tags(tags),
        "alert_names": normalise_alert_names(alert_names),
    }


def _clean_slug(slug: str) -> str:
    slug = (slug or "").strip()
    if not _SLUG.match(slug) or len(slug) > 100:
        raise RunbookError(
            "A slug is lowercase letters, digits and single hyphens (like high-error-rate)."
        )
    return slug


def _snapshot(runbook) -> dict:
    return {name: getattr(runbook, name) for name in CONTENT_FIELDS}


def _add_revision(*, runbook, by, message) -> RunbookRevision:
    last = runbook.revisions.aggregate(n=Max("number"))["n"] or 0
    return RunbookRevision.objects.create(
        runbook=runbook,
        number=last + 1,
        author=by,
        message=(message or "").strip()[:300],
        **_snapshot(runbook),
    )


def runbook_create(
    *, title, slug, team, body, tags=(), alert_names=(), by, owner=None, message=""
) -> Runbook:
    content = _clean(title=title, body=body, tags=tags, alert_names=alert_names)
    slug = _clean_slug(slug)
    if Runbook.objects.filter(slug=slug).exists():
        raise RunbookError(f"A runbook with the slug {slug!r} already exists; choose another.")
    now = timezone.now()
    try:
        with transaction.atomic():
            runbook = Runbook.objects.create(
                slug=slug,
                team=team,
                owner=owner if owner is not None else by,
                created_at=now,
                updated_at=now,
                **content,
            )
            _add_revision(runbook=runbook, by=by, message=message or "Created")
            audit_record(actor=by, action="runbook.create", obj=runbook, after=_audit(runbook))
    except IntegrityError as exc:
        raise RunbookError(f"A runbook with the slug {slug!r} already exists.") from exc
    logger.info("runbook_created", runbook_id=runbook.pk, slug=slug)
    return runbook


def _audit(runbook) -> dict:
    return {
        "title": runbook.title,
        "team": runbook.team.slug,
        "tags": runbook.tags,
        "alert_names": runbook.alert_names,
        "body_chars": len(runbook.body),
    }


def runbook_update(
    *,
    runbook,
    title,
    body,
    tags,
    alert_names,
    by,
    message="",
    owner=None,
    team=None,
    base_revision=None,
) -> tuple[Runbook, bool]:
    """Save new content. Returns (runbook, changed); unchanged content makes no revision.
    base_revision is the revision the editor started from: a later one means someone else
    saved meanwhile, and RunbookConflict keeps their work from being silently overwritten."""
    content = _clean(title=title, body=body, tags=tags, alert_names=alert_names)
    with transaction.atomic():
        locked = Runbook.objects.select_for_update().select_related("team").get(pk=runbook.pk)
        before = _audit(locked)
        changed_content = any(getattr(locked, k) != v for k, v in content.items())
        if base_revision is not None and changed_content:
            latest = locked.revisions.select_related("author").order_by("-number").first()
            if latest is not None and latest.number != base_revision:
                who = latest.author.display_name if latest.author else "Vigil"
                raise RunbookConflict(
                    f"{who} saved revision {latest.number} while you were editing revision "
                    f"{base_revision}. Your text is kept below: compare the changes, then "
                    "save again to replace theirs.",
                    current=latest,
                )
        changed_meta = (owner is not None and owner.pk != locked.owner_id) or (
            team is not None and team.pk != locked.team_id
        )
        if not changed_content and not changed_meta:
            return locked, False
        for key, value in content.items():
            setattr(locked, key, value)
        if owner is not None:
            locked.owner = owner
        if team is not None:
            locked.team = team
        locked.updated_at = timezone.now()
        locked.save()
        if changed_content:
            _add_revision(runbook=locked, by=by, message=message or "Edited")
        audit_record(
            actor=by, action="runbook.update", obj=locked, before=before, after=_audit(locked)
        )
    return locked, True


def runbook_restore(*, runbook, number, by) -> RunbookRevision:
    """Bring back an old revision's content; the restore is itself a new revision."""
    revision = runbook.revisions.filter(number=number).first()
    if revision is None:
        raise RunbookError(f"Revision {number} of this runbook does not exist.")
    with transaction.atomic():
        locked, changed = runbook_update(
            runbook=runbook,
            title=revision.title,
            body=revision.body,
            tags=revision.tags,
            alert_names=revision.alert_names,
            by=by,
            message=f"Restored revision {number}",
        )
        if not changed:
            raise RunbookError(f"The runbook already reads as revision {number}.")
        audit_record(
            actor=by, action="runbook.restore", obj=locked, after={"restored_revision": number}
        )
        return locked.revisions.order_by("-number").first()


def runbook_mark_reviewed(*, runbook, by) -> Runbook:
    with transaction.atomic():
        locked = Runbook.objects.select_for_update().get(pk=runbook.pk)
        before = locked.last_reviewed_at
        locked.last_reviewed_at = timezone.now()
        locked.last_reviewed_by = by
        locked.save(update_fields=["last_reviewed_at", "last_reviewed_by"])
        audit_record(
            actor=by,
            action="runbook.review",
            obj=locked,
            before={"last_reviewed_at": before.isoformat() if before else None},
            after={"last_reviewed_at": locked.last_reviewed_at.isoformat()},
        )
    return locked


def runbook_step_tick(*, incident, runbook, step_key, by) -> StepCheck:
    """Tick one step of a runbook during an incident; the tick is a timeline event.
    Ticking a step that is already ticked returns the existing tick, and writes nothing."""
    step = next((s for s in runbook_steps(runbook.body) if s.key == step_key), None)
    if step is None:
        raise RunbookError("That step is no longer in the runbook; reload the page.")
    try:
        with transaction.atomic():
            # Two responders tapping the same step queue up here; the second finds the first's.
            Incident.objects.select_for_update().only("pk").get(pk=incident.pk)
            existing = StepCheck.objects.filter(
                incident=incident, runbook=runbook, step_key=step_key
            ).first()
            if existing:
                return existing
            who = by.display_name if by else "Vigil"
            event = timeline_event_add(
                incident=incident,
                kind=EventKind.RUNBOOK_STEP,
                author=by,
                body=f"{step.label}: done by {who}",
                data={
                    "runbook": runbook.slug,
                    "runbook_title": runbook.title,
                    "step": step.key,
                    "label": step.label,
                },
            )
            check = StepCheck.objects.create(
                incident=incident,
                runbook=runbook,
                step_key=step.key,
                label=step.label,
                checked_by=by,
                checked_at=event.occurred_at,
                event=event,
            )
            audit_record(
                actor=by,
                action="runbook.step_tick",
                obj=check,
                after={"incident": incident.pk, "runbook": runbook.slug, "step": step.key},
            )
    except IntegrityError:
        # The unique constraint caught a tick the lock did not: keep the one that won.
        return StepCheck.objects.get(incident=incident, runbook=runbook, step_key=step_key)
    return check


# --- runbooks as code ----------------------------------------------------------------------


@dataclass
class RunbookFile:
    path: Path
    title: str
    slug: str
    team: Team
    tags: list
    alert_names: list
    body: str
    owner: object = None


@dataclass
class ImportResult:
    created: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    kept: list = field(default_factory=list)


def parse_runbook_file(path: Path, *, team_override=None, teams=None, users=None) -> RunbookFile:
    """Read one Markdown file with YAML front matter; RunbookError names the file."""

    def fail(reason):
        raise RunbookError(f"{path.name}: {reason}")

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail("is not UTF-8 text.")
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        fail("must start with a front matter block between '---' lines.")
    end = text.find("\n---\n", 3)
    if end == -1:
        fail("the front matter block is not closed with a '---' line.")
    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError as exc:
        fail(f"the front matter is not valid YAML ({str(exc).splitlines()[0]}).")
    if not isinstance(meta, dict):
        fail("the front matter must be a mapping of title, slug, team, tags, alerts.")
    unknown = sorted(set(map(str, meta)) - set(FRONT_MATTER_KEYS))
    if unknown:
        fail(f"unknown front matter key(s): {', '.join(unknown)}.")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        fail("the front matter needs a title.")
    slug = meta.get("slug", path.stem)
    if not isinstance(slug, str):
        fail("the slug must be text.")
    for key in ("tags", "alerts"):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            fail(f"{key} must be a list of names.")
    team_slug = team_override or meta.get("team")
    if not isinstance(team_slug, str) or not team_slug:
        fail("the front matter needs a team (the team's slug).")
    team = (teams or {}).get(team_slug) or Team.objects.filter(slug=team_slug).first()
    if team is None:
        fail(f"there is no team {team_slug!r}.")
    owner = None
    if meta.get("owner") is not None:
        owner = (users or {}).get(meta["owner"]) or User.objects.filter(
            username=str(meta["owner"])
        ).first()
        if owner is None:
            fail(f"there is no user {meta['owner']!r} to own it.")
    try:
        content = _clean(
            title=title,
            body=text[end + 5 :],
            tags=meta.get("tags", []),
            alert_names=meta.get("alerts", []),
        )
        slug = _clean_slug(slug)
    except RunbookError as exc:
        fail(str(exc))
    return RunbookFile(path=path, slug=slug, team=team, owner=owner, **content)


def runbook_import_dir(
    *, directory, by=None, team_override=None, message=None, keep_local_edits=False
) -> ImportResult:
    """Create or update a runbook per *.md file. All files are checked before anything is
    written, and everything is written in one transaction: a bad file saves nothing.
    keep_local_edits leaves alone runbooks whose latest revision a person wrote."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunbookError(f"{directory} is not a folder.")
    files = [
        parse_runbook_file(path, team_override=team_override)
        for path in sorted(directory.glob("*.md"))
    ]
    slugs = [f.slug for f in files]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise RunbookError(f"Two files use the slug {duplicates[0]!r}; slugs must be unique.")
    result = ImportResult()
    with transaction.atomic():
        existing = {r.slug: r for r in Runbook.objects.filter(slug__in=slugs)}
        for item in files:
            note = message or f"Imported from {item.path.name}"
            runbook = existing.get(item.slug)
            if runbook is not None and keep_local_edits:
                latest = runbook.revisions.order_by("-number").first()
                if latest is not None and latest.author_id is not None:
                    result.kept.append(item.slug)
                    continue
            if runbook is None:
                runbook_create(
                    title=item.title,
                    slug=item.slug,
                    team=item.team,
                    body=item.body,
                    tags=item.tags,
                    alert_names=item.alert_names,
                    by=by,
                    owner=item.owner,
                    message=note,
                )
                result.created.append(item.slug)
                continue
            _, changed = runbook_update(
                runbook=runbook,
                title=item.title,
                body=item.body,
                tags=item.tags,
                alert_names=item.alert_names,
                by=by,
                owner=item.owner,
                team=item.team,
                message=note,
            )
            (result.updated if changed else result.unchanged).append(item.slug)
    logger.info(
        "runbooks_imported",
        directory=str(directory),
        created=len(result.created),
        updated=len(result.updated),
        unchanged=len(result.unchanged),
    )
    return result


def runbook_to_text(runbook) -> str:
    meta = {"title": runbook.title, "slug": runbook.slug, "team": runbook.team.slug}
    if runbook.owner_id:
        meta["owner"] = runbook.owner.username
    meta["tags"] = list(runbook.tags)
    meta["alerts"] = list(runbook.alert_names)
    front = yaml.safe_dump(
        meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000
    )
    return f"---\n{front}---\n\n{runbook.body}"


def runbook_export_dir(*, directory, queryset=None) -> list[Path]:
    """Write every runbook as <slug>.md; the same runbooks always give the same bytes."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    runbooks = (queryset if queryset is not None else Runbook.objects.all()).select_related(
        "team", "owner"
    )
    written = []
    for runbook in runbooks.order_by("slug"):
        path = directory / f"{runbook.slug}.md"
        path.write_bytes(runbook_to_text(runbook).encode("utf-8"))
        written.append(path)
    return written


def runbook_library_load(*, team_override=None) -> ImportResult:
    """The library that ships with Vigil (runbooks/library/*.md). Idempotent; a runbook a
    person has edited since is kept as they left it."""
    return runbook_import_dir(
        directory=LIBRARY_DIR,
        team_override=team_override,
        message="Loaded from the library",
        keep_local_edits=True,
    )


# --- freshness ------------------------------------------------------------------------------


def review_digest_send(*, now=None) -> int:
    """Email each owner the runbooks of theirs that are due a review. Returns emails sent."""
    now = now or timezone.now()
    cutoff = now - REVIEW_INTERVAL
    stale = (
        Runbook.objects.filter(owner__isnull=False, owner__is_active=True)
        .filter(
            Q(last_reviewed_at__isnull=True, created_at__lt=cutoff) | Q(last_reviewed_at__lt=cutoff)
        )
        .select_related("owner", "team")
        .order_by("owner_id", "title")
    )
    by_owner: dict = {}
    for runbook in stale:
        by_owner.setdefault(runbook.owner, []).append(runbook)
    sent = 0
    for owner, runbooks in by_owner.items():
        if not owner.email:
            logger.warning("runbook_digest_no_email", user_id=owner.pk)
            continue
        body = render_to_string(
            "runbooks/review_digest.txt",
            {"owner": owner, "runbooks": runbooks, "site_url": settings.SITE_URL},
        )
        count = len(runbooks)
        send_mail(
            subject=f"Vigil: {count} runbook{'s' if count != 1 else ''} due for review",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[owner.email],
        )
        sent += 1
    logger.info("runbook_digest_sent", emails=sent)
    return sent
