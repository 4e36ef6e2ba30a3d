"""Runbook Markdown: table of contents, heading anchors, code blocks, steps, and sanitising
against the OWASP XSS filter evasion cheat sheet."""

from html.parser import HTMLParser

import pytest

from runbooks.rendering import render_runbook, runbook_steps

# From https://cheatsheetseries.owasp.org/cheatsheets/XSS_Filter_Evasion_Cheat_Sheet.html,
# plus the Markdown-shaped equivalents a runbook author could type.
OWASP_VECTORS = [
    "<SCRIPT SRC=https://cdn.jsdelivr.net/gh/Moksh45/host-xss.rocks/index.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp>"
    "<svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(42);//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=javascript:alert(&quot;XSS&quot;)>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    "<a onmouseover=alert(document.cookie)>xxs link</a>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC= onmouseover=\"alert('xxs')\">",
    "<IMG onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
    "&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116"
    '&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;"
    "&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105"
    "&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040"
    "&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65"
    "&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0D;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    '<SCRIPT/XSS SRC="http://xss.rocks/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<IMG LOWSRC=\"javascript:alert('XSS')\">",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html base64,'
    'PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K">',
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    '<IFRAME SRC=# onmouseover="alert(document.cookie)"></IFRAME>',
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<TABLE><TD BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://xss.rocks/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dHA6Ly93d3cudzMub3JnLzIw'
    'MDAvc3ZnIj48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+" type="image/svg+xml" '
    'AllowScriptAccess="always"></EMBED>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>',
    '<a href="&#x6A;avascript:alert(1)">entity link</a>',
    "<a href=\"  javascript:alert('XSS')\">spaced link</a>",
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "<input type=text autofocus onfocus=alert(1)>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "[click me](javascript:alert('XSS'))",
    "[click me](JaVaScRiPt:alert('XSS'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert('XSS'))",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '[ref]\n\n[ref]: javascript:alert("XSS")',
    "## Heading <img src=x onerror=alert(1)>",
    '<div id="rb-x" onclick="alert(1)">clickable</div>',
]

FORBIDDEN_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "style", "link", "meta",
    "base", "form", "svg", "math", "body", "bgsound", "applet", "xml",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "data", "dynsrc", "lowsrc"}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_safe(html: str):
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<iframe" not in lowered
    collector = _Collector()
    collector.feed(html)
    for tag, attrs in collector.tags:
        assert tag not in FORBIDDEN_TAGS, (tag, html)
        for name, value in attrs:
            assert not name.startswith("on"), (name, html)
            assert name != "style", html
            if name in URL_ATTRIBUTES or name.endswith("href"):
                # As a browser's URL parser reads it: C0 controls and spaces trimmed at the
                # ends, tabs and newlines removed everywhere.
                squeezed = (value or "").strip("".join(map(chr, range(33))))
                squeezed = "".join(ch for ch in squeezed if ch not in "\t\n\r").lower()
                for scheme in ("javascript:", "data:", "vbscript:"):
                    assert not squeezed.startswith(scheme), (name, value, html)


def test_the_list_holds_at_least_thirty_owasp_vectors():
    assert len(OWASP_VECTORS) >= 30


@pytest.mark.parametrize("vector", OWASP_VECTORS)
def test_no_owasp_vector_survives_rendering(vector):
    toc, body = render_runbook(f"## Step 1: Check it\n\n{vector}\n\nAfter.\n")
    assert_safe(toc)
    assert_safe(body)


@pytest.mark.parametrize("vector", OWASP_VECTORS[:10])
def test_a_vector_inside_a_list_or_table_is_also_neutralised(vector):
    body = f"- [ ] {vector}\n\n| a | b |\n|---|---|\n| {vector} | x |\n\n> {vector}\n"
    toc, html = render_runbook(body)
    assert_safe(html)


def test_it_builds_a_table_of_contents_with_heading_anchors():
    toc, body = render_runbook("## When to Use\n\ntext\n\n### Step 1: Check Recent Changes\n")
    assert 'href="#rb-when-to-use"' in toc
    assert 'href="#rb-step-1-check-recent-changes"' in toc
    assert 'id="rb-when-to-use"' in body
    assert 'id="rb-step-1-check-recent-changes"' in body


def test_a_heading_cannot_take_an_id_the_page_uses():
    _, body = render_runbook("## Main\n")
    assert 'id="main"' not in body
    assert 'id="rb-main"' in body


def test_raw_html_in_a_runbook_cannot_take_a_page_id():
    _, body = render_runbook('## Check\n\n<div id="checklist" class="button">x</div>\n')
    assert 'id="checklist"' not in body and 'class="button"' not in body
    assert 'id="rb-check"' in body


def test_fenced_code_and_tables_render():
    _, body = render_runbook(
        "```bash\nkubectl rollout undo deployment/agent-api\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert '<pre><code class="language-bash">kubectl rollout undo' in body
    assert "<table>" in body and "<td>1</td>" in body


def test_a_body_without_headings_has_no_table_of_contents():
    toc, body = render_runbook("Just text.\n")
    assert toc == ""
    assert "<p>Just text.</p>" in body


def test_it_finds_step_headings_numbered_items_and_checkboxes_but_not_code():
    steps = runbook_steps(
        "## Diagnostic Steps\n\n### Step 1: Check Recent Changes\n```bash\n"
        "1. not a step inside code\n- [ ] nor this\n## Step 9: nor this\n```\n"
        "### Step 2: Check **Error** Patterns\n\n## Escalation\n1. Page secondary on-call\n"
        "   1. nested is not a step\n2. Post in #engineering-urgent\n\n"
        "## Before Your Shift\n- [ ] Laptop charged and ready\n- [x] VPN configured\n"
    )
    assert [s.label for s in steps] == [
        "Step 1 — Check Recent Changes",
        "Step 2 — Check Error Patterns",
        "Escalation, step 1 — Page secondary on-call",
        "Escalation, step 2 — Post in #engineering-urgent",
        "Before Your Shift — Laptop charged and ready",
        "Before Your Shift — VPN configured",
    ]
    assert steps[1].key == "step-2-check-error-patterns"
    assert len({s.key for s in steps}) == len(steps)


def test_repeated_step_labels_get_distinct_keys():
    steps = runbook_steps("## A\n- [ ] Same\n- [ ] Same\n")
    assert [s.key for s in steps] == ["a-same", "a-same-2"]
