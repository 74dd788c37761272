"""Presentation MathML to LaTeX.

Text extractors read MathML as plain text: `<msup><mi>x</mi><mn>2</mn></msup>` becomes "x2" and
a fraction becomes its numerator glued to its denominator, which destroys the formula for a math
model. A LaTeX annotation (`<annotation encoding="application/x-tex">`, MediaWiki's `alttext`) is
the author's own source and is preferred when present; otherwise the presentation tree is
converted element by element. Unknown elements degrade to their converted children, never to an
exception, because web MathML is often hand-written and invalid.
"""

from __future__ import annotations

import html
import re

from resiliparse.parse.html import DOMNode, NodeType

#: Unicode operators and identifiers and their LaTeX commands
SYMBOLS: dict[str, str] = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon", "ϵ": r"\epsilon",
    "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "ϑ": r"\vartheta", "ι": r"\iota", "κ": r"\kappa",
    "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma",
    "τ": r"\tau", "υ": r"\upsilon", "φ": r"\phi", "ϕ": r"\phi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega",
    "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi",
    "Σ": r"\Sigma", "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega",
    "∑": r"\sum", "∏": r"\prod", "∫": r"\int", "∬": r"\iint", "∮": r"\oint", "∂": r"\partial",
    "∇": r"\nabla", "∞": r"\infty", "±": r"\pm", "∓": r"\mp", "×": r"\times", "÷": r"\div",
    "·": r"\cdot", "⋅": r"\cdot", "∘": r"\circ", "≤": r"\leq", "≥": r"\geq", "≠": r"\neq",
    "≈": r"\approx", "≡": r"\equiv", "∼": r"\sim", "≅": r"\cong", "∝": r"\propto", "→": r"\to",
    "←": r"\leftarrow", "↔": r"\leftrightarrow", "⇒": r"\Rightarrow", "⇐": r"\Leftarrow",
    "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "∈": r"\in", "∉": r"\notin", "∋": r"\ni",
    "⊂": r"\subset", "⊆": r"\subseteq", "⊃": r"\supset", "⊇": r"\supseteq", "∪": r"\cup",
    "∩": r"\cap", "∅": r"\emptyset", "∀": r"\forall", "∃": r"\exists", "¬": r"\neg", "∧": r"\wedge",
    "∨": r"\vee", "⊕": r"\oplus", "⊗": r"\otimes", "…": r"\ldots", "⋯": r"\cdots", "⋮": r"\vdots",
    "ℝ": r"\mathbb{R}", "ℕ": r"\mathbb{N}", "ℤ": r"\mathbb{Z}", "ℚ": r"\mathbb{Q}", "ℂ": r"\mathbb{C}",
    "′": "'", "″": "''", "−": "-", "∣": r"\mid", "∤": r"\nmid", "⟨": r"\langle", "⟩": r"\rangle",
    "⌊": r"\lfloor", "⌋": r"\rfloor", "⌈": r"\lceil", "⌉": r"\rceil", "‖": r"\|", "ℓ": r"\ell",
    "\u2061": "", "\u2062": "", "\u2063": ",", "\u00a0": " ",
}  # fmt: skip

#: large operators whose under/over scripts are limits
_BIG_OPS = {r"\sum", r"\prod", r"\int", r"\iint", r"\oint", r"\lim", r"\max", r"\min", r"\bigcup", r"\bigcap"}
_FUNCTIONS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "lim", "max", "min",
              "sup", "inf", "det", "gcd", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "deg"}  # fmt: skip
_ACCENTS = {"^": r"\hat", "ˆ": r"\hat", "¯": r"\bar", "‾": r"\overline", "→": r"\vec", "˙": r"\dot",
            "¨": r"\ddot", "~": r"\tilde", "˜": r"\tilde", "⏞": r"\overbrace", "⏟": r"\underbrace"}  # fmt: skip
TEX_ENCODINGS = ("application/x-tex", "application/x-latex", "text/x-tex", "tex", "latex")


def _symbols(text: str) -> str:
    out = []
    for ch in text:
        cmd = SYMBOLS.get(ch)
        if cmd is None:
            out.append(ch)
        else:
            out.append(cmd + (" " if cmd[-1:].isalpha() else ""))
    return "".join(out).strip() if len(text) > 1 else "".join(out)


def _elements(node: DOMNode) -> list[DOMNode]:
    return [c for c in node.child_nodes if c.node_type == NodeType.ELEMENT]


def _group(tex: str) -> str:
    tex = tex.strip()
    if len(tex) == 1 or (tex.startswith("\\") and tex[1:].isalpha()):
        return tex
    return "{" + tex + "}"


def tex_annotation(math: DOMNode) -> str | None:
    """The author's LaTeX for a `<math>` element, when the page carries it."""
    for ann in math.get_elements_by_tag_name("annotation"):
        if (ann.getattr("encoding") or "").lower() in TEX_ENCODINGS:
            tex = ann.text.strip()
            if tex:
                return unwrap_displaystyle(tex)
    alt = (math.getattr("alttext") or "").strip()
    return unwrap_displaystyle(alt) if alt else None


def unwrap_displaystyle(tex: str) -> str:
    """MediaWiki wraps every formula as `{\\displaystyle ...}`; the wrapper is noise."""
    for prefix in ("{\\displaystyle ", "{\\textstyle "):
        if tex.startswith(prefix) and tex.endswith("}"):
            return tex[len(prefix) : -1].strip()
    return tex


def mathml_to_latex(math: DOMNode) -> str:
    """LaTeX for a `<math>` element: its TeX annotation if any, else converted presentation markup."""
    return tex_annotation(math) or _convert_children(math).strip()


def _convert_children(node: DOMNode) -> str:
    parts: list[str] = []
    for child in node.child_nodes:
        if child.node_type == NodeType.ELEMENT:
            tex = _convert(child)
        elif child.node_type == NodeType.TEXT:
            tex = _symbols(child.text.strip())
        else:
            continue
        if tex:
            # `\\sum_{k=1}^n` then `k` must not fuse into `^nk`, nor `\\alpha` and `x` into `\\alphax`
            if parts and parts[-1][-1:].isalnum() and tex[:1].isalpha():
                parts.append(" ")
            parts.append(tex)
    return "".join(parts)


def _convert(node: DOMNode) -> str:
    tag = (node.tag or "").lower()
    if tag in ("mi", "mn", "mo", "ms"):
        text = node.text.strip()
        if tag == "mi" and text in _FUNCTIONS:
            return "\\" + text + " "
        if tag == "mi" and len(text) > 1 and text.isalpha():
            return r"\mathrm{" + text + "}"
        if tag == "mo" and text in ("{", "}"):
            return "\\" + text
        return _symbols(text)
    if tag == "mtext":
        text = node.text.strip()
        return r"\text{" + text + "}" if text else ""
    if tag in ("mspace", "none", "mprescripts", "maligngroup", "malignmark"):
        return " " if tag == "mspace" else ""
    kids = _elements(node)
    if tag == "semantics":
        return _convert(kids[0]) if kids else ""
    if tag in ("annotation", "annotation-xml"):
        return ""
    if tag == "msup" and len(kids) == 2:
        return _group(_convert(kids[0])) + "^" + _group(_convert(kids[1]))
    if tag == "msub" and len(kids) == 2:
        return _group(_convert(kids[0])) + "_" + _group(_convert(kids[1]))
    if tag == "msubsup" and len(kids) == 3:
        return _group(_convert(kids[0])) + "_" + _group(_convert(kids[1])) + "^" + _group(_convert(kids[2]))
    if tag == "mfrac" and len(kids) == 2:
        return r"\frac{" + _convert(kids[0]) + "}{" + _convert(kids[1]) + "}"
    if tag == "msqrt":
        return r"\sqrt{" + _convert_children(node) + "}"
    if tag == "mroot" and len(kids) == 2:
        return r"\sqrt[" + _convert(kids[1]) + "]{" + _convert(kids[0]) + "}"
    if tag in ("mover", "munder", "munderover") and kids:
        base = _convert(kids[0])
        if tag == "mover" and len(kids) == 2:
            accent = kids[1].text.strip()
            if accent in _ACCENTS and base.strip() not in _BIG_OPS:
                return _ACCENTS[accent] + "{" + base + "}"
            return _limits(base) + "^" + _group(_convert(kids[1]))
        if tag == "munder" and len(kids) == 2:
            under = kids[1].text.strip()
            if under in ("_", "‾", "¯"):
                return r"\underline{" + base + "}"
            return _limits(base) + "_" + _group(_convert(kids[1]))
        if tag == "munderover" and len(kids) == 3:
            return _limits(base) + "_" + _group(_convert(kids[1])) + "^" + _group(_convert(kids[2]))
    if tag == "mfenced":
        open_, close = node.getattr("open") or "(", node.getattr("close") or ")"
        sep = node.getattr("separators") or ","
        inner = (
            (sep[:1] + " ").join(_convert(k) for k in kids) if sep.strip() else " ".join(map(_convert, kids))
        )
        return _fence(open_) + inner + _fence(close)
    if tag == "mtable":
        rows = [" & ".join(_convert_children(cell) for cell in _elements(row)) for row in kids]
        return r"\begin{matrix}" + r" \\ ".join(rows) + r"\end{matrix}"
    if tag == "menclose":
        notation = node.getattr("notation") or ""
        inner = _convert_children(node)
        if "updiagonalstrike" in notation or "horizontalstrike" in notation:
            return r"\cancel{" + inner + "}"
        return r"\boxed{" + inner + "}" if "box" in notation else inner
    if tag == "mmultiscripts" and kids:
        base, rest = _convert(kids[0]), kids[1:]
        out = _group(base)
        for i in range(0, len(rest) - 1, 2):
            if (rest[i].tag or "") == "mprescripts":
                break
            sub, sup = _convert(rest[i]), _convert(rest[i + 1])
            out += ("_" + _group(sub) if sub else "") + ("^" + _group(sup) if sup else "")
        return out
    # mrow, mstyle, mpadded, mphantom, merror, math and anything unknown: the children in order
    if tag == "mphantom":
        return ""
    return _convert_children(node)


def _limits(base: str) -> str:
    return base.strip() if base.strip() in _BIG_OPS else _group(base)


def _fence(ch: str) -> str:
    return {"{": r"\{", "}": r"\}", "⟨": r"\langle ", "⟩": r"\rangle ", "|": "|", "‖": r"\|"}.get(ch, ch)


_ELEMENT, _TEXT = NodeType.ELEMENT, NodeType.TEXT
_NO_ATTRS: dict[str, str] = {}  # shared by every node without attributes; never written to


class LiteNode:
    """A MathML node parsed without resiliparse, with the few DOMNode members the converter uses.

    resiliparse creates a Python wrapper per node visited (~40 µs each), which made MathML
    conversion the slowest part of extracting a formula-heavy page; a formula is parsed on its
    own with the standard library's HTML parser instead.
    """

    __slots__ = ("attrs", "child_nodes", "node_type", "tag", "value")

    def __init__(self, tag: str | None, attrs: dict[str, str] | None = None, value: str = "") -> None:
        self.tag = tag
        self.attrs = attrs or _NO_ATTRS
        self.value = value
        self.node_type = _ELEMENT if tag is not None else _TEXT
        self.child_nodes: list[LiteNode] = []

    @property
    def text(self) -> str:
        if self.tag is None:
            return self.value
        return "".join(c.text for c in self.child_nodes)

    def getattr(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def get_elements_by_tag_name(self, name: str) -> list[LiteNode]:
        out: list[LiteNode] = []
        stack = list(reversed(self.child_nodes))
        while stack:
            node = stack.pop()
            if node.tag == name:
                out.append(node)
            stack.extend(reversed(node.child_nodes))
        return out


#: a tag (closing slash, name, attributes, self-closing slash), a comment, or a run of text; the
#: attribute part is possessive (no backtracking into quoted values), which matters at ~10 tags
#: per formula and thousands of formulas per page set
_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][\w:.-]*)((?:[^>\"'/]+|\"[^\"]*\"|'[^']*'|/(?!>))*+)(/?)>|<!--.*?-->|([^<]+)", re.S
)
_ATTR = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_unescape = html.unescape


def parse_math(markup: str) -> LiteNode:
    """The first `<math>` element of `markup` (or a root holding whatever was parsed).

    A regular-expression tokenizer is enough for MathML (no scripts, no raw text elements) and
    is several times faster than `html.parser`; unbalanced end tags close up to their opener and
    stray ones are ignored, as browsers do. Most MathML tags carry no attributes and most text
    no entities, so both are only decoded when present.
    """
    root = LiteNode("math")
    stack = [root]
    children = root.child_nodes
    for closing, tag, attrs, selfclose, text in _TOKEN.findall(markup):
        if text:
            children.append(LiteNode(None, None, _unescape(text) if "&" in text else text))
            continue
        if not tag:
            continue  # a comment
        tag = tag.lower()
        if closing:
            for i in range(len(stack) - 1, 0, -1):
                if stack[i].tag == tag:
                    del stack[i:]
                    children = stack[-1].child_nodes
                    break
            continue
        node = LiteNode(
            tag,
            {k.lower(): _unescape(v.strip("\"'")) for k, v in _ATTR.findall(attrs)} if "=" in attrs else None,
        )
        children.append(node)
        if not selfclose:
            stack.append(node)
            children = node.child_nodes
    first = root.child_nodes[0] if len(root.child_nodes) == 1 else None
    return first if first is not None and first.tag == "math" else root
