"""HTML to text: every formula the page shows survives, code keeps its layout."""

from __future__ import annotations

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from corpus.commoncrawl.extract import MathCodeExtractor, tidy_lines
from corpus.commoncrawl.mathml import mathml_to_latex
from tests.commoncrawl.helpers import extract_text


def wrap(body: str) -> str:
    return (
        "<html><head><title>t</title><script>var x = 1;</script></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<main><h1>Lesson</h1>{body}</main><footer>Copyright 2024 Example Inc.</footer></body></html>"
    )


def mathml(inner: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"<math xmlns='http://www.w3.org/1998/Math/MathML'{extra}>{inner}</math>"


def tex_of(inner: str) -> str:
    return mathml_to_latex(HTMLTree.parse(f"<p>{mathml(inner)}</p>").body.query_selector("math"))


def test_mathml_presentation_markup_becomes_latex() -> None:
    assert tex_of("<msup><mi>x</mi><mn>2</mn></msup>") == "x^2"
    assert tex_of("<mfrac><mn>1</mn><mrow><mi>n</mi><mo>+</mo><mn>1</mn></mrow></mfrac>") == r"\frac{1}{n+1}"
    assert tex_of("<msqrt><mi>a</mi><mo>+</mo><mi>b</mi></msqrt>") == r"\sqrt{a+b}"
    assert tex_of("<mroot><mi>x</mi><mn>3</mn></mroot>") == r"\sqrt[3]{x}"
    assert tex_of("<msub><mi>a</mi><mrow><mi>i</mi><mo>,</mo><mi>j</mi></mrow></msub>") == "a_{i,j}"
    assert (
        tex_of(
            "<munderover><mo>∑</mo><mrow><mi>k</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover><mi>k</mi>"
        )
        == r"\sum_{k=1}^n k"
    )
    assert tex_of("<mi>α</mi><mo>≤</mo><mi>β</mi>") == r"\alpha \leq \beta"
    assert tex_of("<mover><mi>v</mi><mo>→</mo></mover>") == r"\vec{v}"
    assert tex_of("<mi>sin</mi><mo>⁡</mo><mi>x</mi>") == r"\sin x"
    table = "<mtable><mtr><mtd><mn>1</mn></mtd><mtd><mn>0</mn></mtd></mtr><mtr><mtd><mn>0</mn></mtd><mtd><mn>1</mn></mtd></mtr></mtable>"
    assert (
        tex_of(f"<mfenced open='[' close=']'>{table}</mfenced>")
        == r"[\begin{matrix}1 & 0 \\ 0 & 1\end{matrix}]"
    )


def test_tex_annotation_and_alttext_are_preferred() -> None:
    ann = "<semantics><mrow><mi>E</mi></mrow><annotation encoding='application/x-tex'>E = mc^2</annotation></semantics>"
    assert tex_of(ann) == "E = mc^2"
    wiki = mathml("<mi>x</mi>", alttext="{\\displaystyle x^{2}+1}")
    tree = HTMLTree.parse(f"<p>{wiki}</p>")
    assert mathml_to_latex(tree.body.query_selector("math")) == "x^{2}+1"


def test_every_kind_of_formula_survives_extraction() -> None:
    wiki = mathml("<mi>n</mi>", alttext="{\\displaystyle n!}")
    body = (
        "<p>Inline dollars $a^2+b^2=c^2$ and parentheses \\(e^{i\\pi}=-1\\) in prose.</p>"
        "<script type='math/tex'>\\alpha + \\beta</script>"
        "<span class='MathJax_Preview'>α+β</span>"
        "<script type='math/tex; mode=display'>\\int_0^1 x\\,dx = \\frac{1}{2}</script>"
        f"<p>MathML {mathml('<msup><mi>y</mi><mn>3</mn></msup>')} inline.</p>"
        f"<div>{mathml('<mfrac><mi>p</mi><mi>q</mi></mfrac>', display='block')}</div>"
        "<p>KaTeX <span class='katex'><span class='katex-mathml'><math><semantics><mrow><mi>z</mi></mrow>"
        "<annotation encoding='application/x-tex'>\\zeta(2)=\\frac{\\pi^2}{6}</annotation></semantics></math></span>"
        "<span class='katex-html' aria-hidden='true'>ζ(2)=π²/6</span></span> rendered.</p>"
        "<p>Wiki <span class='mwe-math-element'><span class='mwe-math-mathml-inline'>"
        f"{wiki}</span>"
        "<img class='mwe-math-fallback-image-inline' alt='{\\displaystyle n!}' src='x.svg'></span> factorial.</p>"
        "<p>Image <img src='https://s0.wp.com/latex.php?latex=%5Cbinom%7Bn%7D%7Bk%7D' alt='\\binom{n}{k}' class='latex'> ok.</p>"
        "<mjx-container class='MathJax' jax='CHTML' display='true'><mjx-math>glyphs</mjx-math>"
        f"<mjx-assistive-mml>{mathml('<msub><mi>x</mi><mn>0</mn></msub>')}</mjx-assistive-mml></mjx-container>"
    )
    text = extract_text(wrap(body))
    for formula in (
        "$a^2+b^2=c^2$",
        "\\(e^{i\\pi}=-1\\)",
        "$\\alpha + \\beta$",
        "$$\\int_0^1 x\\,dx = \\frac{1}{2}$$",
        "$y^3$",
        "$$\\frac{p}{q}$$",
        "$\\zeta(2)=\\frac{\\pi^2}{6}$",
        "$n!$",
        "$\\binom{n}{k}$",
        "$$x_0$$",
    ):
        assert formula in text, formula
    # rendered duplicates are gone
    assert "α+β" not in text and "ζ(2)=π²/6" not in text and "glyphs" not in text
    assert text.count("n!") == 1
    # boilerplate is gone
    assert "Copyright" not in text and "Home" not in text


def test_plain_resiliparse_loses_what_we_keep() -> None:
    """The reason this module exists: the library alone drops MathJax sources and flattens MathML."""
    body = (
        "<p>Some words around the formulas so that the page has content.</p>"
        "<script type='math/tex'>\\alpha + \\beta</script>"
        f"<p>{mathml('<msup><mi>y</mi><mn>3</mn></msup>')}</p>"
    )
    plain = extract_plain_text(wrap(body), main_content=True, preserve_formatting=True)
    assert "\\alpha" not in plain and "y^3" not in plain
    ours = extract_text(wrap(body))
    assert "$\\alpha + \\beta$" in ours and "$y^3$" in ours


def test_code_blocks_keep_line_breaks_and_indentation_and_lose_gutters() -> None:
    code = "def walk(tree):\n    for node in tree:\n        if node.leaf:\n            yield node\n\n    return None"
    body = (
        "<p>Here is a generator that walks a tree, explained line by line below.</p>"
        f"<pre><code class='language-python'>{code}</code></pre>"
        "<table class='highlighttable'><tr><td class='linenos'><pre>1\n2\n3</pre></td>"
        "<td class='code'><pre>x = 1\ny = 2\nz = x + y</pre></td></tr></table>"
        "<div class='highlight'><pre><span class='k'>if</span> <span class='n'>a</span>:\n"
        "    <span class='k'>pass</span></pre></div>"
    )
    text = extract_text(wrap(body))
    assert code in text
    assert "x = 1\ny = 2\nz = x + y" in text
    assert "if a:\n    pass" in text
    assert "1\n2\n3" not in text


def test_html_escapes_inside_code_are_decoded() -> None:
    body = "<p>A Rust signature:</p><pre><code>fn f(x: &amp;str) -&gt; Vec&lt;u8&gt; {}</code></pre>"
    assert "fn f(x: &str) -> Vec<u8> {}" in extract_text(wrap(body))


def test_min_chars_and_empty_documents() -> None:
    assert MathCodeExtractor(min_chars=10_000).extract(wrap("<p>short</p>")) == ""
    assert extract_text("") == ""
    assert extract_text("<html></html>") == ""
    assert "plain" in extract_text("plain text without any tags")


def test_tidy_lines_strips_line_ends_and_collapses_blank_runs() -> None:
    assert tidy_lines("a  \n\n\n  \n b \t\n\n") == "a\n\n b"
    assert tidy_lines("\n\n\nx\n \n\t\ny  ") == "x\n\ny"
    assert tidy_lines("  a\r\n\r\n\r\n\nb") == "a\r\n\r\n\r\n\nb"  # only spaces and tabs end a line
    assert tidy_lines("    def f():\n        return 1   \n") == "def f():\n        return 1"
    assert tidy_lines(" \n \n") == ""


def test_markers_in_non_ascii_pages_are_found() -> None:
    """Markup markers are looked for in ASCII-lowered bytes; the page's other text is irrelevant."""
    html = "<p>Σ α — <SCRIPT TYPE='math/TeX'>x^2</SCRIPT> and <MATH><mi>y</mi></MATH></p>"
    text = extract_text(f"<html><body>{html}</body></html>", main_content=False)
    assert "$x^2$" in text and "$y$" in text
