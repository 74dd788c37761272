#!/usr/bin/env bash
# Lay out the public corpora the shipped content model (langid.ftz) was trained on, then train it.
# Nothing fetched here is committed: the folders go under $WORK (default /tmp/langid-train).
#
# Needs a git mirror (or checkout) of each repository below, at the commit given, under $MIRRORS as
# <owner>+<name>/repo (a bare repository or a checkout's .git both work with --git-dir), and
# Debian's source archive for the Debian corpus. Run from the project root.
set -eu  # no pipefail: `head` closes the listings below early on purpose
MIRRORS=${MIRRORS:?set MIRRORS to the folder holding the git mirrors}
WORK=${WORK:-/tmp/langid-train}
mkdir -p "$WORK"

export_tree() {  # export_tree <owner+name> <dest> [paths...]
    local repo=$1 dest=$2
    shift 2
    mkdir -p "$dest"
    git --git-dir "$MIRRORS/$repo/repo" archive HEAD "$@" | tar -x -C "$dest"
}

# folders laid out as LABEL/files (labels come from the folder names)
export_tree github-linguist+linguist "$WORK/linguist" samples                # b45dbe9b
export_tree pygments+pygments "$WORK/pygments" tests/examplefiles            # 6a62df1d
find "$WORK/pygments" -name '*.output' -delete
export_tree rouge-ruby+rouge "$WORK/rouge" spec/visual/samples               # c2d22eb2
mkdir -p "$WORK/rouge_l"
for f in "$WORK"/rouge/spec/visual/samples/*; do
    [ -f "$f" ] && mkdir -p "$WORK/rouge_l/$(basename "$f")" && cp "$f" "$WORK/rouge_l/$(basename "$f")/sample"
done
export_tree highlightjs+highlight.js "$WORK/hljs" test/detect test/markup   # 0bc57cfc
find "$WORK/hljs" -name '*.expect.txt' -delete
mkdir -p "$WORK/lab2/Octave"                                                 # gnu-octave/octave 51d63129
git --git-dir "$MIRRORS/gnu-octave+octave/repo" ls-tree -r --name-only HEAD scripts | grep '\.m$' | head -400 |
    while read -r p; do git --git-dir "$MIRRORS/gnu-octave+octave/repo" show "HEAD:$p" >"$WORK/lab2/Octave/${p//\//_}"; done

# projects whose file names give the labels
for r in C C-Plus-Plus C-Sharp Clojure Dart Elixir Elm F-Sharp Fortran Go Haskell Java JavaScript Julia Kotlin \
    Lua MATLAB-Octave Nim OCaml PHP R Ruby Rust Scala Solidity Swift TypeScript Zig; do
    export_tree "TheAlgorithms+$r" "$WORK/repos/$r" || true
done
for r in onetrueawk+awk openmainframeproject+cobol-programming-course PowerShellMafia+PowerSploit \
    jashkenas+coffeescript leafo+moonscript clojure+clojure koalaman+shellcheck \
    purescript+purescript-prelude purescript+purescript-arrays lfe+lfe elm+core dart-lang+collection \
    hylang+hy bakpakin+Fennel; do
    # purescript-prelude fc4c9d23, purescript-arrays 6554b3d9, lfe 1d0de5e0, elm/core 65cea00a,
    # dart-lang/collection 96afcc2f, hy 5369306c, Fennel d370f8d1
    export_tree "$r" "$WORK/repos2/$r" || true
done
# two projects whose mirrors lack some large blobs: their sources in one language, file by file
for spec in idris-lang+Idris2:idr odin-lang+Odin:odin; do  # 134412e1, 4247507d
    r=${spec%%:*} ext=${spec##*:}
    git --git-dir "$MIRRORS/$r/repo" ls-tree -r --name-only HEAD | grep "\.$ext\$" | head -600 |
        while read -r p; do
            mkdir -p "$WORK/repos2/$r/$(dirname "$p")"
            git --git-dir "$MIRRORS/$r/repo" show "HEAD:$p" >"$WORK/repos2/$r/$p"
        done
done

# the training side of the Debian corpus (benchmarks/langid_corpus.py; its test side is the
# held-out set of benchmarks/bench_langid_content.py). Crystal's own repository is not used: the
# Debian crystal package is split between the two sides by module instead.
python benchmarks/langid_corpus.py >/dev/null
LAYOUT=${CODERFORGE_LANGID_CORPUS:-$HOME/.cache/coderforge/langid-corpus}/layout

# --max-files-per-label 600: room for the Debian corpus and the earlier corpora in every label
OMP_NUM_THREADS=1 coderforge langid train /usr/share /usr/include /usr/lib/python3 /usr/lib/python3.11 \
    "$WORK/repos" "$WORK/repos2" \
    --labelled "$WORK/linguist/samples" --labelled "$WORK/pygments/tests/examplefiles" \
    --labelled "$WORK/rouge_l" --labelled "$WORK/hljs/test/detect" --labelled "$WORK/hljs/test/markup" \
    --labelled "$WORK/lab2" --labelled "$LAYOUT/train" --max-files-per-label 600 --out "${OUT:-langid.ftz}"

# the second stage: family members only (classifiers/langid/families.py)
OMP_NUM_THREADS=1 coderforge langid train --families /usr/share /usr/include /usr/lib/python3 /usr/lib/python3.11 \
    "$WORK/repos" "$WORK/repos2" \
    --labelled "$WORK/linguist/samples" --labelled "$WORK/pygments/tests/examplefiles" \
    --labelled "$WORK/rouge_l" --labelled "$WORK/hljs/test/detect" --labelled "$WORK/hljs/test/markup" \
    --labelled "$WORK/lab2" --labelled "$LAYOUT/train" --out "${FAMILY_OUT:-langid-families.ftz}"
