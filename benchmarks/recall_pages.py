"""Labelled pages for the recall benchmark: documentation of mathematics and software packages and
prose that is about neither, from pinned Debian packages.

    .venv/bin/python benchmarks/recall_pages.py            # fetch into the cache, print the counts

Classes and where their pages come from (each package wholly on one side of the split):

| class   | train packages                                   | test packages                                  |
|---------|--------------------------------------------------|------------------------------------------------|
| math    | maxima-doc (manual), gap-doc (reference, tutorial) | python-mpmath-doc, libflint-arb-doc, python-cvxopt-doc |
| code    | Pallets docs: flask, werkzeug, jinja2, click     | celery, cryptography, requests-toolbelt docs   |
| neither | fortunes (the non-technical files)               | fortune-anarchism, display-dhammapada          |

Math pages are the HTML manual pages of computer-algebra and numerical-mathematics libraries
(special functions, group theory, convex optimisation): formulas in running text, with some API.
Code pages are the Sphinx HTML of Python software libraries. The Pallets projects share a
vocabulary (flask uses werkzeug, jinja2 and click), so they all sit in training. Negatives are
real English prose that is neither code nor mathematics: quotations, aphorisms, humour, politics,
and two translations of a Buddhist scripture. Why these: a fair negative is text a crawl is full
of and a recall model must reject, not a near-duplicate of code; licences and manuals of software
were rejected (they are *about* software, so labelling them "neither" would punish a correct
code model), and the fortune files about computers, Linux, Debian, Perl, science and logic
(`computers`, `linux`, `linuxcookie`, `debian`, `perl`, `science`, `goedel`, `paradoxum`, ...)
are left out for the same reason. Prose is cut into pages of about 2,500 characters and wrapped
in minimal HTML (a title and one `<p>` per entry), so both extractors read every page as HTML.

Each .deb is fetched with `apt-get download`, its sha256 checked against the pin, and cached in
`~/.cache/coderforge/recall-pages` (or `$CODERFORGE_RECALL_PAGES`), reusing the real-code fetcher
(`tests/realdata/fetch.py`). Pages per package are capped (`MAX_PAGES`) by a seeded hash of their
path, so the set is the same on every machine.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.realdata.fetch import FetchError, download, read_source
from tests.realdata.packages import Package

CACHE_ENV = "CODERFORGE_RECALL_PAGES"
DEFAULT_CACHE = "~/.cache/coderforge/recall-pages"
#: pages kept per package at most (a seeded sample), so no package dominates its class
MAX_PAGES = 60
#: prose is cut into pages of about this many characters
PROSE_PAGE_CHARS = 2_500


@dataclass(frozen=True)
class Source:
    """One pinned package and which of its files are pages of which class."""

    package: Package
    label: str  # math | code | neither
    split: str  # train | test
    pattern: str  # regular expression on the path inside the package
    kind: str = "html"  # html | fortunes | paragraphs


def _deb(name: str, version: str, sha256: str) -> Package:
    return Package("debian", name, version, sha256, f"debian/{name}", (), "")


_SPHINX_SKIP = r"(?!.*/(genindex|search|py-modindex|index|copyright)\.html$)(?!.*/_(static|sources|modules)/)"
_FORTUNE_FILES = (
    "art|drugs|education|ethnic|food|humorists|kids|law|love|magic|medicine|men-women|miscellaneous|"
    "news|people|pets|platitudes|politics|pratchett|songs-poems|sports|startrek|tao|wisdom|work"
)

SOURCES: tuple[Source, ...] = (
    Source(
        _deb("maxima-doc", "5.46.0-11", "01a726b693a7e465a62040ac5ade4762194d7553524231d77cd1fcd4a69a75b9"),
        "math",
        "train",
        r"^share/doc/maxima-doc/html/maxima_\d+\.html$",
    ),
    Source(
        _deb("gap-doc", "4.12.1-2", "ceaaee8ae7870d71353d7846ac39575a9a32f87b36928b8037139a54938bd7ab"),
        "math",
        "train",
        r"^share/gap/doc/(ref|tut)/chap\d+\.html$",
    ),
    Source(
        _deb(
            "python-mpmath-doc", "1.2.1-2", "3895ea83b1edc71fae2a4be29522b9dd28daf6aad5293a2249d46742ffbbfeed"
        ),
        "math",
        "test",
        _SPHINX_SKIP + r"^share/doc/python-mpmath-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "libflint-arb-doc",
            "1:2.23.0-1",
            "44b535ba09929d199e1cb525fd0eef54fc83cce3b09b8355cd6bbef9594e03c9",
        ),
        "math",
        "test",
        _SPHINX_SKIP + r"^share/doc/libflint-arb-dev/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-cvxopt-doc",
            "1.3.0+dfsg-1",
            "609f44ca5057756c1892a37c2c0bb6aef91162749ae9998b09637033c22c3803",
        ),
        "math",
        "test",
        _SPHINX_SKIP + r"^share/doc/python-cvxopt-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-flask-doc", "2.2.2-3", "0659f6a04b15fe3f907150cadc0399fe987c790e722e001b73f7e49fa5ecca15"
        ),
        "code",
        "train",
        _SPHINX_SKIP + r"^share/doc/python-flask-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-werkzeug-doc",
            "2.2.2-3+deb12u1",
            "5aeffdfdf257911e3ade253d2b6cc3f98a06df3bec1332efdbc3fbd578530230",
        ),
        "code",
        "train",
        _SPHINX_SKIP + r"^share/doc/python-werkzeug-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-jinja2-doc",
            "3.1.2-1+deb12u3",
            "97b16e94881ccedd65c2b3b100497785089a4981cbcffcb03347e27b3d247931",
        ),
        "code",
        "train",
        _SPHINX_SKIP + r"^share/doc/python-jinja2-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-click-doc", "8.1.3-2", "066092b0299a04c2588e5f2e9dc37a8d8ed7a4c4eeb7cd3175ebfcfce24a8943"
        ),
        "code",
        "train",
        _SPHINX_SKIP + r"^share/doc/python-click-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-celery-doc", "5.2.6-5", "820d22b28d4f15c08305e21dbb04bdc626e3f6d3f2ec0c295d56e070febd7dc4"
        ),
        "code",
        "test",
        _SPHINX_SKIP + r"^share/doc/python-celery-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-cryptography-doc",
            "38.0.4-3+deb12u1",
            "435ad611f45a9d01dbafbcd046cb134dded31c39b1587ca24ec87f54f1250a35",
        ),
        "code",
        "test",
        _SPHINX_SKIP + r"^share/doc/python-cryptography-doc/html/.+\.html$",
    ),
    Source(
        _deb(
            "python-requests-toolbelt-doc",
            "0.10.1-1",
            "c154237ef0bfb4a7241800a2e7d3e91383e85a35c8f71906b9e80e2893a0f5e7",
        ),
        "code",
        "test",
        _SPHINX_SKIP + r"^share/doc/python-requests-toolbelt-doc/html/.+\.html$",
    ),
    Source(
        _deb("fortunes", "1:1.99.1-7.3", "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"),
        "neither",
        "train",
        rf"^share/games/fortunes/({_FORTUNE_FILES})$",
        "fortunes",
    ),
    Source(
        _deb(
            "fortune-anarchism", "1.8.0-1", "836841db3fddf68b139c8e50a906a89ce44727584cf829dd504b0ef4b7bd3efa"
        ),
        "neither",
        "test",
        r"^share/games/fortunes/anarchism$",
        "fortunes",
    ),
    Source(
        _deb(
            "display-dhammapada",
            "1.0-0.1+b1",
            "a264c82ad7a09495dc55e07e799c63e7202444be6c4660debf130f982be8dc9d",
        ),
        "neither",
        "test",
        r"^share/display-dhammapada/dhammapada-(english-transl|alternate)\.txt$",
        "paragraphs",
    ),
)


@dataclass(frozen=True)
class Page:
    package: str
    label: str
    split: str
    path: str
    html: str


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def _prose_pages(title: str, entries: list[str]) -> list[str]:
    """Entries grouped into pages of about `PROSE_PAGE_CHARS`, each a minimal HTML document."""
    pages: list[list[str]] = [[]]
    size = 0
    for entry in entries:
        if size >= PROSE_PAGE_CHARS:
            pages.append([])
            size = 0
        pages[-1].append(entry)
        size += len(entry)
    out = []
    for i, group in enumerate(p for p in pages if p):
        body = "\n".join(f"<p>{html.escape(e)}</p>" for e in group)
        out.append(
            f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)} ({i + 1})</title></head>"
            f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
        )
    return out


def _entries(text: str, kind: str) -> list[str]:
    parts = re.split(r"^%\s*$", text, flags=re.M) if kind == "fortunes" else re.split(r"\n\s*\n", text)
    return [p.strip() for p in parts if len(p.strip()) > 20]


def _sample_key(path: str) -> str:
    return hashlib.sha1(f"recall-pages\x00{path}".encode()).hexdigest()


def source_pages(source: Source, cache: Path) -> list[Page]:
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    deb = download(source.package, downloads)
    files = read_source(source.package, deb)
    rule = re.compile(source.pattern)
    pages: list[tuple[str, str]] = []
    for path in sorted(files):
        if not rule.search(path):
            continue
        text = files[path][0].decode("utf-8", errors="replace")
        if source.kind == "html":
            pages.append((path, text))
        else:
            title = path.rsplit("/", 1)[-1]
            for i, page in enumerate(_prose_pages(title, _entries(text, source.kind))):
                pages.append((f"{path}#{i + 1}", page))
    pages.sort(key=lambda p: _sample_key(p[0]))
    return [
        Page(source.package.name, source.label, source.split, path, text) for path, text in pages[:MAX_PAGES]
    ]


def load_pages(cache: Path | None = None) -> list[Page]:
    """Every labelled page, fetching what the cache lacks (a failure is one line, exit 1)."""
    cache = cache or cache_dir()
    out: list[Page] = []
    for source in SOURCES:
        out.extend(source_pages(source, cache))
    return out


def main() -> int:
    try:
        pages = load_pages()
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    counts: dict[tuple[str, str, str], int] = {}
    for p in pages:
        counts[(p.split, p.label, p.package)] = counts.get((p.split, p.label, p.package), 0) + 1
    for (split, label, package), n in sorted(counts.items()):
        print(f"{split:5} {label:7} {package:30} {n:4} pages")
    print(f"{len(pages)} pages in {cache_dir()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
