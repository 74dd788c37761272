"""Extraction on math and code pages: pages/s per core and formulas kept, ours vs resiliparse and
trafilatura on the same pages; plus extraction + fastText scoring against trafilatura + fastText,
on those pages and on a second set of formula-heavy pages (`--heavy-scale`, ~17 kB of HTML each).

The pages are generated here (seeded) from formula specimens whose TeX is known, in every way
the web writes math: `$...$`, `\\(...\\)`, MathJax `<script type="math/tex">`, bare presentation
MathML, KaTeX output (MathML with TeX annotation plus an HTML rendering), MediaWiki (`alttext`
plus a fallback image), formula images with TeX in `alt`, and MathJax 3 containers. A formula
counts as kept when its TeX (whitespace ignored) is in the output. Code listings count as kept when
every line of the listing, indentation included, is in the output. The prose around them is real
text (Python's reference topics and standard-library docstrings) by default.

    .venv/bin/python benchmarks/bench_extract.py [--pages 600] [--heavy-scale 8 --heavy-pages 600]
        [--prose real|list]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (TeX, presentation MathML) pairs; the MathML is what a page without TeX would carry
SPECIMENS = [
    ("x^2", "<msup><mi>x</mi><mn>2</mn></msup>"),
    (r"\frac{a}{b}", "<mfrac><mi>a</mi><mi>b</mi></mfrac>"),
    (r"\sqrt{x+1}", "<msqrt><mi>x</mi><mo>+</mo><mn>1</mn></msqrt>"),
    (
        r"\sum_{i=1}^n i",
        "<munderover><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover><mi>i</mi>",
    ),
    (r"\alpha \leq \beta", "<mi>α</mi><mo>≤</mo><mi>β</mi>"),
    ("a_{i,j}", "<msub><mi>a</mi><mrow><mi>i</mi><mo>,</mo><mi>j</mi></mrow></msub>"),
    (r"\int_0^1 f", "<msubsup><mo>∫</mo><mn>0</mn><mn>1</mn></msubsup><mi>f</mi>"),
    (
        r"e^{i\pi}=-1",
        "<msup><mi>e</mi><mrow><mi>i</mi><mi>π</mi></mrow></msup><mo>=</mo><mo>−</mo><mn>1</mn>",
    ),
    (r"\frac{1}{n+1}", "<mfrac><mn>1</mn><mrow><mi>n</mi><mo>+</mo><mn>1</mn></mrow></mfrac>"),
    (r"\sqrt[3]{y}", "<mroot><mi>y</mi><mn>3</mn></mroot>"),
    (r"x \in \mathbb{R}", "<mi>x</mi><mo>∈</mo><mi>ℝ</mi>"),
    (r"\vec{v}", "<mover><mi>v</mi><mo>→</mo></mover>"),
]
STYLES = ["dollar", "paren", "mathjax", "mathml", "katex", "wiki", "img", "mjx3"]
CODE = [
    "def merge(a, b):\n    out = []\n    while a and b:\n        out.append(a.pop(0) if a[0] < b[0] else b.pop(0))\n    return out + a + b",
    "for (int i = 0; i < n; i++) {\n    if (v[i] > best) {\n        best = v[i];\n    }\n}",
    "SELECT name, COUNT(*)\nFROM orders\nGROUP BY name\nHAVING COUNT(*) > 3;",
]
PROSE = [
    "The",
    "method",
    "works",
    "because",
    "each",
    "step",
    "preserves",
    "the",
    "invariant",
    "stated",
    "above,",
    "and",
    "the",
    "final",
    "answer",
    "follows",
    "once",
    "the",
    "loop",
    "ends.",
    "Readers",
    "often",
    "ask",
    "why",
    "the",
    "bound",
    "is",
    "tight;",
    "the",
    "example",
    "below",
    "shows",
    "the",
    "worst",
    "case.",
]


def embed(tex: str, mathml: str, style: str) -> str:
    if style == "dollar":
        return f"${tex}$"
    if style == "paren":
        return f"\\({tex}\\)"
    if style == "mathjax":
        return f"<script type='math/tex'>{tex}</script>"
    if style == "mathml":
        return f"<math xmlns='http://www.w3.org/1998/Math/MathML'>{mathml}</math>"
    if style == "katex":
        return (
            "<span class='katex'><span class='katex-mathml'><math><semantics><mrow>"
            f"{mathml}</mrow><annotation encoding='application/x-tex'>{tex}</annotation></semantics></math></span>"
            f"<span class='katex-html' aria-hidden='true'><span class='mord'>{tex[:3]}</span></span></span>"
        )
    if style == "wiki":
        alt = "{\\displaystyle " + tex + "}"
        return (
            f"<span class='mwe-math-element'><span class='mwe-math-mathml-inline'><math alttext='{alt}'>{mathml}</math>"
            f"</span><img class='mwe-math-fallback-image-inline' alt='{alt}' src='/media/math.svg'></span>"
        )
    if style == "img":
        return f"<img class='latex' src='https://s0.wp.com/latex.php?latex=x' alt='{tex}'>"
    return (
        "<mjx-container class='MathJax' jax='CHTML'><mjx-math><mjx-mi>g</mjx-mi></mjx-math>"
        f"<mjx-assistive-mml><math>{mathml}</math></mjx-assistive-mml></mjx-container>"
    )


def real_prose() -> list[str]:
    """Words of real technical English found on this machine, in their order: Python's reference
    topics and the docstrings of its standard library (several MB, tens of thousands of distinct
    words), so that the classifier's tokenizer sees a real vocabulary rather than a short list."""
    import html
    import json as _json
    import pydoc_data.topics

    chunks = list(pydoc_data.topics.topics.values())
    for path in sorted(Path(_json.__file__).resolve().parents[1].glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks.extend(m.group(1) for m in re.finditer(r'"""(.*?)"""', text, flags=re.S))
    return html.escape(" ".join(chunks)).split()


def page_chrome(rng: random.Random, kb: int, prose: list[str] | None) -> tuple[str, str, str]:
    """Head, navigation and side matter of about `kb` kB, as a typical crawled page carries around
    its article: inline scripts and styles, JSON-LD, menus, teaser lists, a comment section."""
    if not kb:
        return "", "", ""
    words = prose or PROSE
    js, css = [], []
    while sum(map(len, js)) < kb * 600:
        k = rng.randrange(10**6)
        js.append(f"function h{k}(e,t){{var n=e&&e.dataset?e.dataset.k{k % 97}:t;return n?n+{k % 13}:null}}")
    while sum(map(len, css)) < kb * 200:
        k = rng.randrange(10**6)
        css.append(f".c{k}{{margin:{k % 17}px;color:#{k % 4096:03x};display:flex}}")
    head = (
        f"<script>{';'.join(js)}</script><style>{''.join(css)}</style>"
        '<script type="application/ld+json">{"@type":"Article","publisher":"Example"}</script>'
    )
    nav = "".join(f"<li><a href='/c/{rng.randrange(999)}'>{rng.choice(words)}</a></li>" for _ in range(80))
    teasers = "".join(
        f"<li><a href='/p/{rng.randrange(10**5)}'>{' '.join(rng.choice(words) for _ in range(8))}</a></li>"
        for _ in range(30)
    )
    comments = "".join(
        f"<div class='comment'><b>user{rng.randrange(999)}</b> {' '.join(rng.choice(words) for _ in range(15))}</div>"
        for _ in range(6)
    )
    return (
        head,
        f"<nav><ul>{nav}</ul></nav>",
        f"<aside><ul>{teasers}</ul></aside><section>{comments}</section>",
    )


def make_pages(
    n: int, seed: int = 0, scale: int = 1, prose: list[str] | None = None, chrome_kb: int = 0
) -> list[tuple[str, list[str], list[str]]]:
    """(html, formulas' TeX, code listings) per page; `scale` multiplies the paragraphs per page.

    Paragraph text is a run of consecutive words of `prose` at a random place (or, without it,
    words drawn from the short PROSE list)."""
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        style = STYLES[i % len(STYLES)]
        formulas, codes, paras = [], [], []
        for _ in range(rng.randint(3, 6) * scale):
            tex, mml = rng.choice(SPECIMENS)
            k = rng.randint(25, 60)
            if prose:
                at = rng.randrange(len(prose) - k)
                words = " ".join(prose[at : at + k])
            else:
                words = " ".join(rng.choice(PROSE) for _ in range(k))
            paras.append(f"<p>{words} {embed(tex, mml, style)} {words[:80]}.</p>")
            formulas.append(tex)
        if i % 2 == 0:
            code = rng.choice(CODE)
            escaped = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            paras.append(f"<pre><code>{escaped}</code></pre>")
            codes.append(code)
        nav = "".join(f"<li><a href='/s/{k}'>Section {k}</a></li>" for k in range(12))
        head, menu, side = page_chrome(rng, chrome_kb, prose)
        html = (
            f"<!DOCTYPE html><html><head><title>Lesson {i}</title><script>var cfg = {{a: 1}};</script>"
            f"<style>body {{ margin: 0 }}</style>{head}</head><body><header><ul>{nav}</ul>{menu}</header>"
            f"<main><article><h1>Lesson {i}</h1>{''.join(paras)}</article></main>"
            f"<aside>Related: more lessons, our newsletter, follow us.</aside>{side}"
            "<footer>Copyright 2024. All rights reserved. Privacy. Terms.</footer></body></html>"
        )
        pages.append((html, formulas, codes))
    return pages


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s)


def kept(text: str, formulas: list[str], codes: list[str]) -> tuple[int, int]:
    flat = _norm(text)
    f = sum(1 for tex in formulas if _norm(tex) in flat)
    c = sum(1 for code in codes if all(line in text for line in code.splitlines()))
    return f, c


def run(name: str, fn, pages) -> dict:
    fn(pages[0][0])  # warm up
    f_kept = f_total = c_kept = c_total = 0
    start = time.process_time()
    outs = [fn(html) for html, _, _ in pages]
    cpu = time.process_time() - start
    per_style: dict[str, list[int]] = {}
    for i, (out, (_, formulas, codes)) in enumerate(zip(outs, pages, strict=True)):
        f, c = kept(out or "", formulas, codes)
        f_kept += f
        f_total += len(formulas)
        c_kept += c
        c_total += len(codes)
        s = per_style.setdefault(STYLES[i % len(STYLES)], [0, 0])
        s[0] += f
        s[1] += len(formulas)
    return {
        "name": name,
        "pages_per_cpu_s": len(pages) / cpu,
        "formulas": (f_kept, f_total),
        "code": (c_kept, c_total),
        "per_style": per_style,
        "outs": outs,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=600)
    ap.add_argument("--scale", type=int, default=1, help="paragraphs per page x SCALE (1: ~3 kB pages)")
    ap.add_argument("--no-scoring", action="store_true")
    ap.add_argument(
        "--heavy-scale", type=int, default=8, help="paragraphs x SCALE for the heavy set (8: ~17 kB); 0: none"
    )
    ap.add_argument("--heavy-pages", type=int, default=600)
    ap.add_argument(
        "--crawl-kb",
        type=int,
        default=60,
        help="kB of scripts, styles, menus and side matter around a ~5 kB article for the crawl-like set; 0: none",
    )
    ap.add_argument(
        "--prose",
        choices=["real", "list"],
        default="real",
        help="paragraph words: runs of real text (stdlib docs) or draws from a short word list",
    )
    ap.add_argument("--max-chars", type=int, default=20_000, help="characters of a page the classifier reads")
    args = ap.parse_args()

    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    from corpus.commoncrawl.extract import MathCodeExtractor

    prose = real_prose() if args.prose == "real" else None
    pages = make_pages(args.pages, scale=args.scale, prose=prose)
    ours = MathCodeExtractor(main_content=True)
    results = [
        run("coderforge (resiliparse + math/code rewrite)", ours.extract, pages),
        run(
            "resiliparse extract_plain_text",
            lambda h: extract_plain_text(h, main_content=True, preserve_formatting=True),
            pages,
        ),
        run(
            "trafilatura extract",
            lambda h: trafilatura.extract(h, include_formatting=True, include_comments=False) or "",
            pages,
        ),
    ]
    kb = sum(len(h) for h, _, _ in pages) / len(pages) / 1024
    print(f"{len(pages)} generated math/code pages of {kb:.1f} kB HTML on average, one process, CPU time\n")
    print(f"{'extractor':48} {'pages/s/core':>12} {'formulas kept':>16} {'code kept':>10}")
    for r in results:
        fk, ft = r["formulas"]
        ck, ct = r["code"]
        print(f"{r['name']:48} {r['pages_per_cpu_s']:12.0f} {fk:7d}/{ft:<5d}{fk / ft:4.0%} {ck:4d}/{ct:<4d}")
    base = results[0]["pages_per_cpu_s"]
    print(
        "\nspeed ratio ours / other: "
        + ", ".join(f"{r['name'].split()[0]} {base / r['pages_per_cpu_s']:.1f}x" for r in results[1:])
    )
    print("\nformulas kept per markup style (ours | resiliparse | trafilatura):")
    for style in STYLES:
        cells = [f"{r['per_style'][style][0]:3d}/{r['per_style'][style][1]:<3d}" for r in results]
        print(f"  {style:8} " + " | ".join(cells))
    if args.no_scoring:
        return
    print(
        f"\nextraction + BPE split of the first {args.max_chars} characters + 2 fastText models "
        "(dim 256, wordNgrams 3), pages/s per core (goal: >= 300):"
    )
    score_bench(pages, results[0]["outs"], args.max_chars, f"{kb:.1f} kB pages")
    page_sets = []
    if args.crawl_kb:
        crawl = make_pages(args.heavy_pages, seed=2, scale=2, prose=prose, chrome_kb=args.crawl_kb)
        page_sets.append(("crawl-like", crawl))
    if args.heavy_scale:
        page_sets.append(
            ("text-heavy", make_pages(args.heavy_pages, seed=1, scale=args.heavy_scale, prose=prose))
        )
    for name, some in page_sets:
        texts = [ours.extract(h) for h, _, _ in some]
        kept_f = sum(kept(t, f, c)[0] for t, (_, f, c) in zip(texts, some, strict=True))
        total_f = sum(len(f) for _, f, _ in some)
        html_kb = sum(len(h) for h, _, _ in some) / len(some) / 1024
        text_kb = sum(len(t) for t in texts) / len(texts) / 1024
        label = (
            f"{name} pages, {html_kb:.1f} kB HTML / {text_kb:.1f} kB text ({kept_f}/{total_f} formulas kept)"
        )
        score_bench(some, texts, args.max_chars, label)


def score_bench(pages, texts: list[str], max_chars: int, label: str) -> None:
    """Extraction + BPE split + two fastText models (code, math), per core, against trafilatura + the same.

    Three passes for each side, each over a different third of the pages, so that no pass meets
    a page whose words an earlier pass left in the split's cache (as a long-running worker meets
    new pages with a warm cache of the common words); the best pass counts, so that a burst of
    load from other processes does not decide the figure. The BPE and the models are trained on
    our extraction of the first pages.
    """
    import trafilatura

    from classifiers.recall.model import FastTextParams, RecallModel, train_model
    from classifiers.recall.split import fasttext_lines, train_bpe
    from corpus.commoncrawl.extract import MathCodeExtractor

    splitter = train_bpe(texts[:200], vocab_size=4000, max_chars=max_chars)
    lines = fasttext_lines(splitter, texts)
    half = len(lines) // 2
    with tempfile.TemporaryDirectory() as tmp:
        # paper dims, unquantised: a quantised model (.ftz, FastTextParams' default) scores alike
        # (model.py) but costs ~3.6x the CPU per page to score (product-quantised rows are rebuilt)
        params = FastTextParams(bucket=200_000, quantize=False)
        models = [
            RecallModel(
                train_model(
                    lines[:half], lines[half:], Path(tmp) / f"m{k}", params.model_copy(update={"seed": k})
                )
            )
            for k in range(2)
        ]
        ours = MathCodeExtractor()

        def pipeline(extract, part: int) -> float:
            mine = pages[part::3]
            start = time.process_time()
            batch = []
            for html, _, _ in mine:
                batch.append(extract(html))
                if len(batch) == 256:
                    split = fasttext_lines(splitter, batch)
                    for m in models:
                        m.scores(split)
                    batch = []
            if batch:
                split = fasttext_lines(splitter, batch)
                for m in models:
                    m.scores(split)
            return len(mine) / (time.process_time() - start)

        a = max(pipeline(ours.extract, k) for k in range(3))
        b = max(
            pipeline(lambda h: trafilatura.extract(h, include_formatting=True) or "", k) for k in range(3)
        )
    print(f"  {label}:")
    print(f"    coderforge {a:8.0f}   trafilatura + same scoring {b:8.0f}   ratio {a / b:.1f}x")


if __name__ == "__main__":
    main()
