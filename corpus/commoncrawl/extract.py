"""HTML to text that keeps mathematics and code.

General-purpose extractors were built for news prose. On math and code pages they lose exactly the
content a code/math corpus is collected for:

* MathJax sources live in `<script type="math/tex">` blocks, which every extractor drops as script;
* MathML is read as flat text (`<msup><mi>x</mi><mn>2</mn></msup>` becomes "x2");
* KaTeX output holds each formula twice (hidden MathML with the TeX annotation, plus an HTML
  rendering), so extractors emit garbled glyph soup, sometimes twice;
* formula images (WordPress `latex.php`, codecogs) carry their TeX only in the `alt` attribute.

`MathCodeExtractor` first rewrites those constructs on the HTML string (`prepass`: each is matched
by a regular expression, MathML is converted by `corpus.commoncrawl.mathml` from a small parse of
the one formula) into TeX text with `$...$` / `$$...$$` delimiters, then removes rendered
duplicates and line-number gutters in resiliparse's DOM, and lets resiliparse's fast extractor do
the rest with formatting preserved, so `<pre>` blocks keep their line breaks and indentation.
Working on the string matters for speed: resiliparse wraps every node a Python loop touches
(~40 µs each), which made a DOM walk over a page with 40 formulas cost more than the extraction.
Pages without math or code markup skip all of it.
"""

from __future__ import annotations

import html as html_lib
import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from corpus.commoncrawl.mathml import mathml_to_latex, parse_math, unwrap_displaystyle

#: elements that are rendered duplicates of a formula whose source we keep elsewhere
_RENDERED_MATH = (
    ".MathJax_Preview, .MathJax, .MathJax_Display, .MathJax_SVG, .MathJax_SVG_Display, "
    ".MathJax_CHTML, .MJX_Assistive_MathML"
)
#: line-number gutters of highlighted code listings (Pygments, highlight.js, Prism, GitHub)
_GUTTERS = ".linenos, .lineno, .gutter, .line-numbers-rows, .hljs-ln-numbers, .blob-num, td.linenos"
#: a gutter's class name holds one of these, so a page without any has no gutter to query for
_GUTTER_WORDS = (b"lineno", b"gutter", b"line-numbers", b"ln-numbers", b"blob-num")
_FORMULA_IMG_SRC = re.compile(r"latex|codecogs|mathtex|/math/render|tex\.cgi|mimetex", re.I)
_MATHJAX_SCRIPT = re.compile(
    r"<script\b[^>]*?\btype\s*=\s*[\"']?math/(tex|asciimath)([^\"'>]*)[\"']?[^>]*>(.*?)</script\s*>",
    re.I | re.S,
)
_MJX = re.compile(r"<mjx-container\b([^>]*)>(.*?)</mjx-container\s*>", re.I | re.S)
_MATH = re.compile(r"<math\b([^>]*)>(.*?)</math\s*>", re.I | re.S)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ATTR = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_TEX_ANNOTATION = re.compile(
    r"<annotation\b[^>]*encoding\s*=\s*[\"']?(?:application/x-tex|application/x-latex|text/x-tex)[\"']?[^>]*>(.*?)</annotation\s*>",
    re.I | re.S,
)
_KATEX_HTML = re.compile(r"<span\b[^>]*\bclass\s*=\s*[\"'][^\"']*\bkatex-html\b[^>]*>", re.I)
_SPAN_TAG = re.compile(r"<(/?)span\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")


def _wrap(tex: str, display: bool) -> str:
    tex = tex.strip()
    if not tex:
        return ""
    return f"\n$${tex}$$\n" if display else f"${tex}$"


class MathCodeExtractor:
    """Callable HTML-to-text converter; one instance serves a whole task.

    `main_content` applies resiliparse's boilerplate removal (navigation, footers); `min_chars`
    empties texts shorter than that, so callers can drop near-empty pages by one rule.
    """

    def __init__(self, main_content: bool = True, min_chars: int = 0) -> None:
        self.main_content = main_content
        self.min_chars = min_chars

    def __call__(self, html: str) -> str:
        return self.extract(html)

    def extract(self, html: str) -> str:
        html, math_scripts = prepass(html)
        tree = HTMLTree.parse(html)
        if tree.body is None:
            return ""
        self.rewrite(tree, html, math_scripts)
        text = extract_plain_text(
            tree,
            preserve_formatting=True,
            main_content=self.main_content,
            list_bullets=True,
            alt_texts=False,
            noscript=False,
        )
        text = tidy_lines(text)
        return text if len(text) >= self.min_chars else ""

    def rewrite(self, tree: HTMLTree, html: str, math_scripts: bool = False) -> None:
        """DOM clean-up after `prepass`: drop rendered duplicates of formulas and code gutters.

        Only the nodes that match are wrapped in Python (resiliparse's per-node cost is what
        makes walking a DOM from Python slow), so pages without such markup pay nothing.
        """
        lower = ascii_lower(html)
        body = tree.body
        if math_scripts and b"mathjax" in lower:
            for node in body.query_selector_all(_RENDERED_MATH):
                node.decompose()
        if (b"<pre" in lower or b"<code" in lower) and any(g in lower for g in _GUTTER_WORDS):
            for node in body.query_selector_all(_GUTTERS):
                node.decompose()


def ascii_lower(html: str) -> bytes:
    """The page as UTF-8 with ASCII letters lowered, for finding the (ASCII) markup markers.

    `str.lower` is slow on text that is not pure ASCII (most pages with formulas), and only the
    ASCII letters of tag and class names matter here.
    """
    return html.encode("utf-8", "surrogatepass").lower()


def tidy_lines(text: str) -> str:
    """Spaces and tabs off the end of every line, runs of blank lines down to one, ends stripped.

    A loop over lines: the two regular expressions this replaces (`[ \\t]+\\n`, `\\n{3,}`) try a
    match at every space or newline of the text and cost more than resiliparse's extraction.
    """
    out: list[str] = []
    blank = False
    for line in text.split("\n"):
        line = line.rstrip(" \t")
        if line:
            out.append(line)
            blank = False
        elif not blank:
            out.append(line)
            blank = True
    return "\n".join(out).strip()


def _tex_text(tex: str, display: bool) -> str:
    """Delimited TeX, escaped to sit in HTML as text."""
    return html_lib.escape(_wrap(tex, display), quote=False)


def _attrs(tag_text: str) -> dict[str, str]:
    return {k.lower(): html_lib.unescape(v.strip("\"'")) for k, v in _ATTR.findall(tag_text)}


def _math_to_text(attrs_text: str, inner: str) -> str:
    attrs = _attrs(attrs_text)
    display = attrs.get("display", "").lower() == "block"
    ann = _TEX_ANNOTATION.search(inner)
    if ann is not None and ann.group(1).strip():
        tex = unwrap_displaystyle(html_lib.unescape(ann.group(1)).strip())
    elif attrs.get("alttext", "").strip():
        tex = unwrap_displaystyle(attrs["alttext"].strip())
    else:
        tex = _mathml_tex(f"<math {attrs_text}>{inner}</math>")
    return _tex_text(tex, display)


def _mathml_tex(markup: str) -> str:
    """TeX of one MathML formula. The converter recurses once per nesting level, so a formula
    nested deeper than Python's stack (generated or hostile pages nest `<mrow>` by the thousand)
    keeps only its bare text, and the page its other content, instead of failing the whole file."""
    try:
        return mathml_to_latex(parse_math(markup))
    except RecursionError:
        return " ".join(html_lib.unescape(_ANY_TAG.sub(" ", markup)).split())


def _drop_spans(html: str, marker: re.Pattern[str]) -> str:
    """Remove every `<span>` whose opening tag matches `marker`, with all it contains."""
    out, pos = [], 0
    for start in marker.finditer(html):
        if start.start() < pos:
            continue  # nested inside a span already removed
        depth, end = 0, None
        for tag in _SPAN_TAG.finditer(html, start.start()):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                end = tag.end()
                break
        if end is None:
            break
        out.append(html[pos : start.start()])
        pos = end
    out.append(html[pos:])
    return "".join(out)


def _img_to_text(match: re.Match[str]) -> str:
    tag = match.group(0)
    attrs = _attrs(tag)
    cls = attrs.get("class", "")
    if "mwe-math-fallback" in cls:
        return ""  # MediaWiki's image of a formula whose MathML (with alttext) sits beside it
    if "alt" in attrs and (
        _FORMULA_IMG_SRC.search(attrs.get("src", "")) or "latex" in cls or "tex" in cls.split()
    ):
        return _tex_text(attrs["alt"], False)
    return tag


def prepass(html: str) -> tuple[str, bool]:
    """Rewrite math markup into delimited TeX text on the HTML string, before parsing.

    MathJax script blocks, MathJax 3 containers, bare and KaTeX MathML and formula images are
    each matched by a regular expression (none of them nests in itself) and replaced by escaped
    TeX; MathML is converted from a small standalone parse of the one formula. Returns the new
    HTML and whether MathJax script blocks were present (their rendered twins are then removed).
    """
    lower = ascii_lower(html)
    scripts = False
    if b"math/tex" in lower or b"math/asciimath" in lower:
        n_before = len(html)
        html = _MATHJAX_SCRIPT.sub(_script_to_text, html)
        scripts = len(html) != n_before
    if b"<mjx-container" in lower:
        html = _MJX.sub(_mjx_to_text, html)
    if b"katex-html" in lower:
        html = _drop_spans(html, _KATEX_HTML)
    if b"<math" in lower:
        html = _MATH.sub(lambda m: _math_to_text(m.group(1), m.group(2)), html)
    if b"<img" in lower and b"tex" in lower:
        html = _IMG.sub(_img_to_text, html)
    return html, scripts


def _script_to_text(match: re.Match[str]) -> str:
    kind, options, body = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if kind == "asciimath":
        return html_lib.escape(f"`{body.strip()}`", quote=False)
    return _tex_text(body, "mode=display" in options)


def _mjx_to_text(match: re.Match[str]) -> str:
    inner = _MATH.search(match.group(2))
    if inner is None:
        return ""
    display = _attrs(match.group(1)).get("display", "") == "true"
    return _tex_text(_mathml_tex(inner.group(0)), display)
