"""A runbook's Markdown → its table of contents, safe HTML and the steps a responder ticks."""

import re
from dataclasses import dataclass

from django.utils.text import slugify
from markdown.extensions.toc import slugify_unicode

from common.markdown import render_markdown

EXTENSIONS = ["fenced_code", "tables", "sane_lists", "toc"]
_TOC_DIV = re.compile(r'\s*<div class="toc">(.*?)</div>\s*', re.S)


ANCHOR_PREFIX = "rb-"


def _anchor(value, separator):
    # Prefixed so a heading called "Main" cannot clash with the page's own ids; sanitising
    # drops every other id.
    return ANCHOR_PREFIX + slugify_unicode(value, separator)


def render_runbook(body: str) -> tuple[str, str]:
    """(toc_html, body_html), both sanitised. toc_html is empty when there are no headings."""
    html = render_markdown(
        "[TOC]\n\n" + (body or ""),
        extensions=EXTENSIONS,
        extension_configs={"toc": {"slugify": _anchor, "toc_depth": "2-3", "title": ""}},
        id_prefix=ANCHOR_PREFIX,
    )
    # Checklist items show a box; the constant markup is added after sanitising.
    html = html.replace(
        "<li>[ ] ", '<li class="rb-checkbox"><span class="rb-box" aria-hidden="true"></span>'
    )
    html = html.replace(
        "<li>[x] ", '<li class="rb-checkbox"><span class="rb-tick" aria-hidden="true">✓</span>'
    )
    match = _TOC_DIV.match(html)
    if not match:
        return "", html
    toc = match.group(1).strip()
    if "<li>" not in toc:
        toc = ""
    return toc, html[match.end() :]


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    kind: str  # "heading", "numbered" or "checkbox"


_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_STEP_HEADING = re.compile(r"^step\s+(\d+)\s*[:.\-—–]?\s*(.*)$", re.I)
_NUMBERED = re.compile(r"^(\d+)[.)]\s+(.+)$")
_CHECKBOX = re.compile(r"^\s*[-*+]\s+\[[ xX]\]\s+(.+)$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def _plain(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    return re.sub(r"\s+", " ", _EMPHASIS.sub("", text)).strip()


def runbook_steps(body: str) -> list[Step]:
    """Steps in reading order: `## Step N: …` headings, top-level numbered list items and
    `- [ ]` items. Keys come from the text, so ticks survive steps added elsewhere."""
    steps: list[Step] = []
    seen: dict[str, int] = {}
    section = "Checklist"
    fence = None

    def add(label, kind):
        base = slugify(label)[:56] or kind
        count = seen.get(base, 0) + 1
        seen[base] = count
        key = base if count == 1 else f"{base}-{count}"
        steps.append(Step(key=key, label=label[:300], kind=kind))

    for line in (body or "").splitlines():
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _HEADING.match(line)
        if heading:
            text = _plain(heading.group(2))
            step = _STEP_HEADING.match(text)
            if step and len(heading.group(1)) > 1:
                title = step.group(2).strip()
                add(
                    f"Step {step.group(1)} — {title}" if title else f"Step {step.group(1)}",
                    "heading",
                )
            elif len(heading.group(1)) > 1:
                section = text
            continue
        checkbox = _CHECKBOX.match(line)
        if checkbox:
            add(f"{section} — {_plain(checkbox.group(1))}", "checkbox")
            continue
        numbered = _NUMBERED.match(line)
        if numbered:
            add(f"{section}, step {numbered.group(1)} — {_plain(numbered.group(2))}", "numbered")
    return steps
