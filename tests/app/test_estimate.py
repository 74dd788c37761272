"""`coderforge estimate`: a projection from a 10% sample of the real-code corpus against the whole
build measured the same way, the table on the demo recipe, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from corpus.app.cli import main
from corpus.app.estimate import MEASURING_ENV, least_time
from corpus.app.measure import analyse, coderforge_command, run_measured
from corpus.app.projection import Measured, Target, core_seconds, project
from corpus.app.sampling import Unit, parse_size, pick
from tests.conftest import DEMO_RECIPE, REPO, one_line_error, run_cli

FULL_RECIPE = REPO / "recipes" / "deepseek-coder-v2.yaml"
#: peak memory of a task, projected from 10% of the real-code corpus to all of it. The sample takes
#: a tenth of the corpus's files, joined components whole (corpus.app.repo_sample); measured on a
#: shared 2-core machine, memory came out 3-16% above the whole build's peak.
MEMORY_TOLERANCE = 0.25
#: time, likewise, against the whole build measured as the estimate measures its own builds: twice,
#: each stage at its least CPU time (corpus.app.estimate.least_time). Measured on a shared 2-core
#: machine (load 0.6-1.1), the projection came out 5% under to 23% over in six runs. Before the
#: rate was taken from warm builds (corpus.app.warm_build), it was 24% to 43% over: first-use costs
#: that depend on what the input holds (each language's patterns, lazy imports) were counted as
#: rate and multiplied by ten.
TIME_TOLERANCE = 0.25

# ---------------------------------------------------------------- the real-code corpus


@pytest.fixture(scope="module")
def projected_and_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    """The estimate from a 10% sample, then the whole build measured as the estimate measures
    (one worker, one thread per library, the process tree sampled)."""
    from tests.realdata.conftest import cached_archives, real_recipe

    tmp = tmp_path_factory.mktemp("estimate")
    never = tmp / "recipe-output"
    recipe = real_recipe(tmp, never, cached_archives())
    est_dir = tmp / "estimate"
    run_cli(
        "estimate", str(recipe), "--sample-fraction", "0.1", "--cores", "1", "--output", str(est_dir),
        check=True, timeout=600,
    )  # fmt: skip
    assert not never.exists()  # the recipe's own output is never written
    projected = json.loads((est_dir / "estimate.json").read_text())
    env = {**os.environ, **MEASURING_ENV}
    runs = []
    for i in range(2):  # as the estimate builds its sample: twice, each stage at its least time
        full = tmp / f"full-{i}"
        cmd = [*coderforge_command(), "build", str(recipe), "--workers", "1", "--output", str(full)]
        build, rc = run_measured(cmd, full, 1, log=tmp / "full.log", env=env, cwd=REPO)
        assert rc == 0, (tmp / "full.log").read_text()[-2000:]
        runs.append(analyse(build, None, 0.05))
    return projected, least_time(runs), est_dir


def whole_cpu(analysis: dict) -> float:
    """A build's CPU seconds as the projection adds them up: start-up, each stage, the manifest."""
    stages = sum(core_seconds(row) for row in analysis["stages"])
    return analysis["startup_cpu_s"] + stages + analysis["manifest_exit_cpu_s"]


def _off(projected: float, measured: float) -> float:
    return abs(projected - measured) / measured


@pytest.mark.realdata
def test_ten_percent_sample_projects_the_whole_build(projected_and_built) -> None:
    projected, measured, est_dir = projected_and_built
    sampled = projected["sources"]["github"]
    assert 0.05 < sampled["sampled_bytes"] / sampled["bytes"] < 0.2, sampled
    assert not sampled["assumed"]
    # files from across the repositories, about a tenth of them, each repository's in a sample archive
    assert len(sampled["sampled_inputs"]) >= 10, sampled["sampled_inputs"]
    assert 0.06 < sampled["sampled_files"] / sampled["files"] < 0.16, sampled
    assert len(list((est_dir / "sample-inputs" / "github").glob("*.tar.gz"))) == len(
        sampled["sampled_inputs"]
    )
    # time on a core of its own: the whole build's CPU seconds, start-up and manifest included
    # (its wall time on a machine others share can be several times that)
    assert _off(projected["wall_s"], whole_cpu(measured)) < TIME_TOLERANCE, (
        projected["wall_s"],
        whole_cpu(measured),
    )
    # peak memory of a task: the largest process of the whole build
    peak = measured["peak_process_rss_mib"]
    assert _off(projected["peak_mib_per_task"], peak) < MEMORY_TOLERANCE, (
        projected["peak_mib_per_task"],
        peak,
    )
    # every stage of the build is in the projection, and the sample builds are kept where asked
    assert [r["stage"] for r in projected["stages"]] == [r["stage"] for r in measured["stages"]]
    # each stage's rate came from builds in a process that had built the same input once
    for build in ("sample", "fixed-cost"):
        warm = projected["measured"][build]["warm_cpu_s"]
        assert set(warm) == {r["stage"] for r in measured["stages"]}, build
    cold = {r["stage"]: core_seconds(r) for r in projected["measured"]["sample"]["stages"]}
    warm = projected["measured"]["sample"]["warm_cpu_s"]
    assert sum(warm.values()) < sum(cold.values())  # first-use costs paid once, in the cold build
    assert (est_dir / "sample" / "manifest.json").is_file()
    assert (est_dir / "fixed-cost" / "manifest.json").is_file()


# ---------------------------------------------------------------- the demo recipe


def test_demo_estimate_prints_the_table() -> None:
    proc = run_cli(
        "estimate", str(DEMO_RECIPE), "--sample-bytes", "1", "--no-fixed-cost-build", "--cores", "4",
        "--repeat", "1", "--no-warm-builds",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for stage in ("github/documents", "commoncrawl/recall", "all/decontam", "mix/shards", "whole build"):
        assert stage in out, stage
    for column in ("core-hours", "wall", "peak/task", "disk out", "tokens"):
        assert column in out, column
    assert "tokens out per mix group" in out and "shards:" in out
    assert "on 4 cores" in out


def estimate_cli(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess:
    """`coderforge estimate ARGS` through the CLI's own entry point, in this process (a mistake is
    found before anything is built, so a fresh interpreter per case would only add start-up)."""
    rc = main(["estimate", *args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["coderforge", "estimate", *args], rc, out.out, out.err)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sample-fraction", "2"], ["--sample-fraction"]),
        (["--cores", "0"], ["--cores"]),
        (["--repeat", "0"], ["--repeat"]),
        (["--sample-bytes", "lots"], ["--sample-bytes", "lots"]),
        (["--source-bytes", "web=1TB"], ["--source-bytes", "web"]),
        (["--source-bytes", "github"], ["--source-bytes", "SOURCE=SIZE"]),
        (["--sample-bytes", "1MB", "--sample-fraction", "0.5"], ["--sample-bytes", "--sample-fraction"]),
        (["--stand-in", "nowhere.yaml"], ["--stand-in", "nowhere.yaml"]),
        (["--stand-in", f"github={DEMO_RECIPE}"], ["--stand-in", "exactly one RECIPE"]),
        (
            ["--stand-in", str(DEMO_RECIPE), "--stand-in", f"web={DEMO_RECIPE}"],
            ["--stand-in web=", "no source"],
        ),
    ],
)
def test_bad_options_give_one_line(capsys, args: list[str], words: list[str]) -> None:
    one_line_error(estimate_cli(capsys, str(DEMO_RECIPE), *args), *words, alone=True)


def test_bad_recipes_give_one_line(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsources: {text: {paths: [a.jsonl]}}\nexecutor: {taks: 2}\n")
    one_line_error(estimate_cli(capsys, str(bad)), "executor.taks", "unknown key", alone=True)
    one_line_error(estimate_cli(capsys, str(tmp_path / "missing.yaml")), "missing.yaml", alone=True)
    own = tmp_path / "own.yaml"
    own.write_text(f"name: x\noutput: {tmp_path / 'built'}\nsources: {{text: {{paths: [{bad}]}}}}\n")
    inside = str(tmp_path / "built" / "estimate")
    one_line_error(estimate_cli(capsys, str(own), "--output", inside), "--output", "own output", alone=True)
    assert not (tmp_path / "built").exists()
    # the full-scale recipe's inputs are a cluster's: it needs a stand-in, and sizes for what
    # cannot be counted from here
    one_line_error(estimate_cli(capsys, str(FULL_RECIPE)), "text/*.parquet", alone=True)
    stand_in = ["--stand-in", str(DEMO_RECIPE)]
    one_line_error(estimate_cli(capsys, str(FULL_RECIPE), *stand_in), "--repos", "github=SIZE", alone=True)
    one_line_error(
        estimate_cli(capsys, str(FULL_RECIPE), *stand_in, "--repos", "1000"), "--repo-bytes", alone=True
    )
    one_line_error(
        estimate_cli(capsys, str(FULL_RECIPE), *stand_in, "--repos", "1000", "--repo-bytes", "1MB"),
        "sources.text",
        "--source-bytes text=SIZE",
        alone=True,
    )


# ---------------------------------------------------------------- how the sample is picked


def test_sample_picks_whole_inputs_by_seed_near_the_target() -> None:
    units = [Unit(f"r{i}", size) for i, size in enumerate([5, 50, 500, 40, 60, 7, 300, 90, 20, 30])]
    first = pick(units, 100, 7, "github")
    assert first == pick(list(reversed(units)), 100, 7, "github")  # the order of the list is irrelevant
    assert pick(units, 100, 8, "github") != first  # another seed, another sample
    more = pick(units, 400, 7, "github")
    assert more[: len(first)] == first  # a larger sample holds the smaller one
    assert len(pick(units, 0, 7, "github")) == 1  # never empty
    assert sum(u.size for u in pick(units, 10**6, 7, "github")) == sum(u.size for u in units)
    even = [Unit(f"f{i}", 10) for i in range(20)]
    assert sum(u.size for u in pick(even, 55, 1, "text")) in (50, 60)  # the closer stop
    assert parse_size("2TiB", "x") == 2 * 1024**4 and parse_size("1.5MB", "x") == 1_500_000


def test_files_across_repositories_joined_components_whole(tmp_path: Path) -> None:
    import io
    import tarfile

    from corpus.app.repo_sample import sample_repositories
    from corpus.github.repo_reader import iter_tar

    units = []
    for r in range(3):
        archive = tmp_path / f"r{r}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for i in range(40):
                data = (f"def f{i}():\n    return {i}\n" * (1 + i % 7)).encode()
                if i % 10 in (1, 2, 3):  # chains of three modules, m1 <- m2 <- m3: one component
                    data = f"from pkg import m{i - 1}\n".encode() * (i % 10 > 1) + data
                if i == 0:
                    data = b"\x00" * 5000  # binary: dropped by the reader, no kept bytes
                member = tarfile.TarInfo(f"owner-r{r}-abc/pkg/m{i}.py")
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
        units.append(
            Unit(f"owner/r{r}", archive.stat().st_size, {"name": f"owner/r{r}", "archive": str(archive)})
        )
    first = sample_repositories(units, 0.1, 7, str(tmp_path / "a"), join=("Python",))
    again = sample_repositories(list(reversed(units)), 0.1, 7, str(tmp_path / "b"), join=("Python",))
    assert {u.key: u.size for u in again.units} == {u.key: u.size for u in first.units}
    assert first.of_files == 120 and 6 <= first.files <= 20
    assert len(first.units) >= 2  # files from across the repositories
    chains = [{f"pkg/m{i}.py" for i in (c, c + 1, c + 2)} for c in (1, 11, 21, 31)]
    whole = 0
    for unit in first.units:
        picked = {f.path for f in iter_tar(unit.entry["archive"], 10**6)}
        assert picked and all(p.startswith("pkg/m") for p in picked)  # paths as the reader gives them
        for chain in chains:  # a joined component is taken whole or not at all
            assert chain <= picked or not chain & picked, (unit.key, sorted(picked))
            whole += chain <= picked
        twin = tmp_path / "b" / Path(unit.entry["archive"]).name
        assert Path(unit.entry["archive"]).read_bytes() == twin.read_bytes()  # same seed, same bytes
    assert whole >= 1  # (this seed takes one)
    # the sample stands for its share of the kept bytes of the archives it was drawn from
    assert 0.03 < first.raw / sum(u.size for u in units) < 0.25
    other = sample_repositories(units, 0.1, 8, str(tmp_path / "c"), join=("Python",))
    assert other.units != first.units
    # without joining, every file is a piece of its own: about a tenth of them
    single = sample_repositories(units, 0.1, 7, str(tmp_path / "e"))
    assert 9 <= single.files <= 15
    assert sample_repositories(units, 1.0, 7, str(tmp_path / "d")).units == units  # the whole: as is


# ---------------------------------------------------------------- memory far past the sample


def _build(raw: int, stages: list[tuple[str, float, float, float]]) -> Measured:
    """A measured build of one GitHub source of `raw` bytes: per stage (label, bytes in, peak of
    its process, rise above the RSS it started from), one task, a second of CPU each."""
    counts = {"tasks": 1, "documents_in": 100, "documents_out": 100, "dropped": 0, "tokens": 0}
    rows = [
        dict(counts, stage=label, bytes_in=int(size), bytes_out=int(size), seconds=1.0, cpu_s=1.0,
             peak_rss_mib=peak, peak_process_rss_mib=peak, rise_process_rss_mib=rise)
        for label, size, peak, rise in stages
    ]  # fmt: skip
    analysis = {"stages": rows, "startup_cpu_s": 1.0, "manifest_exit_cpu_s": 0.1}
    return Measured(analysis=analysis, raw={"github": raw}, disk={}, listed={})


def test_memory_grows_past_the_sample_only_where_the_stage_itself_grew() -> None:
    """Three stages far past a 10 MB sample: one whose own rise grew with its input (fitted as
    √ of the input per task), one that found its process higher only because the stages before it
    ran on more (as measured), and one that gained far more than its input could hold (a larger
    tokenizer: as measured). The real-code test above holds the fitted case against a whole build."""
    mb = 1 << 20
    tiny = _build(16_000, [("github/documents", 16_000, 200, 20), ("github/langid", 16_000, 210, 5),
                           ("github/files", 16_000, 212, 1)])  # fmt: skip
    sample = _build(10 * mb, [("github/documents", 10 * mb, 300, 120), ("github/langid", 10 * mb, 330, 6),
                              ("github/files", 10 * mb, 340, 1)])  # fmt: skip
    sample.analysis["stages"][2]["rise_process_rss_mib"] = 30.0
    target = Target(
        raw={"github": 1000 * 10 * mb}, tasks=10, parallel={}, total_tokens=None, shares={},
        token_bytes=2, sample_documents=1000, cores=10,
    )  # fmt: skip
    rows = {r.stage: r for r in project(sample, tiny, target).rows}
    docs, langid, files = rows["github/documents"], rows["github/langid"], rows["github/files"]
    assert docs.memory_resolved and docs.peak_mib > 1000  # 100x the input per task: √ of it
    assert not langid.memory_resolved and langid.peak_mib == 330
    # github/* grows with the source's raw bytes, so files' input per task is as large; its own
    # rise grew by 29 MiB against 10 MB more input: 3 bytes a byte, which a stage can hold
    assert files.memory_resolved
    sample.analysis["stages"][2]["rise_process_rss_mib"] = 1000.0  # 100 bytes a byte: still plausible
    assert project(sample, tiny, target).rows[2].memory_resolved
    sample.analysis["stages"][2]["rise_process_rss_mib"] = 3000.0  # 300 bytes a byte: not the input's
    files = project(sample, tiny, target).rows[2]
    assert not files.memory_resolved and files.peak_mib == 340
