"""Real code in many languages for training and judging content-only language ID, from pinned
Debian source packages, each package wholly on one side of the split.

    .venv/bin/python benchmarks/langid_corpus.py            # fetch into the cache, lay out, print counts

Debian's source archive holds the published releases of thousands of projects in most of the
DeepSeek languages (Haskell, OCaml, the Lisps and Schemes, Erlang, Elixir, R, Fortran, Ada, D,
Pascal, Vala, Tcl, ...). Each pin names a source package, its version and the sha256 of its
`.dsc`; apt checks the tarballs against the `.dsc`, and the `.dsc` is checked against the pin.
The fetch uses apt with a private list of `deb-src` entries made from the machine's own sources
(nothing in /etc is changed) and caches in `~/.cache/coderforge/langid-corpus` (or
`$CODERFORGE_LANGID_CORPUS`); nothing of it lives in the repository.

A file's label is the language its *name* decides (the extension or file name, linguist's
heuristics for `.h .pl .v .m ...`): `detect(name, content, model=None)`, kept only when the rules
decided alone and the language is one of the 338. Files under test-data, vendored and generated
folders are left out; so are contents seen in another package (test files that also sit in a
training package are dropped from the test side), and test files whose contents a package
installed on this machine holds (`installed_digests`: the first-stage model also trains on the
machine's /usr, where zlib's headers and Tk's library scripts are). Each package gives at most
`TRAIN_CAP` / `TEST_CAP` files per language (a seeded hash of the path picks them), so one huge
package does not speak for its language.

Where Debian has one package only for a language (Racket, Crystal, Nim, Kotlin, Scala, Haxe,
Agda, Elixir, Smalltalk-like cases), that package is split by sub-project instead: its
top-level component folders (Racket's `share/pkgs/<pkg>`, Crystal's `src/<module>`) go wholly to
one side by a seeded hash. Such languages are marked `sub-project split` in the report: their
test files come from the same release, though never from a folder the model saw.

Layout: `<cache>/layout/{train,test}/<Label>/<package>__<path with / as __>`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.langid.identify import detect
from classifiers.langid.rules import load_table
from classifiers.langid.sniff import is_binary
from tests.realdata.fetch import FetchError, download, read_source, sha256_file
from tests.realdata.packages import Package

CACHE_ENV = "CODERFORGE_LANGID_CORPUS"
DEFAULT_CACHE = "~/.cache/coderforge/langid-corpus"
TRAIN_CAP = 250
TEST_CAP = 80
MAX_FILE_BYTES = 512 * 1024
MIN_FILE_BYTES = 64
#: folders whose files are not the project's own code (fixtures, vendored copies, outputs)
SKIP_DIR = re.compile(
    r"(^|/)(\.git|\.pc|debian|vendor|vendored|third[-_]?party|3rdparty|node_modules|bower_components|"
    r"test[-_]?data|testdata|fixtures?|examples?/data|dist|build|generated|gen|expected|"
    r"__snapshots__)(/|$)",
    re.I,
)


class CorpusError(Exception):
    """A one-line reason the corpus could not be made."""


@dataclass(frozen=True)
class Src:
    """One pinned package. `split`: train, test, or `subproject` (see the module doc), where
    `depth` path components below `under` name the sub-project. Paths are below a source
    tarball's top folder, or below `/usr/` in a binary package."""

    kind: str  # "src": a source package (its .dsc pinned); "deb": a binary package (the .deb pinned)
    name: str
    version: str
    sha256: str
    split: str
    depth: int = 0
    under: str = ""  # only files below this folder of the tarball (after its top folder)
    #: where set, the only languages this package gives: linguist's rules label Free Pascal's
    #: `.inc` and `.pp` files Assembly and Puppet, and Tcl's `.inc` files Assembly
    langs: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9._+-]", "_", f"{self.name}_{self.version}")


# fmt: off
SOURCES: tuple[Src, ...] = (
    # Haskell
    Src("src", "xmonad-contrib", "0.17.1-1", "a82417d5defd3e14409ad9a5230cca16b1564dc8c7230376373ac2ce988edb2e", "train"),
    Src("src", "pandoc", "2.17.1.1-2~deb12u1", "00ec7d8d12f2e62af4645dc784590f332cc242ae4fa0147c74691c45e83d13b1", "train"),
    Src("src", "hledger", "1.25-2", "be977f6aa61b014809a61b81555ad38e7de208d707c608bb1d09cb25afc1b13b", "test"),
    Src("src", "xmonad", "0.17.1-1", "e60068900379956859b599d25707bd8aa9308d110cea54850451793e74c5e958", "test"),
    Src("deb", "agda-stdlib", "1.7.1-1", "a1649482c2fa4c5c53b0a0eb7fa80f567364dd490bc4f8cd9efbcfdc0d88b00d", "subproject", depth=1, under='share/agda-stdlib'),
    # Lisps
    Src("deb", "sbcl-source", "2:2.2.9-1", "908656efc0892047dba4f32bddd38388cd4f590c2e149c90f757afc97388cd38", "train"),
    Src("deb", "maxima-src", "5.46.0-11", "f8a06f7c5b82a21e7cd82842808423e1d72bc6661937ec87fabe56cc419f095c", "train"),
    Src("deb", "cl-ppcre", "20220126.gitb4056c5-1", "65921437d89216135ebe0bf2380260b6eb5d19840eeb63cb240bd11610995264", "test"),
    Src("deb", "cl-alexandria", "20211025.gita67c3a6-1", "032e9fde718f9b2aac5bb2c64a39502a949694ad1a995b00c1862ed231271214", "test"),
    Src("deb", "stumpwm", "2:22.11-3", "543f6a8fdac8a5dd1446a9c1f5c6067b405c07f3c23e332cf4bc8faf8429ed94", "test"),
    Src("deb", "slime", "2:2.27+dfsg-1", "0410d56569a9a5d0dcad1f30b8a82db8586bdd5c3b09032e2830fd1bebae0ced", "test"),
    Src("deb", "elpa-magit", "3.3.0-2", "ea02299136e499f5c4aa57a0794212764e161f36f21e9e350b90ef17487e5ab4", "train"),
    Src("deb", "emacs-el", "1:28.2+1-15+deb12u4", "d07939c0e5b9f150211f5bcf85fb37f812a3710f1ec1e74a6237d12e3bade559", "train"),
    Src("deb", "elpa-company", "0.9.13-2", "a24e3af70f2d690146ccf560049e1ad5b7892ac121c7811c807c4558ef1712ab", "test"),
    Src("deb", "elpa-haskell-mode", "17.2-5", "22a0efb02d1875ccce07f82e58c22943c6f36c4037e83ab9790d2e6b4228c936", "test"),
    Src("deb", "elpa-projectile", "2.7.0-2", "d255ffd5fcb3e2b5e5ec6082582ade744b175531ac57c9025cac748e55098e64", "test"),
    Src("deb", "elpa-markdown-mode", "2.5-1", "c9f9758a4f49b034eedd00697085b6ccb2220d962ae21283077b3d474a0032e4", "test"),
    Src("deb", "leiningen", "2.10.0-2", "71b62a03c490c56f62e8eb6865363012b0bf8c37f35730a80c1dddd4817b22b5", "train"),
    Src("deb", "libtools-reader-clojure", "1.3.6-1", "8364b456ea76f6e57ab7213708f2e4b0131f9842a43bdfea2e663162792e75b3", "test"),
    Src("deb", "guile-3.0-libs", "3.0.8-2", "440dd5572ec396b38e6cdf3510026d3bc558027ba5d7d3992aff66d7d3c3ad4e", "subproject", depth=1, under='share/guile/3.0'),
    Src("src", "racket", "8.7+dfsg1-1", "5caa103f068eafc43e8766f38e119996273d7ca5481a8ca32b44d0a96ec10433", "subproject", depth=3, under='share/pkgs'),
    # ML family and provers
    Src("src", "ocaml", "4.13.1-4", "5f41728483f9d233ed146af2f2f44066e01900ca791554d0b176c904d173ea02", "train"),
    Src("src", "ocaml-batteries", "3.6.0-1", "6e154f6b7c4c83e032b067624e4a07f7e62498e4dbf84f61a1eb6171e4835ee2", "train"),
    Src("src", "why3", "1.5.1-1", "13bb1472b31f8429850624af63ceb772c0161449b889dfb9c7cea62df666da97", "test"),
    Src("src", "ocaml-re", "1.10.4-1", "f14e5efa67ecc9c5ca19f9a9b5fe6f2f78b058ed6ff9bb5b169e91ecf347784f", "test"),
    Src("src", "polyml", "5.7.1-5", "d3fa0c24e27f020ae96aca32de6046751e82334011461adc50e20e8e9b6732d2", "train", langs=("Standard ML",)),
    Src("deb", "smlnj", "110.79-8", "b5134b3c2cf2660266042893f81284283f7b61c845eca604bdcd31e5524f8220", "test", langs=("Standard ML",)),
    # Erlang VM
    Src("deb", "erlang-src", "1:25.2.3+dfsg-1+deb12u4", "52fc8fbd533e0d094514ba54ff7b7a3244b2cf02a4905cf36dfeccb346d3479b", "subproject", depth=1, under='lib/erlang/lib'),
    Src("src", "elixir", "1.14.0.dfsg-2", "c5129173d25c498479c680a1f680fadfdcf14cb4adc7b1c1842046ff2ef19363", "subproject", depth=1, under='lib'),
    Src("src", "rabbitmq-server", "3.10.8-1.1+deb12u1", "9970b73e2083332cc4dbb1ee50dbd2bb5c6a87540658794130311f8b5fb92c6c", "test", under='deps/rabbitmq_cli'),
    # Ruby and Crystal
    Src("src", "rails", "2:6.1.7.10+dfsg-1~deb12u2", "872dee504398e45d58c1e813bd4650c4c256bf49ae70410ef91c56e34f08f952", "train"),
    Src("deb", "ruby-rack", "2.2.22-0+deb12u2", "7ba26a66f6981b48ac604c9b829de51bdfc5d5ec8f329cf823b0aab72f718354", "test"),
    Src("deb", "ruby-sequel", "5.63.0-1", "2aa39e0a84fd91a802f28223e8146d5d43d9f742e5d6e33c13381edc28a42d85", "test"),
    Src("deb", "crystal", "1.6.0+dfsg-3", "7d57ba98720f135dfbc75678d66cad40bd63c3880743b9f99182251229c34fc7", "subproject", depth=1, under='lib/crystal/lib'),
    # JavaScript and TypeScript
    Src("src", "node-webpack", "5.75.0+dfsg+~cs17.16.14-1+deb12u1", "be618f638b3f211282bd237deceb8c5a03887c99ac3dcb36468468feb54f0f87", "train"),
    Src("deb", "node-lodash", "4.17.21+dfsg+~cs8.31.198.20210220-9+deb12u1", "fc4ec366e6d88f86afb2ca4f5a9a31031899e9d4524e8041ca17ff0057d62a66", "test"),
    Src("deb", "node-acorn", "8.8.1+ds+~cs25.17.7-2", "5c6814cf6536892b3a93cc72a0a3792beb0d3f6be3d69f499ca7d764583479a9", "test"),
    Src("src", "node-typescript", "4.8.4+ds1-2", "394e0f3b8396b30cafbb07ce39e9389afe5c57997f3ed37e14f3415cfe08cdcf", "subproject", depth=2, under='src'),
    # JVM
    Src("src", "guava-libraries", "31.1-1", "f5d8177e4d621ddc61532078eeca0c24245bc5c3681a9d0a5945a3fad4a407bf", "train"),
    Src("src", "junit4", "4.13.2-3", "5fd9af03415b5d706a7a5c433a59b840444874c042be76a54f9e744b1e5c4a7a", "test"),
    Src("src", "kotlin", "1.3.31+ds1-1", "d75c559c8aba745d8a0a91e34eb5d170a5d47174a1e93275652925fe24a948d1", "subproject", depth=2),
    Src("src", "scala", "2.11.12-5", "a2e8a3891dd3f6f00f8421e0d7e384494f88615d9e333ca27d59fd0a428d1068", "subproject", depth=3, under='src'),
    Src("src", "groovy", "2.4.21-8", "f4004651ab59e9fb2abf4e941d8764e6323206ee8b305e2aa1678649dcb59697", "subproject", depth=1, under='src'),
    Src("src", "gradle", "4.4.1-18", "23bc48ae57f85c4cbe50af88c3222344f2ef1882b6f70669bd7628335439e84a", "test", under='subprojects'),
    # systems
    Src("deb", "golang-github-spf13-pflag-dev", "1.0.6~git20210604-d5e0c0615ace-1", "bd1c3c2a3e47512a64da02ebea900eb5a3f3c5d386e559d5718a3a935c0ea570", "train"),
    Src("src", "golang-github-spf13-cobra", "1.6.1-1", "ced0276a694c0c1c7ed075085056f6fcb9f72fc7fb293d9da10c6183c04651c9", "test"),
    Src("deb", "librust-regex-dev", "1.7.1-1", "9b8c87bb5aa87c0095f4cc36ed829c80e815c2f71337325bd6e25f8de1fba7f7", "train"),
    Src("deb", "librust-serde-dev", "1.0.152-2", "c3ff1f1db5056118a102a6b06043cea152bf0b63e96fd71a16e9c827959fcc78", "train"),
    Src("src", "ripgrep", "13.0.0-4", "a6c86dd6e0a0693f9aa44a9b5412d33111ecf14a0acbc237580f05ef96890577", "test"),
    Src("deb", "librust-memchr-dev", "2.5.0-1", "9b0f9497acbf8d8e706181a248a31624c6215ce86353a972d19d0cf0252f4183", "test"),
    Src("src", "curl", "7.88.1-10+deb12u15", "2744f12e3aef161c0361743fa1b318296b122e566e47f381e4a63320fbcc23f4", "train", langs=("C",)),
    Src("src", "zlib", "1:1.2.13.dfsg-1", "3fa1e6b2fc525062aa88207dda52fed8e045373c809d362fe8a2bfbf7cf515a8", "test", langs=("C",)),
    Src("src", "verilator", "5.006-3", "70ccc8d6384d88bfd38a2261fd226932ccbff1ecb746f61b34f65e4ef93b14c8", "subproject", depth=2, langs=("C++", "Verilog", "SystemVerilog")),
    Src("src", "nim", "1.6.10-2", "db430b40e64baf194e273220652759f4437f71c656f0f107e64d80517868230f", "subproject", depth=2, under='lib'),
    Src("src", "fpc", "3.2.2+dfsg-20", "df0fc20269ac443fc94a0fd35c20294fc771991992f690bbbdde2cead46ef068", "subproject", depth=2, under='fpcsrc', langs=("Pascal",)),
    Src("src", "vala", "0.56.3-1", "6fd9a7aef28380b15e1944b9f9f934be139ea270882348b257dce5e472a1032d", "subproject", depth=1),
    Src("src", "gnustep-base", "1.28.1+really1.28.0-5", "f12505332c1331c31ddef07fb06a4e4b1007c3cda6756052127d4576d75f9b7d", "train", langs=("Objective-C",)),
    Src("src", "sogo", "5.8.0-2+deb12u3", "7bba4329203b4ca90843633f2a9dfe180363a96ca7333c8e5c226671411103b5", "test", langs=("Objective-C",)),
    Src("src", "keepass2", "2.47+dfsg-2", "9d138fdfecbf5df681b2c2c3ec49991ee5ed7f1b90b7b9bb800bc05f35c16d29", "test"),
    Src("deb", "haxe", "1:4.2.5-1", "e26f24dd096dcc73536f2ea485cf577b3f8a948233944cfac098aa88d72a2756", "subproject", depth=2, under='share/haxe/std'),
    Src("src", "lapack", "3.11.0-2", "664d828b9015f9d7db00dd53d42ee7ae0b30e90725fa5300fce35a833ecd5ecf", "train"),
    Src("src", "ghdl", "2.0.0+dfsg-6.2", "4c458e86a73d3933aa7b61987634b0ec504711991abb52fd0a78b4510778e838", "subproject", depth=1, under='libraries', langs=("VHDL",)),
    # scripting
    Src("src", "r-cran-ggplot2", "3.4.1+dfsg-1", "ea9eb3d1a7618972af40093fc7f5efa693fcaacb623a026ac3d5dfc8d67377d7", "train"),
    Src("deb", "r-cran-dplyr", "1.0.10-1", "0fab87f28f87bf17c8356e24ebcf00db295bceb9b2ba38e05413c7347581a15f", "test"),
    Src("src", "libmoose-perl", "2.2203-1", "44a04e8dfe9a00d7068bf37d3a00cdb184cb36f3a36ba687b73d57a223801615", "train", langs=("Perl",)),
    Src("deb", "libwww-perl", "6.68-1", "85fbe839840211fb822b503285e49fa61ddded8586f0eda8b63057de2284feb3", "test", langs=("Perl",)),
    Src("deb", "libdatetime-perl", "2:1.59-1", "118b18692f1860b800a135867fe70df1e19ccceb035f729d649cd4e765348982", "test", langs=("Perl",)),
    Src("src", "php-symfony", "5.4.53+dfsg-0+deb12u1", "5c805af7b6039ff7f6ebc11b4a8d7c41596bb65661f3f9ab7542e70310722681", "train"),
    Src("src", "phpunit", "9.6.7-1+deb12u1", "9f318856ef442d00b92fa317b3252b61007913863cecc268f912a29dcfc5123d", "test"),
    Src("src", "composer", "2.5.5-1+deb12u5", "639d96d7311966400f271e59063a23c147fb99b11b970d29852ab4f33ab1c7fa", "test"),
    Src("deb", "lua-penlight", "1.13.1-3", "69918434ee650d06aa470d49ba05a1a16ae43e66b8216e135cc5075f7d5d9ff3", "train"),
    Src("deb", "awesome", "4.3-7", "22805bf78d0c6b45965d00050901fe5a3c6d45ff2e12367d935e78500a317a59", "train"),
    Src("deb", "lua-busted", "2.1.1-1", "2bd80d74768b090024c3c6852032c681d323fc0a94506a727d17809e9c9a69b3", "test"),
    Src("src", "luarocks", "3.8.0+dfsg1-1", "b0a6fecf25a4880641e2abc23c56da0a53dfed99c31db4fd685423c3fd869f57", "test"),
    Src("src", "tcllib", "1.21+dfsg-1", "fd3c3cd4be4b7633291cd260690821000dde9b6a623709ef6949dc79648282dd", "train", langs=("Tcl",)),
    Src("src", "tk8.6", "8.6.13-2", "12783fea0125ef3e67a1a07b2b24f7e27329214394ca5b543bd38716a91d7a1e", "test"),
    Src("deb", "python3-flask", "2.2.2-3", "2c8c9a408c2373d8b42f0d3434f17fc1a710bc81e52273b96597b25c57b399d7", "test"),
    Src("deb", "python3-requests", "2.28.1+dfsg-1", "c75b5c05d8d4a813bd83c3d432ffe65a2ca13e771bc91d4b9787690097598603", "test"),
    # more test-side packages for Go, Perl and Fortran
    Src("deb", "golang-github-stretchr-testify-dev", "1.8.1-1", "214a31391cf60e1d1abd9f218cb5134a1fd646340a147a04c2d95a981024a305", "test"),
    Src("deb", "golang-github-google-go-cmp-dev", "0.5.9-1", "b68bd919daa7c1bdf02abfb68894e29e532f19b03b68c8615f50626c48f553b6", "test"),
    Src("deb", "libmojolicious-perl", "9.31+dfsg-1", "bdfa07fd60f56c45c34986e18a94212f09446eb2312e0374509209e7c815954e", "test", langs=("Perl",)),
    Src("src", "mumps", "5.5.1-1", "835d5cc6dafabbac3c6e2ee04eaa3a2729d94443a5a9a013e08cf6ce965a7096", "test"),
    Src("src", "minpack", "19961126+dfsg1-5", "c1e8c41abf41f5093effad6dcacdfda0b0378850cb2ef84ef3dfcda4cf03f25a", "test"),
)
# fmt: on


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def _apt_options(cache: Path) -> list[str]:
    """apt options for a private deb-src list, made from the machine's own deb entries."""
    apt = cache / "apt"
    parts = apt / "parts"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    src = parts / "deb-src.sources"
    if not src.exists():
        stanzas = []
        for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
            stanzas.append(re.sub(r"(?m)^Types:\s*deb\s*$", "Types: deb-src", f.read_text()))
        lines = []
        legacy = Path("/etc/apt/sources.list")
        if legacy.exists():
            lines = ["deb-src" + ln[3:] for ln in legacy.read_text().splitlines() if ln.startswith("deb ")]
        if not stanzas and not lines:
            raise CorpusError("no Debian apt sources on this machine: /etc/apt/sources.list(.d) is empty")
        src.write_text("\n\n".join(stanzas))
        if lines:
            (parts.parent / "sources.list").write_text("\n".join(lines) + "\n")
    legacy_list = parts.parent / "sources.list"
    return [
        "-o", f"Dir::Etc::SourceParts={parts}",
        "-o", f"Dir::Etc::SourceList={legacy_list if legacy_list.exists() else '/dev/null'}",
        "-o", f"Dir::State::Lists={apt / 'lists'}",
    ]  # fmt: skip


def _deb(src: Src) -> Package:
    return Package(
        "debian", src.name, src.version, src.sha256, f"debian/{src.name}", (), "see its copyright file"
    )


def fetch(src: Src, cache: Path, opts: list[str]) -> Path:
    """The package in the cache, downloaded once: a source package's folder (its .dsc and
    tarballs) or a binary package's .deb."""
    if src.kind == "deb":
        downloads = cache / "debs"
        downloads.mkdir(parents=True, exist_ok=True)
        try:
            return download(_deb(src), downloads)
        except FetchError as e:
            raise CorpusError(str(e)) from e
    dest = cache / "sources" / src.slug
    if (dest / ".ok").exists():
        return dest
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".dl-"))
    try:
        proc = subprocess.run(
            ["apt-get", *opts, "source", "--download-only", "-qq", f"{src.name}={src.version}"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise CorpusError(f"{src.name}={src.version}: apt-get source failed: {err}")
        dscs = list(tmp.glob("*.dsc"))
        if len(dscs) != 1:
            raise CorpusError(f"{src.name}={src.version}: expected one .dsc, found {len(dscs)}")
        digest = sha256_file(dscs[0])
        if digest != src.sha256:
            raise CorpusError(
                f"{src.name}={src.version}: {dscs[0].name} has sha256 {digest}, pinned {src.sha256}"
            )
        (tmp / ".ok").write_text(digest + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _unpacked(rel: str, data: bytes):
    """A binary package's file, or what it holds: `.el.gz` and the like decompressed, the
    sources inside a `.jar` (Clojure ships as jars of .clj files)."""
    if rel.endswith(".gz") and "." in rel[:-3].rsplit("/", 1)[-1]:
        try:
            yield rel[:-3], gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return
    elif rel.endswith(".jar"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as jar:
                for info in jar.infolist():
                    if not info.is_dir() and MIN_FILE_BYTES <= info.file_size <= MAX_FILE_BYTES:
                        yield f"{rel}/{info.filename}", jar.read(info)
        except (zipfile.BadZipFile, OSError):
            return
    else:
        yield rel, data


def _members(src: Src, where: Path):
    """(path, bytes) of the package's regular files: below a source tarball's top folder, or
    below /usr/ for a binary package."""
    if src.kind == "deb":
        try:
            files = read_source(_deb(src), where)
        except FetchError as e:
            raise CorpusError(str(e)) from e
        for rel, (data, _exe) in sorted(files.items()):
            for name, content in _unpacked(rel, data):
                if MIN_FILE_BYTES <= len(content) <= MAX_FILE_BYTES:
                    yield name, content
        return
    folder = where
    for tar_path in sorted(folder.glob("*.orig*.tar.*")) or sorted(
        p for p in folder.glob("*.tar.*") if ".debian." not in p.name
    ):
        if ".debian." in tar_path.name or tar_path.name.endswith(".asc"):
            continue
        try:
            tar = tarfile.open(tar_path)  # noqa: SIM115 - closed by the `with tar` below
        except tarfile.TarError as e:
            raise CorpusError(f"{tar_path}: cannot read: {e}") from e
        component = ""
        m = re.search(r"\.orig-([A-Za-z0-9-]+)\.tar", tar_path.name)
        if m:
            component = m.group(1) + "/"
        with tar:
            for info in tar:
                if not info.isfile() or info.size > MAX_FILE_BYTES or info.size < MIN_FILE_BYTES:
                    continue
                parts = info.name.split("/", 1)
                rel = component + (parts[1] if len(parts) == 2 else parts[0])
                f = tar.extractfile(info)
                if f is not None:
                    yield rel, f.read()


def _key(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest(), "big")


def _side(src: Src, rel: str) -> str:
    if src.split != "subproject":
        return src.split
    below = rel[len(src.under) :].lstrip("/") if src.under else rel
    unit = "/".join(below.split("/")[: src.depth])
    return "test" if _key("side", src.name, unit) % 10 < 3 else "train"


def label_files(src: Src, folder: Path) -> dict[tuple[str, str], list[tuple[str, bytes]]]:
    """(side, label) -> [(rel, content)] for the files whose names decide a listed language."""
    table = load_table()
    out: dict[tuple[str, str], list[tuple[str, bytes]]] = defaultdict(list)
    for rel, content in _members(src, folder):
        if src.under and not rel.startswith(src.under.rstrip("/") + "/"):
            continue
        if SKIP_DIR.search(rel.rsplit("/", 1)[0] if "/" in rel else "") or is_binary(content[:8000]):
            continue
        name = rel.rsplit("/", 1)[-1]
        if not table.by_name(name)[0]:
            continue
        d = detect(name, content, model=None, table=table)
        if d.how not in {"filename", "extension", "heuristic"} or d.language is None:
            continue
        if src.langs and d.language not in src.langs:
            continue
        if not table.in_list(d.language):
            continue
        out[(_side(src, rel), d.language)].append((rel, content))
    return out


def installed_digests(sources: tuple[Src, ...] = SOURCES) -> set[bytes]:
    """Contents of the files that test-side packages (or binaries built from them) installed on
    this machine: the first-stage model trains on /usr/share, /usr/include and /usr/lib/python3
    (`classifiers/langid/data/prepare_training_corpus.sh`), so such a file was seen in training."""
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${source:Package} ${db:Status-Status}\n"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    by_source: dict[str, list[str]] = defaultdict(list)
    for line in query.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "installed":
            by_source[parts[1]].append(parts[0])
            by_source[parts[0]].append(parts[0])
    out: set[bytes] = set()
    for src in sources:
        if src.split == "train":
            continue
        for pkg in sorted(set(by_source.get(src.name, []))):
            listing = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=False)
            for path in map(Path, listing.stdout.splitlines()):
                try:
                    if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_FILE_BYTES:
                        out.add(hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
                except OSError:
                    continue
    return out


def build_layout(cache: Path | None = None, quiet: bool = False) -> Path:
    """Fetch every pin and lay out train/ and test/ (atomically: a finished layout is reused)."""
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    layout = cache / "layout"
    if (layout / ".ok").exists():
        return layout
    opts = _apt_options(cache)
    proc = subprocess.run(["apt-get", *opts, "update", "-qq"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CorpusError(f"apt-get update (deb-src) failed: {proc.stderr.strip().splitlines()[-1:]}")
    tmp = Path(tempfile.mkdtemp(dir=cache, prefix=".layout-"))
    seen: dict[bytes, str] = {}
    kept: Counter[tuple[str, str]] = Counter()
    on_this_machine = installed_digests()
    dropped_installed = 0
    try:
        # training packages first, so that a test file seen in training is the one dropped
        for src in sorted(SOURCES, key=lambda s: (s.split == "test", s.name)):
            folder = fetch(src, cache, opts)
            groups = label_files(src, folder)
            for (side, label), files in sorted(groups.items()):
                cap = TRAIN_CAP if side == "train" else TEST_CAP
                files.sort(key=lambda rc: _key("pick", src.name, rc[0]))
                n = 0
                for rel, content in files:
                    if n >= cap:
                        break
                    digest = hashlib.blake2b(content, digest_size=16).digest()
                    if digest in seen:
                        continue
                    if side == "test" and digest in on_this_machine:
                        dropped_installed += 1
                        continue
                    seen[digest] = side
                    dest = tmp / side / label.replace("/", "-") / f"{src.name}__{rel.replace('/', '__')}"
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(content)
                    n += 1
                kept[(side, label)] += n
            if not quiet:
                print(f"  {src.name:32s} {src.split:10s} " + ", ".join(
                    f"{lab}:{len(v)}" for (_s, lab), v in sorted(groups.items())[:8]
                ), flush=True)  # fmt: skip
        if not quiet:
            print(
                f"  test files dropped as installed on this machine (seen in training): {dropped_installed}"
            )
        (tmp / ".ok").write_text(f"dropped as installed: {dropped_installed}\n")
        if layout.exists():
            shutil.rmtree(layout)
        os.replace(tmp, layout)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return layout


def counts(layout: Path) -> dict[str, dict[str, int]]:
    """side -> label -> files."""
    out: dict[str, dict[str, int]] = {}
    for side in ("train", "test"):
        base = layout / side
        out[side] = (
            {p.name: sum(1 for _ in p.iterdir()) for p in sorted(base.iterdir())} if base.exists() else {}
        )
    return out


def main() -> int:
    try:
        layout = build_layout()
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    c = counts(layout)
    labels = sorted(set(c["train"]) | set(c["test"]))
    print(f"{'language':24s} {'train':>6s} {'test':>6s}")
    for lab in labels:
        print(f"{lab:24s} {c['train'].get(lab, 0):6d} {c['test'].get(lab, 0):6d}")
    big = [lab for lab in labels if c["test"].get(lab, 0) >= 40]
    print(f"{len(labels)} languages; {len(big)} with at least 40 test files; layout in {layout}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
