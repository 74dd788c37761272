"""HTML to text that keeps mathematics and code.

General-purpose extractors were built for news prose. On math and code pages they lose exactly the
content a code/math corpus is collected for:

* MathJax sources live in `<script type="math/tex">` blocks, which every extractor drops as script;
* MathML is read as flat text (`<msup><mi>x</mi><mn>2</mn></msup>` becomes "x2");
* KaTeX output holds each formula twice (hidden MathML with the TeX annotation, plus an HTML
  rendering), so extractors emit garbled glyph soup, sometimes twice;
* formula images (WordPress `latex.php`, codecogs) carry their TeX only in the `alt` attribute.

`MathCodeExtractor` rewrites those constructs in resiliparse's DOM into TeX text with `$...$` /
`$$...$$` delimiters (MathML converted by `corpus.commoncrawl.mathml`), removes line-number gutters
from code listings, and then lets resiliparse's fast extractor do the rest with formatting preserved,
so `<pre>` blocks keep their line breaks and indentation. resiliparse does the heavy lifting (it is
~20x faster than trafilatura); our rewrite touches only the nodes that need it, and pages without
math or code markup skip it entirely.
"""

from __future__ import annotations

import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import DOMNode, HTMLTree

from corpus.commoncrawl.mathml import mathml_to_latex, tex_annotation

#: elements that are rendered duplicates of a formula whose source we keep elsewhere
_RENDERED_MATH = (
    ".MathJax_Preview, .MathJax, .MathJax_Display, .MathJax_SVG, .MathJax_SVG_Display, "
    ".MathJax_CHTML, .MJX_Assistive_MathML"
)
#: line-number gutters of highlighted code listings (Pygments, highlight.js, Prism, GitHub)
_GUTTERS = ".linenos, .lineno, .gutter, .line-numbers-rows, .hljs-ln-numbers, .blob-num, td.linenos"
_FORMULA_IMG_SRC = re.compile(r"latex|codecogs|mathtex|/math/render|tex\.cgi|mimetex", re.I)
_BLANKS = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[ \t]+\n")


def _replace(tree: HTMLTree, node: DOMNode, text: str) -> None:
    parent = node.parent
    if parent is not None:
        parent.replace_child(tree.create_text_node(text), node)


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
        tree = HTMLTree.parse(html)
        if tree.body is None:
            return ""
        self.rewrite(tree, html)
        text = extract_plain_text(
            tree,
            preserve_formatting=True,
            main_content=self.main_content,
            list_bullets=True,
            alt_texts=False,
            noscript=False,
        )
        text = _BLANKS.sub("\n\n", _TRAILING.sub("\n", text)).strip()
        return text if len(text) >= self.min_chars else ""

    def rewrite(self, tree: HTMLTree, html: str) -> None:
        """Turn math markup into delimited TeX text and clean code listings, in place."""
        lower = html.lower()
        body = tree.body
        if "katex" in lower:
            self._katex(tree, body)
        if "<mjx-container" in lower:
            self._mathjax3(tree, body)
        if "math/tex" in lower or "math/asciimath" in lower:
            self._mathjax_scripts(tree, body)
        if "<math" in lower:
            self._mathml(tree, body)
        if "<img" in lower and ("latex" in lower or "tex" in lower):
            self._formula_images(tree, body)
        if "<pre" in lower or "<code" in lower:
            for node in body.query_selector_all(_GUTTERS):
                node.decompose()

    @staticmethod
    def _katex(tree: HTMLTree, body: DOMNode) -> None:
        for node in body.query_selector_all(".katex"):
            math = node.query_selector("math")
            tex = tex_annotation(math) if math is not None else None
            if tex is None and math is not None:
                tex = mathml_to_latex(math)
            if tex is None:
                continue
            display = node.parent is not None and "katex-display" in (node.parent.class_name or "")
            _replace(tree, node, _wrap(tex, display))

    @staticmethod
    def _mathjax_scripts(tree: HTMLTree, body: DOMNode) -> None:
        scripts = body.query_selector_all('script[type^="math/tex"], script[type^="math/asciimath"]')
        if not len(scripts):
            return
        for node in body.query_selector_all(_RENDERED_MATH):
            node.decompose()
        for node in body.query_selector_all('script[type^="math/tex"], script[type^="math/asciimath"]'):
            kind = (node.getattr("type") or "").lower()
            tex = node.text
            if "asciimath" in kind:
                _replace(tree, node, f"`{tex.strip()}`")
            else:
                _replace(tree, node, _wrap(tex, "mode=display" in kind))

    @staticmethod
    def _mathjax3(tree: HTMLTree, body: DOMNode) -> None:
        for node in body.query_selector_all("mjx-container"):
            math = node.query_selector("math")
            if math is None:
                continue
            display = (node.getattr("display") or "") == "true"
            _replace(tree, node, _wrap(mathml_to_latex(math), display))

    @staticmethod
    def _mathml(tree: HTMLTree, body: DOMNode) -> None:
        for wrapper in body.query_selector_all(".mwe-math-element"):
            for img in wrapper.query_selector_all("img"):
                img.decompose()
        for node in body.query_selector_all("math"):
            display = (node.getattr("display") or "").lower() == "block"
            _replace(tree, node, _wrap(mathml_to_latex(node), display))

    @staticmethod
    def _formula_images(tree: HTMLTree, body: DOMNode) -> None:
        for img in body.query_selector_all("img[alt]"):
            src = img.getattr("src") or ""
            cls = img.class_name or ""
            if _FORMULA_IMG_SRC.search(src) or "latex" in cls or "tex" in cls.split():
                _replace(tree, img, _wrap(img.getattr("alt") or "", False))


def extract_text(html: str, main_content: bool = True) -> str:
    """One-shot helper; build a `MathCodeExtractor` once when converting many pages."""
    return MathCodeExtractor(main_content=main_content).extract(html)
