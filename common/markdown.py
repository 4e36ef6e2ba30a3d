"""User-written Markdown → safe HTML. The only source of HTML that templates mark safe."""

import threading

import markdown as md
import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "details",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "*": {"id", "class", "title"},
    "a": {"href"},
    "img": {"src", "alt"},
    "input": {"type", "checked", "disabled"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
DEFAULT_EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br"]


_local = threading.local()


def _converter(extensions) -> md.Markdown:
    """A Markdown converter per thread and extension list: building one costs ~5x a render.
    Markdown objects keep state between conversions, so they are reset and never shared."""
    cache = _local.__dict__.setdefault("converters", {})
    key = tuple(extensions)
    if key not in cache:
        cache[key] = md.Markdown(extensions=list(extensions), output_format="html")
    return cache[key].reset()


def render_markdown(text: str, *, extensions=None, extension_configs=None, id_prefix=None) -> str:
    extensions = extensions if extensions is not None else DEFAULT_EXTENSIONS
    if extension_configs:
        converter = md.Markdown(
            extensions=extensions, extension_configs=extension_configs, output_format="html"
        )
    else:
        converter = _converter(extensions)
    return sanitize_html(converter.convert(text or ""), id_prefix=id_prefix)


# Classes the Markdown extensions write and the pages style; any other class is dropped, so a
# note cannot dress itself as the page's own badges or buttons.
KEPT_CLASSES = {"toc"}


def _keep_class(name: str) -> bool:
    return name in KEPT_CLASSES or name.startswith("language-")


def _attribute_filter(id_prefix):
    """ids only with id_prefix (a runbook's heading anchors, "rb-…"), else none at all: the
    page's live sections are found by id, and a note must not be able to take one over."""

    def keep(element, attribute, value):
        if attribute == "id":
            return value if id_prefix and value.startswith(id_prefix) else None
        if attribute == "class":
            return " ".join(c for c in value.split() if _keep_class(c)) or None
        return value

    return keep


def sanitize_html(html: str, *, id_prefix=None) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter(id_prefix),
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
