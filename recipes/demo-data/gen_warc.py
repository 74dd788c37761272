"""Write the demo's Common Crawl sample: three small gzipped WARC files and the recall seed sets.

The pages are written for this project. They cover what the web stages must handle: math with
LaTeX and MathML, code tutorials with <pre>/<code>, ordinary prose, several pages per domain, and
records that must be skipped (non-HTML payloads, 404 and 301 replies). Record ids and dates are
fixed so the files are reproducible.

The third file (CC-DEMO-00002) is the recall loop's crawl: see `write_recall_demo` for how it is
laid out so that iteration 2 finds pages that iteration 1 missed.

    python recipes/demo-data/gen_warc.py   # rewrites commoncrawl/*.warc.gz and recall/*_seed.jsonl
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
OUT = HERE / "commoncrawl"
DATE = "2024-03-01T12:00:00Z"


def page(title: str, body: str, head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
        f"<body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<main><h1>{title}</h1>{body}</main><footer>© Demo site. All rights reserved.</footer></body></html>"
    )


MATHJAX = "<script src='https://cdn.example/mathjax.js'></script>"

MATH_PAGES = {
    "https://mathnotes.example/algebra/quadratic-formula": page(
        "The quadratic formula",
        "<p>Every quadratic equation $ax^2 + bx + c = 0$ with $a \\neq 0$ has the roots</p>"
        "<p>$$x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}.$$</p>"
        "<p>The quantity \\(\\Delta = b^2 - 4ac\\) is the discriminant: when \\(\\Delta > 0\\) there are two "
        "real roots, when \\(\\Delta = 0\\) one double root, and otherwise two complex conjugate roots.</p>"
        "<p>Proof sketch: divide by $a$, complete the square to get $(x + \\frac{b}{2a})^2 = "
        "\\frac{b^2-4ac}{4a^2}$, then take square roots on both sides.</p>",
        MATHJAX,
    ),
    "https://mathnotes.example/algebra/vieta": page(
        "Vieta's formulas",
        "<p>If $r_1$ and $r_2$ are the roots of $x^2 + px + q$, then $r_1 + r_2 = -p$ and $r_1 r_2 = q$.</p>"
        "<p>For a cubic $x^3 + a x^2 + b x + c$ with roots $r_1, r_2, r_3$ we get "
        "$$r_1 + r_2 + r_3 = -a,\\quad r_1r_2 + r_1r_3 + r_2r_3 = b,\\quad r_1r_2r_3 = -c.$$</p>"
        "<p>Exercise: show that the sum of the squares of the roots equals $a^2 - 2b$.</p>",
        MATHJAX,
    ),
    "https://mathnotes.example/calculus/chain-rule": page(
        "The chain rule",
        "<p>For differentiable $f$ and $g$, the derivative of the composition is</p>"
        "<script type='math/tex; mode=display'>(f \\circ g)'(x) = f'(g(x))\\, g'(x)</script>"
        "<p>Example: $\\frac{d}{dx} \\sin(x^2) = 2x \\cos(x^2)$. In Leibniz notation, "
        "$\\frac{dz}{dx} = \\frac{dz}{dy} \\cdot \\frac{dy}{dx}$.</p>",
        MATHJAX,
    ),
    "https://mathnotes.example/number-theory/fermat-little": page(
        "Fermat's little theorem",
        "<p>If $p$ is prime and $p \\nmid a$, then $a^{p-1} \\equiv 1 \\pmod p$.</p>"
        "<p>Consequently $a^p \\equiv a \\pmod p$ for every integer $a$. The theorem gives a quick "
        "probable-prime test: pick $a$ and check whether $a^{n-1} \\bmod n = 1$.</p>",
        MATHJAX,
    ),
    "https://calc-tutor.example/lessons/integrals/power-rule": page(
        "Integrating powers",
        "<p>The power rule for integrals:</p>"
        "<math xmlns='http://www.w3.org/1998/Math/MathML' display='block'><mrow><mo>∫</mo>"
        "<msup><mi>x</mi><mi>n</mi></msup><mi>d</mi><mi>x</mi><mo>=</mo><mfrac><msup><mi>x</mi>"
        "<mrow><mi>n</mi><mo>+</mo><mn>1</mn></mrow></msup><mrow><mi>n</mi><mo>+</mo><mn>1</mn></mrow>"
        "</mfrac><mo>+</mo><mi>C</mi></mrow></math>"
        "<p>valid for every real exponent except minus one, where the antiderivative is the natural log.</p>",
    ),
    "https://calc-tutor.example/lessons/limits/squeeze": page(
        "The squeeze theorem",
        "<p>If <math><mi>g</mi><mo>(</mo><mi>x</mi><mo>)</mo><mo>≤</mo><mi>f</mi><mo>(</mo><mi>x</mi>"
        "<mo>)</mo><mo>≤</mo><mi>h</mi><mo>(</mo><mi>x</mi><mo>)</mo></math> near a point and both outer "
        "functions tend to the same limit L, then f tends to L as well.</p>"
        "<p>Classic use: the limit of <math><mfrac><mrow><mi>sin</mi><mi>x</mi></mrow><mi>x</mi></mfrac>"
        "</math> as x goes to zero equals one.</p>",
    ),
    "https://calc-tutor.example/about": page(
        "About Calc Tutor",
        "<p>Calc Tutor is a small volunteer project that writes short calculus lessons for evening "
        "classes. We meet on Thursdays in the public library.</p>",
    ),
}

CODE_PAGES = {
    "https://pyguide.example/tutorials/list-comprehensions": page(
        "List comprehensions in Python",
        "<p>A list comprehension builds a list from an iterable in one expression:</p>"
        "<pre><code class='language-python'>squares = [n * n for n in range(10)]\n"
        "evens = [n for n in squares if n % 2 == 0]\n"
        "print(evens)  # [0, 4, 16, 36, 64]\n</code></pre>"
        "<p>Nested loops read left to right:</p>"
        "<pre><code>pairs = [(a, b)\n         for a in range(3)\n         for b in range(a)]\n</code></pre>",
    ),
    "https://pyguide.example/tutorials/context-managers": page(
        "Writing context managers",
        "<p>The <code>with</code> statement calls <code>__enter__</code> and <code>__exit__</code>.</p>"
        "<pre><code class='language-python'>from contextlib import contextmanager\n\n"
        "@contextmanager\ndef opened(path):\n    f = open(path)\n    try:\n        yield f\n"
        "    finally:\n        f.close()\n</code></pre>"
        "<p>The code after <code>yield</code> runs even when the block raises.</p>",
    ),
    "https://pyguide.example/tutorials/dataclasses": page(
        "Dataclasses",
        "<pre><code class='language-python'>from dataclasses import dataclass, field\n\n"
        "@dataclass(frozen=True)\nclass Point:\n    x: float\n    y: float\n"
        "    tags: list[str] = field(default_factory=list)\n</code></pre>"
        "<p><code>frozen=True</code> makes instances hashable and immutable.</p>",
    ),
    "https://pyguide.example/blog/conference-recap": page(
        "Our conference recap",
        "<p>We spent three days meeting readers, eating too much pizza and giving away stickers. "
        "Thanks to everyone who stopped by the booth.</p>",
    ),
    "https://rust-cookbook.example/recipes/error-handling": page(
        "Error handling with the question mark operator",
        "<pre><code class='language-rust'>use std::fs;\nuse std::io;\n\n"
        "fn read_config(path: &amp;str) -&gt; Result&lt;String, io::Error&gt; {\n"
        "    let text = fs::read_to_string(path)?;\n    Ok(text.trim().to_owned())\n}\n</code></pre>"
        "<p>The <code>?</code> operator returns early with the error.</p>",
    ),
    "https://rust-cookbook.example/recipes/iterators": page(
        "Iterator adapters",
        "<pre><code class='language-rust'>let total: u64 = (1..=100)\n    .filter(|n| n % 3 == 0)\n"
        "    .map(|n| n * n)\n    .sum();\n</code></pre>"
        "<p>Adapters are lazy: nothing runs until <code>sum</code> consumes the iterator.</p>",
    ),
}

PROSE_PAGES = {
    "https://citynews.example/2024/02/bridge-reopens": page(
        "Old bridge reopens after repairs",
        "<p>The stone bridge over the river reopened on Monday after eight months of repairs. "
        "Cyclists were the first to cross, followed by a small brass band.</p>"
        "<p>The council says the repairs came in under budget thanks to a mild winter.</p>",
    ),
    "https://citynews.example/2024/02/market-hours": page(
        "Farmers' market extends its hours",
        "<p>Starting in March the Saturday market will stay open until three in the afternoon. "
        "Stall holders asked for the change after long queues at the bakery stands.</p>",
    ),
    "https://citynews.example/2024/02/library-night": page(
        "Library hosts a night of board games",
        "<p>More than two hundred people came to the library's first board game night. "
        "Volunteers taught newcomers the rules, and the chess corner stayed busy until midnight.</p>",
    ),
    "https://gardening-blog.example/posts/tomatoes": page(
        "Growing tomatoes on a balcony",
        "<p>Choose a compact variety, a pot of at least twenty litres, and a sunny spot. "
        "Water deeply twice a week rather than a little every day, and pinch out side shoots.</p>",
    ),
    "https://gardening-blog.example/posts/compost": page(
        "Compost without the smell",
        "<p>Mix green kitchen scraps with brown material such as dry leaves or cardboard. "
        "Turn the heap every couple of weeks so air reaches the middle.</p>",
    ),
    "https://gardening-blog.example/posts/winter-herbs": page(
        "Herbs that survive the winter",
        "<p>Rosemary, thyme and sage handle frost well in a sheltered corner. "
        "Parsley keeps going under a cloche, while basil is best grown indoors.</p>",
    ),
}


def write_warc(path: Path, records: list[tuple[str, int, str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, status, content_type, body in records:
            reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}[status]
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            if status == 301:
                headers.append(("Location", url + "/"))
            http = StatusAndHeaders(f"{status} {reason}", headers, protocol="HTTP/1.1")
            record_id = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>"
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Record-ID": record_id, "WARC-Date": DATE},
            )
            writer.write_record(record)


def html(url: str, text: str) -> tuple[str, int, str, bytes]:
    return (url, 200, "text/html; charset=utf-8", text.encode("utf-8"))


def main() -> None:
    write_recall_demo()
    first = [html(u, t) for u, t in list(MATH_PAGES.items())[:4] + list(CODE_PAGES.items())[:3]]
    first += [html(u, t) for u, t in list(PROSE_PAGES.items())[:3]]
    first += [
        ("https://mathnotes.example/files/notes.pdf", 200, "application/pdf", b"%PDF-1.4\n% demo\n"),
        ("https://citynews.example/2024/02/missing", 404, "text/html", b"<html>gone</html>"),
    ]
    second = [html(u, t) for u, t in list(MATH_PAGES.items())[4:] + list(CODE_PAGES.items())[3:]]
    second += [html(u, t) for u, t in list(PROSE_PAGES.items())[3:]]
    second += [
        ("https://pyguide.example/static/logo.png", 200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ("https://rust-cookbook.example/old", 301, "text/html", b""),
    ]
    write_warc(OUT / "CC-DEMO-00000.warc.gz", first)
    write_warc(OUT / "CC-DEMO-00001.warc.gz", second)


# --- the recall loop's demo: a crawl sample where iteration 2 finds what iteration 1 missed -------
#
# Math and code pages come in two vocabularies. "A" pages (algebra and calculus; Python) read like
# the seed sets, so the first classifier recalls them. "B" pages (combinatorics and graph theory;
# SQL and shell) share almost no words with the seed, so iteration 1 misses them. The Q&A sites
# (mathqa.example, devqa.example) hold both kinds under /questions/: enough A pages are recalled
# that each site passes the 10% domain threshold and /questions/ passes the prefix rule, so its
# unrecalled B pages join the seed. Iteration 2 then recalls B pages on other sites too
# (graphnotes.example, sqlcorner.example), which no page of the seed resembled.

RECALL_OUT = HERE / "recall"

ALGEBRA = [
    ("the derivative of $f(x) = x^{n}$ is $f'(x) = n x^{n-1}$", "derivative"),
    ("we integrate by parts: $\\int u\\,dv = uv - \\int v\\,du$", "integral"),
    ("the polynomial $p(x) = x^2 - 5x + 6$ factors as $(x-2)(x-3)$", "polynomial"),
    ("by the quadratic formula the roots are $x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}$", "roots"),
    ("the limit $\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1$ follows from the squeeze theorem", "limit"),
    ("the tangent line at $x_0$ is $y = f(x_0) + f'(x_0)(x - x_0)$", "tangent"),
    ("solve the linear equation $3x + 7 = 22$ to get $x = 5$", "equation"),
    ("the chain rule gives $\\frac{d}{dx} e^{x^2} = 2x e^{x^2}$", "chain rule"),
    ("the definite integral $\\int_0^1 x^2\\,dx = \\frac{1}{3}$", "definite integral"),
    ("a continuous function on $[a,b]$ attains its maximum (extreme value theorem)", "continuity"),
]
ALGEBRA_WORDS = [
    "derivative",
    "integral",
    "polynomial",
    "equation",
    "theorem",
    "proof",
    "limit",
    "function",
    "continuous",
    "differentiable",
    "quadratic",
    "roots",
    "factor",
    "tangent",
    "slope",
    "calculus",
    "algebra",
    "coefficient",
    "antiderivative",
    "substitution",
]
COMBINATORICS = [
    ("the graph has $|V| = 12$ vertices and $|E| = 30$ edges", "graph"),
    ("a proper colouring uses $\\chi(G) \\le \\Delta(G) + 1$ colours", "colouring"),
    ("the number of subsets is $\\binom{n}{k} = \\frac{n!}{k!(n-k)!}$", "binomial"),
    ("by pigeonhole, $n+1$ pigeons in $n$ holes share a hole", "pigeonhole"),
    ("a spanning tree on $n$ vertices has $n-1$ edges", "spanning tree"),
    ("the Catalan numbers satisfy $C_{n+1} = \\sum_{i=0}^{n} C_i C_{n-i}$", "catalan"),
    ("derangements count $D_n = n! \\sum_{k=0}^{n} \\frac{(-1)^k}{k!}$", "derangement"),
    ("Euler's formula for planar graphs: $V - E + F = 2$", "planar"),
    ("the adjacency matrix $A$ counts walks: $(A^k)_{ij}$", "adjacency"),
    ("a bipartite graph has no odd cycle", "bipartite"),
]
COMBINATORICS_WORDS = [
    "vertices",
    "edges",
    "graph",
    "colouring",
    "bipartite",
    "matching",
    "pigeonhole",
    "permutations",
    "combinations",
    "subsets",
    "binomial",
    "catalan",
    "derangement",
    "tree",
    "spanning",
    "planar",
    "adjacency",
    "cycle",
    "path",
    "hamiltonian",
    "eulerian",
]
PYTHON = [
    "def mean(values):\n    total = sum(values)\n    return total / len(values)\n",
    "import json\n\nwith open('config.json') as f:\n    config = json.load(f)\nprint(config['name'])\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.items.append(item)\n",
    "for i, line in enumerate(lines):\n    if line.startswith('#'):\n        continue\n    print(i, line.strip())\n",
    "from collections import Counter\n\ncounts = Counter(words)\nprint(counts.most_common(3))\n",
    "try:\n    value = int(text)\nexcept ValueError:\n    value = None\n",
]
PYTHON_WORDS = [
    "function",
    "variable",
    "list",
    "dictionary",
    "import",
    "module",
    "class",
    "method",
    "return",
    "loop",
    "iterate",
    "exception",
    "python",
    "script",
    "argument",
    "keyword",
    "decorator",
    "generator",
    "comprehension",
    "interpreter",
]
SQL_SHELL = [
    "SELECT customer_id, COUNT(*) AS orders\nFROM orders\nGROUP BY customer_id\nHAVING COUNT(*) > 5;\n",
    "CREATE INDEX idx_orders_date ON orders (created_at);\nEXPLAIN ANALYZE SELECT * FROM orders WHERE created_at > now();\n",
    '#!/bin/sh\nfor f in *.log; do\n  gzip -9 "$f"\ndone\n',
    "find . -name '*.tmp' -mtime +7 -delete\ngrep -rn 'TODO' src/ | wc -l\n",
    "UPDATE accounts SET balance = balance - 100 WHERE id = 42;\nCOMMIT;\n",
    "awk -F, '{ sum += $3 } END { print sum }' sales.csv\nsort -u names.txt > unique.txt\n",
]
SQL_SHELL_WORDS = [
    "query",
    "table",
    "index",
    "join",
    "schema",
    "transaction",
    "commit",
    "rollback",
    "postgres",
    "shell",
    "pipe",
    "grep",
    "awk",
    "sed",
    "cron",
    "terminal",
    "bash",
    "column",
    "row",
    "primary",
    "foreign",
]
PROSE_WORDS = [
    "weather",
    "holiday",
    "recipe",
    "garden",
    "football",
    "village",
    "market",
    "river",
    "festival",
    "travel",
    "coffee",
    "weekend",
    "family",
    "music",
    "museum",
    "concert",
    "bakery",
    "harvest",
    "neighbour",
    "council",
    "mountain",
    "beach",
]
FILLER = [
    "this",
    "page",
    "explains",
    "the",
    "idea",
    "step",
    "by",
    "step",
    "with",
    "a",
    "short",
    "example",
    "and",
    "a",
    "note",
    "on",
    "common",
    "mistakes",
    "readers",
    "asked",
    "about",
    "last",
    "week",
]


def _sentences(rng, words: list[str], n: int) -> str:
    out = []
    for _ in range(n):
        picked = [rng.choice(words) for _ in range(rng.randint(4, 8))]
        glue = rng.sample(FILLER, 5)
        out.append(" ".join(glue[:2] + picked[:3] + glue[2:] + picked[3:]).capitalize() + ".")
    return " ".join(out)


def _math_body(rng, facts, words) -> str:
    parts = []
    for fact, _ in rng.sample(facts, 3):
        parts.append(f"<p>{_sentences(rng, words, 2)} Note that {fact}.</p>")
    return "".join(parts)


def _code_body(rng, snippets, words, lang: str) -> str:
    parts = []
    for snip in rng.sample(snippets, 2):
        code = snip.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts.append(
            f"<p>{_sentences(rng, words, 2)}</p><pre><code class='language-{lang}'>{code}</code></pre>"
        )
    return "".join(parts)


def _prose_body(rng) -> str:
    return "".join(f"<p>{_sentences(rng, PROSE_WORDS, 3)}</p>" for _ in range(2))


def recall_demo_pages() -> list[tuple[str, str]]:
    """(url, html) of the recall demo's pages, in a fixed order."""
    import random

    rng = random.Random(20240301)
    pages: list[tuple[str, str]] = []

    def add(url: str, title: str, body: str) -> None:
        pages.append((url, page(title, body)))

    for i in range(12):
        add(
            f"https://algebra-wiki.example/articles/topic-{i}",
            f"Algebra topic {i}",
            _math_body(rng, ALGEBRA, ALGEBRA_WORDS),
        )
        add(
            f"https://pylearn.example/lessons/lesson-{i}",
            f"Python lesson {i}",
            _code_body(rng, PYTHON, PYTHON_WORDS, "python"),
        )
    for i in range(24):
        if i % 3 == 0:
            add(
                f"https://mathqa.example/questions/{1000 + i}",
                f"Question {1000 + i}",
                _math_body(rng, ALGEBRA, ALGEBRA_WORDS),
            )
            add(
                f"https://devqa.example/questions/{2000 + i}",
                f"Question {2000 + i}",
                _code_body(rng, PYTHON, PYTHON_WORDS, "python"),
            )
        else:
            add(
                f"https://mathqa.example/questions/{1000 + i}",
                f"Question {1000 + i}",
                _math_body(rng, COMBINATORICS, COMBINATORICS_WORDS),
            )
            add(
                f"https://devqa.example/questions/{2000 + i}",
                f"Question {2000 + i}",
                _code_body(rng, SQL_SHELL, SQL_SHELL_WORDS, "sql"),
            )
    for i in range(10):
        add(f"https://mathqa.example/users/member-{i}", f"Member {i}", _prose_body(rng))
        add(f"https://devqa.example/users/member-{i}", f"Member {i}", _prose_body(rng))
    for i in range(10):
        add(
            f"https://graphnotes.example/notes/note-{i}",
            f"Graph note {i}",
            _math_body(rng, COMBINATORICS, COMBINATORICS_WORDS),
        )
        add(
            f"https://sqlcorner.example/posts/post-{i}",
            f"SQL post {i}",
            _code_body(rng, SQL_SHELL, SQL_SHELL_WORDS, "sql"),
        )
    # most of a crawl is neither math nor code, so random negatives are mostly prose
    sites = (
        "dailynews",
        "travelogue",
        "homecooking",
        "sportsdesk",
        "townhall",
        "petcorner",
        "gigguide",
        "hikersclub",
    )
    for site in sites:
        for i in range(50):
            add(f"https://{site}.example/stories/story-{i}", f"{site} story {i}", _prose_body(rng))
    return pages


def write_recall_demo() -> None:
    """The recall demo's WARC file and the two seed sets (which never overlap the WARC pages)."""
    import json
    import random

    write_warc(OUT / "CC-DEMO-00002.warc.gz", [html(u, t) for u, t in recall_demo_pages()])
    rng = random.Random(7)
    RECALL_OUT.mkdir(parents=True, exist_ok=True)
    with open(RECALL_OUT / "math_seed.jsonl", "w", encoding="utf-8") as f:
        for i in range(30):
            text = " ".join(
                f"{_sentences(rng, ALGEBRA_WORDS, 2)} Note that {fact}." for fact, _ in rng.sample(ALGEBRA, 3)
            )
            f.write(json.dumps({"id": f"math-seed-{i}", "text": text}) + "\n")
    with open(RECALL_OUT / "code_seed.jsonl", "w", encoding="utf-8") as f:
        for i in range(30):
            text = "\n".join(f"{_sentences(rng, PYTHON_WORDS, 2)}\n{snip}" for snip in rng.sample(PYTHON, 2))
            f.write(json.dumps({"id": f"code-seed-{i}", "text": text}) + "\n")


if __name__ == "__main__":
    main()
