"""Each DeepSeek-Coder file rule at its boundary: the last value kept and the first value dropped."""

from __future__ import annotations

import pytest

from corpus.core.schema import make_document
from corpus.github.file_rules import DeepSeekFileRules, check, line_stats, visible_text


def lines_of(length: int, count: int) -> str:
    return "\n".join("a" * length for _ in range(count)) + "\n"


def rule(path: str, text: str, language: str | None = None) -> str | None:
    verdict = check(path, text, language)
    return verdict[0] if verdict else None


def test_average_line_length_exactly_100_is_kept_and_just_over_is_dropped() -> None:
    exactly = lines_of(100, 10)
    assert line_stats(exactly)[0] == 100.0
    assert rule("a.txt", exactly) is None
    # one more character anywhere makes the average 100.1
    over = exactly[:-1] + "a\n"
    assert line_stats(over)[0] > 100
    assert rule("a.txt", over) == "avg_line_length"
    # a trailing newline does not start an empty extra line, but a blank line counts as one
    assert line_stats("a" * 100)[0] == 100.0
    assert line_stats("a" * 100 + "\n\n")[0] == 50.0


def test_longest_line_1000_is_kept_and_1001_is_dropped() -> None:
    short = "b\n" * 40  # keeps the average far below 100
    assert rule("a.py", "a" * 1000 + "\n" + short) is None
    assert rule("a.py", "a" * 1001 + "\n" + short) == "max_line_length"


def test_alphabetic_fraction_at_exactly_25_percent() -> None:
    # 100 characters: 25 letters (kept) or 24 (dropped), the rest digits and the newline
    kept = "a" * 25 + "1" * 74 + "\n"
    assert rule("x.txt", kept) is None
    dropped = "a" * 24 + "1" * 75 + "\n"
    assert rule("x.txt", dropped) == "alphabetic_fraction"
    # non-ASCII letters count as alphabetic (str.isalpha)
    assert rule("x.txt", "é" * 25 + "1" * 74 + "\n") is None
    assert rule("x.txt", "é" * 24 + "1" * 75 + "\n") == "alphabetic_fraction"


def test_xml_declaration_in_the_first_100_characters_except_xslt() -> None:
    body = "<root>\n" + "<item>value text</item>\n" * 10 + "</root>\n"
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + body
    assert rule("data.xml", xml) == "xml_declaration"
    assert rule("style.xsl", xml) is None
    assert rule("style.xslt", xml) is None
    assert rule("style.any", xml, language="XSLT") is None
    # the declaration starting at character 100 is outside the window; at 86 it is inside
    pad = "<!--" + "a" * 92 + "-->\n"
    assert len(pad) == 100
    assert rule("data.xml", pad + '<?xml version="1.0"?>\n' + body) is None
    assert rule("data.xml", pad[:86] + '<?xml version="1.0"?>\n' + body) == "xml_declaration"


def filler(n: int, width: int = 60) -> str:
    """`n` characters of short lines of letters (passes the line and alphabetic rules)."""
    line = "x" * (width - 1) + "\n"
    text = line * (n // width)
    return text + "y" * (n - len(text))


def _html(visible: int, total: int) -> str:
    """An HTML file of `total` characters with exactly `visible` visible characters."""
    words = "\n".join("w" * 50 for _ in range(visible // 51)) + "\n"
    words += "w" * (visible - len(words))
    page = f"<html>\n<body>\n<script>\n</script>\n<p>{words}</p>\n</body>\n</html>\n"
    page = page.replace("<script>\n", "<script>\n" + filler(total - len(page)))
    assert len(page) == total
    return page


def test_html_visible_text_share_and_length_limits() -> None:
    at_limit = _html(100, 500)  # 100 visible of 500: exactly 20% and exactly 100 characters
    assert len(visible_text(at_limit)) == 100
    assert rule("index.html", at_limit) is None
    assert rule("index.html", _html(100, 501)) == "html_visible_text"  # 100 / 501 < 20%
    assert rule("index.html", _html(99, 300)) == "html_visible_text"  # under 100 characters
    assert rule("index.htm", _html(200, 1000)) is None
    assert rule("index.htm", _html(200, 1001)) == "html_visible_text"
    # scripts, styles and comments are not visible; entities count as one character
    assert visible_text("<style>p{}</style><!-- c --><p>a &amp; b</p>") == "a & b"


@pytest.mark.parametrize(
    ("size", "kept"), [(49, False), (50, True), (5000, True), (5001, False)], ids=lambda v: str(v)
)
def test_json_and_yaml_size_limits(size: int, kept: bool) -> None:
    for path, make in (
        ("config.json", lambda n: '{"key": "' + filler(n - 12).replace("\n", " ") + '"}\n'),
        ("config.yaml", lambda n: "key: |\n" + filler(n - 7)),
    ):
        text = make(size)
        if path.endswith(".json"):  # wrap the value: long lines would trip the line-length rules
            text = text.replace("x ", "x\n")
        assert len(text) == size
        assert (rule(path, text) is None) is kept, (path, size, check(path, text))
    # a .txt file of the same size is not subject to the rule
    assert rule("notes.txt", "word " * 9 + "word\n") is None


def test_kind_comes_from_the_language_tag_or_else_the_extension() -> None:
    small = '{"name": "value"}\n'
    assert rule("data", small, language="JSON") == "json_yaml_size"
    assert rule("data", small) is None
    assert rule("data.json", small) == "json_yaml_size"
    assert rule("data.yml", small, language="YAML") == "json_yaml_size"


def test_step_records_each_drop_with_its_rule(tmp_path) -> None:
    docs = [
        make_document(
            "github:o/r/ok.py", "def f():\n    return 1\n", "github", "code", path="ok.py", kind="code"
        ),
        make_document("github:o/r/long.py", "x" * 1001 + "\n", "github", "code", path="long.py", kind="code"),
        make_document(
            "github:o/r/a.json", '{"name": "value"}\n', "github", "code", path="a.json", kind="code"
        ),
        make_document(
            "github:o/r/README.md", "=" * 30 + "\n", "github", "code", path="README.md", kind="text"
        ),
    ]
    step = DeepSeekFileRules()
    step.bind_stage(str(tmp_path / "stage"), "github/files")
    kept = [d.id for d in step.run(iter(docs), 0, 1)]
    assert kept == ["github:o/r/ok.py"]
    import pyarrow.parquet as pq

    drops = pq.read_table(tmp_path / "stage" / "drops" / "deepseek-file-rules" / "00000.parquet").to_pylist()
    assert [(d["id"], d["reason"]) for d in drops] == [
        ("github:o/r/long.py", "avg_line_length"),
        ("github:o/r/a.json", "json_yaml_size"),
        ("github:o/r/README.md", "alphabetic_fraction"),
    ]
    assert all(d["stage"] == "github/files:deepseek-file-rules" for d in drops)
    # code-only checking leaves text alone
    only_code = DeepSeekFileRules(kinds=("code",))
    assert "github:o/r/README.md" in [d.id for d in only_code.run(iter(docs), 0, 1)]


def reference_check(path: str, text: str, language: str | None = None) -> str | None:
    """The rules written the obvious way with Python string methods, to hold `check` to."""
    from corpus.github.file_rules import file_kind

    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    if sum(map(len, lines)) / len(lines) > 100:
        return "avg_line_length"
    if max(map(len, lines)) > 1000:
        return "max_line_length"
    if sum(c.isalpha() for c in text) < 0.25 * len(text):
        return "alphabetic_fraction"
    kind = file_kind(path, language)
    if kind != "xslt" and "<?xml version=" in text[:100]:
        return "xml_declaration"
    if kind == "html":
        visible = len(visible_text(text))
        return "html_visible_text" if visible < 100 or visible < 0.2 * len(text) else None
    if kind in ("json", "yaml") and not 50 <= len(text) <= 5000:
        return "json_yaml_size"
    return None


def test_fast_check_agrees_with_the_plain_definition_on_random_text() -> None:
    import random

    rng = random.Random(11)
    alphabets = ["abcXYZ", "0123456789 ", "éßж中", "€①²—", "\n", "\t\r"]
    for i in range(400):
        weights = [rng.random() for _ in alphabets]
        chars = "".join(rng.choices(alphabets, weights)[0] for _ in range(30))
        n = rng.choice([5, 60, 400, 1200, 3000, 5100, 9000, 20000])
        text = "".join(rng.choice(chars) for _ in range(n))
        if i % 5 == 0:  # long lines of multi-byte characters: over 1000 bytes, not characters
            text = "中" * rng.choice([999, 1000, 1001]) + "\n" + "ab\n" * rng.choice([400, 4000])
        if i % 7 == 0:
            text = text.rstrip("\n") + "\n"
        path = rng.choice(["a.py", "a.json", "a.yml", "a.html", "a.xsl"])
        expected = reference_check(path, text)
        got = check(path, text)
        assert (got[0] if got else None) == expected, (i, path, text[:80])


def test_alphabetic_bar_on_a_big_file_with_the_letters_at_the_end() -> None:
    digits = ("1" * 49 + "\n") * 1500  # 75,000 characters, no letters
    letters = ("a" * 49 + "\n") * 500  # 25,000 characters, 24,500 letters
    assert rule("big.txt", digits + letters) == "alphabetic_fraction"  # 24.5%
    assert rule("big.txt", digits[:-1000] + letters + "b" * 500 + "\n") is None  # above 25%


def test_long_line_probe_matches_splitting() -> None:
    import random

    from corpus.github.file_rules import _has_line_longer_than

    rng = random.Random(5)
    for _ in range(300):
        lengths = [rng.choice([0, 1, 50, 999, 1000, 1001, 1002, 2500]) for _ in range(rng.randrange(1, 8))]
        text = "\n".join("x" * k for k in lengths) + rng.choice(["", "\n"])
        assert _has_line_longer_than(text, 1000) == (max(map(len, text.split("\n"))) > 1000), lengths


def test_alphabetic_count_is_str_isalpha_for_any_code_point() -> None:
    import random

    from corpus.github.file_rules import alphabetic_count

    rng = random.Random(3)
    samples = ["", "abc", "é日x1", "😀a𐐀", "a\udc80b", "ǅ ʰ ⅷ 〆"]  # astral, lone surrogate, Lt/Lm/Nl/Lo
    for _ in range(200):
        top = rng.choice([0x80, 0x800, 0x10000, 0x110000])
        samples.append("".join(chr(rng.randrange(top)) for _ in range(rng.randrange(1, 300))))
    for text in samples:
        assert alphabetic_count(text) == sum(c.isalpha() for c in text), text[:40]


def test_extension_shortcuts_agree_with_posixpath() -> None:
    """`file_kind` and `is_code_text` skip `posixpath.splitext` where they can; on odd names
    (leading dots, case, letters whose lower case is longer) they answer as it would."""
    import posixpath
    import random

    from corpus.github.file_rules import _KIND_BY_EXT, file_kind
    from corpus.github.repo_reader import TEXT_EXTENSIONS, TEXT_NAMES, is_code_text

    def plain_text(path: str) -> bool:
        stem, ext = posixpath.splitext(posixpath.basename(path).lower())
        return ext in TEXT_EXTENSIONS or (ext == "" and stem in TEXT_NAMES)

    rng = random.Random(2)
    parts = ["a", "README", "readme", ".", "..", "md", ".md", ".MD", "x.txt", "/", "İ", "K", "ſ", "json"]
    parts += [".JSON", "html", ".xhtml", ".htm", "yml", "changelog", "Todo", ".YAML", ".Xsl"]
    paths = ["", ".md", "..md", "a/.md", "a/..md", "a/readme.", "x.Md", "y.XHTML", "a/.json", "z.İ.md"]
    paths += ["".join(rng.choice(parts) for _ in range(rng.randrange(1, 6))) for _ in range(20000)]
    for path in paths:
        assert file_kind(path) == _KIND_BY_EXT.get(posixpath.splitext(path)[1].lower()), path
        assert is_code_text(path) == plain_text(path), path
