"""The blameless check: a person's name from the user directory close to words that assign
blame. The seed's rule is "Don't blame individuals, fix systems"; findings are warnings shown
next to the text, never a block."""

import re
from dataclasses import dataclass

from accounts.models import User

BLAME_WORDS = [
    "caused",
    "causing",
    "broke",
    "fault",
    "faulty",
    "should have",
    "shouldn't have",
    "should not have",
    "forgot",
    "forgetting",
    "blame",
    "blamed",
    "mistake",
    "mistakes",
    "careless",
    "carelessly",
    "negligent",
    "neglected",
    "failed to",
    "messed up",
    "screwed up",
    "didn't bother",
    "ignored",
]
# How many words may sit between the name and the blame word.
NEAR_WORDS = 8

BAD_EXAMPLE = "Alex deployed broken code and caused an outage."
GOOD_EXAMPLE = (
    "Our testing process didn't catch this edge case. "
    "We're adding tests and extending canary period."
)
PRINCIPLE = "Humans make mistakes. Systems should prevent those mistakes from causing incidents."

_BLAME_RE = re.compile(
    r"\b(" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in BLAME_WORDS) + r")\b",
    re.IGNORECASE,
)
# A sentence ends at . ! ? followed by space, or at a line break ("v1.5.2" stays whole).
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD_RE = re.compile(r"\S+")
# List bullets, numbering, quotes and headings in front of a sentence.
_MARKUP_RE = re.compile(r"^\s*(?:[-*+>#]+\s+|\d+[.)]\s+)+")


@dataclass(frozen=True)
class Finding:
    name: str
    word: str
    sentence: str


def directory_names(users=None) -> list[str]:
    """Names people are called by: first name, full name, username. Longest first so the
    full name wins over the first name."""
    if users is None:
        users = User.objects.filter(is_active=True).only("username", "first_name", "last_name")
    names = set()
    for user in users:
        for name in (user.first_name, user.get_full_name(), user.username):
            name = (name or "").strip()
            if len(name) >= 2:
                names.add(name)
    return sorted(names, key=len, reverse=True)


def name_pattern(names) -> re.Pattern | None:
    if not names:
        return None
    return re.compile(r"(?<![\w@])@?(" + "|".join(re.escape(n) for n in names) + r")\b")


def check_text(text: str, pattern: re.Pattern | None) -> list[Finding]:
    if not text or pattern is None:
        return []
    findings = []
    seen = set()
    for part in _SENTENCE_SPLIT_RE.split(text):
        sentence = _MARKUP_RE.sub("", part).strip()
        if not sentence:
            continue
        names = list(pattern.finditer(sentence))
        if not names:
            continue
        for blame in _BLAME_RE.finditer(sentence):
            for name in names:
                lo, hi = sorted((name.end(), blame.start()))
                if name.start() > blame.start():
                    lo, hi = blame.end(), name.start()
                between = len(_WORD_RE.findall(sentence[lo:hi]))
                if between <= NEAR_WORDS:
                    key = (name.group(1), blame.group(1).lower(), sentence)
                    if key not in seen:
                        seen.add(key)
                        findings.append(
                            Finding(name=name.group(1), word=blame.group(1), sentence=sentence)
                        )
    return findings


def check(text: str, names=None) -> list[Finding]:
    """Findings for one text against the user directory (or the given names)."""
    return check_text(text, name_pattern(directory_names() if names is None else names))
