"""`coderforge estimate`: what a full build of a recipe will cost, from builds of a sample of it.

Three steps. Size each source of the recipe (`corpus.app.sampling`: read where it can be, assumed
and marked where not). Build a sample of it twice with `coderforge build` as a child process whose
process tree is sampled (`corpus.app.measure`): once on the smallest input of each source, which
gives each stage's fixed cost, and once on a share of each source's inputs (10% by default), which
gives rates, drop ratios, output sizes and memory. Each is also built again, `--repeat` more
times, in one process that has built it once (`corpus.app.warm_build`): those warm stages give
the rates, so that costs paid once for what the input holds count as fixed. Project both to the
full inputs
(`corpus.app.projection`) and print core-hours, wall time at `--cores`, peak memory per task and
disk per stage, the shards, and tokens per mix group.

The sample builds run with one worker and one thread per library (OMP, Rayon), so a stage's
seconds are one core's; they write into `--output` or a temporary folder, never into the recipe's
own output. With `--stand-in RECIPE`, a small recipe's inputs (the demo's) are built in place of
the recipe's own (which may be terabytes, or not reachable from here), with the stand-in's stage
settings, and `--stand-in SOURCE=RECIPE` takes one source (its inputs and section) from another
recipe; the projected recipe itself gives the full sizes, the tasks per stage and the mix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from rich.console import Console

from corpus.app.measure import MIB, analyse, coderforge_command, run_measured
from corpus.app.projection import Measured, Projection, Target, project
from corpus.app.recipe import Recipe, load_recipe
from corpus.app.repo_sample import sample_repositories
from corpus.app.sampling import SourceSize, Unit, pick, sample_targets, size_files, size_github
from corpus.app.warm_build import WARM_FILE
from corpus.core.atomic import atomic_write_text
from corpus.core.errors import BuildError, UserError
from corpus.core.strict import load_yaml_mapping, validate

DEFAULT_FRACTION = 0.1
#: what marks a folder as one of our sample builds (safe to clear before building it again)
_MARKER = ".coderforge/build.json"


@dataclass
class EstimateOptions:
    sample_bytes: int | None = None
    sample_fraction: float | None = None
    cores: int | None = None
    output: str | None = None
    #: recipes whose inputs stand in for the recipe's own: `RECIPE` (every source, and the stage
    #: settings) and `SOURCE=RECIPE` (that source's inputs and section from another recipe)
    stand_in: list[str] = field(default_factory=list)
    repos: int | None = None
    repo_bytes: int | None = None
    source_bytes: dict[str, int] = field(default_factory=dict)
    fixed_cost_build: bool = True
    #: the sample and the smallest inputs built again in a warm process, for the rates
    warm_builds: bool = True
    #: builds of the sample and of the smallest inputs, each; a stage's time is its least
    repeat: int = 2
    interval: float = 0.05


@dataclass
class Estimate:
    projection: Projection
    sources: dict[str, SourceSize]
    sampled: dict[str, list[Unit]]
    sample_raw: dict[str, int]
    sample_inputs: dict[str, int]  # inputs the sample was picked from, per source
    #: files picked and files read, per source sampled file by file (GitHub)
    sample_files: dict[str, tuple[int, int]] = field(default_factory=dict)
    measured: dict[str, dict] = field(default_factory=dict)  # the measured builds' analyses
    work: Path = Path()
    target_name: str = ""


def load_target(path: Path, buildable: bool, work: Path) -> Recipe:
    """The recipe whose full build is projected. Without a stand-in it is also built (on a sample),
    so it loads as `coderforge build` loads it; with one, only its schema is checked (its inputs
    may be a cluster's), and missing inputs are sized as missing."""
    if buildable:
        return load_recipe(path, {"output": str(work / "sample")})
    return validate(Recipe, load_yaml_mapping(path, "recipe"), str(path))


def size_sources(recipe: Recipe, base: Path, opts: EstimateOptions) -> dict[str, SourceSize]:
    sizes: dict[str, SourceSize] = {}
    src = recipe.sources
    if src.github:
        sizes["github"] = size_github(src.github, base, opts.repos, opts.repo_bytes)
    if src.commoncrawl:
        sizes["commoncrawl"] = size_files("commoncrawl", src.commoncrawl.warc, base)
    if src.text:
        sizes["text"] = size_files("text", src.text.paths, base)
    for name, total in opts.source_bytes.items():
        if name not in sizes:
            raise UserError(
                f"--source-bytes {name}=...: the recipe has no source {name!r} (it has {', '.join(sizes)})"
            )
        sizes[name].total = total
        sizes[name].how = [f"{total / 1024**3:,.1f} GiB given with --source-bytes (assumed)"]
        sizes[name].assumed = True
    for name, size in sizes.items():
        if size.total <= 0:
            raise UserError(
                f"sources.{name}: cannot size its inputs here ({size.note or 'none found'}); "
                f"give --source-bytes {name}=SIZE"
            )
    return sizes


def load_stand_ins(
    stand_ins: list[str], sizes: dict[str, SourceSize], work: Path
) -> tuple[Recipe, dict[str, SourceSize], dict[str, dict]]:
    """The stand-in recipe (stage settings and inputs), the sizes of what each source's sample is
    picked from, and the source sections taken from `SOURCE=RECIPE` stand-ins."""
    main = [s for s in stand_ins if "=" not in s]
    per_source = dict(s.split("=", 1) for s in stand_ins if "=" in s)
    if len(main) != 1:
        raise UserError(
            f"--stand-in: give exactly one RECIPE for the stage settings (got {len(main)}), "
            "plus any SOURCE=RECIPE"
        )

    def load(path: str) -> tuple[Recipe, dict[str, SourceSize]]:
        if not Path(path).is_file():
            raise UserError(f"--stand-in: {path}: recipe not found")
        recipe = load_recipe(Path(path), {"output": str(work / "sample")})
        return recipe, size_sources(recipe, Path(path).resolve().parent, EstimateOptions())

    recipe, found = load(main[0])
    sections: dict[str, dict] = {}
    for source, path in per_source.items():
        if source not in sizes:
            raise UserError(f"--stand-in {source}=...: the recipe has no source {source!r}")
        other, other_sizes = load(path)
        if source not in other_sizes:
            raise UserError(f"--stand-in {source}={path}: that recipe has no source {source!r}")
        found[source] = other_sizes[source]
        sections[source] = other.model_dump(mode="json")["sources"][source]
    missing = [s for s in sizes if s not in found]
    if missing:
        raise UserError(f"--stand-in: no stand-in has the source {missing[0]!r}, which the recipe has")
    return recipe, {s: found[s] for s in sizes}, sections


def sample_recipe(
    recipe: Recipe, picked: dict[str, list[Unit]], output: Path, sections: dict[str, dict] | None = None
) -> dict[str, Any]:
    """`recipe` reading only the picked inputs, built locally into `output` (with the source
    sections of `SOURCE=RECIPE` stand-ins). The mix may shrink (allow_shrink changes whether a
    build stops, never what it writes): a sample's groups are uneven in ways the full build's are
    not, and the plan is projected separately."""
    raw = recipe.model_dump(mode="json")
    sources = raw["sources"]
    sources.update(sections or {})
    for name in ("github", "commoncrawl", "text"):
        if name not in picked:
            sources[name] = None
    if "github" in picked:
        sources["github"]["repos"] = [u.entry for u in picked["github"]]
        curation = sources["github"]["curation"]
        curation["lists"] = []
        for found in ("search", "gharchive"):  # repositories found when a build runs
            if found in curation:
                curation[found] = None
    if "commoncrawl" in picked:
        sources["commoncrawl"]["warc"] = [u.entry for u in picked["commoncrawl"]]
    if "text" in picked:
        sources["text"]["paths"] = [u.entry for u in picked["text"]]
    raw["output"] = str(output)
    # each stage on its own: a fused chain's time is split between its stages by a clock, and
    # the projection fits every stage's own time
    raw["executor"].update(kind="local", workers=1, ray_address=None, fuse=False)
    if raw.get("mix"):
        raw["mix"]["allow_shrink"] = True
    return raw


def _prepare(folder: Path) -> None:
    """A folder for a sample build: new, or a sample build of ours from an earlier run."""
    if folder.exists():
        if not (folder / _MARKER).is_file() and any(folder.iterdir()):
            raise UserError(f"--output: {folder} exists and is not a sample build; give an empty folder")
        shutil.rmtree(folder)


def _last_error(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("error: ")]
    return lines[-1][len("error: ") :] if lines else "see the log"


def folder_bytes(folder: Path) -> int:
    """Bytes a stage leaves on disk (data, drops, caches, counts), without its logs."""
    total = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "logs"]
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def group_tokens(output: Path) -> dict[tuple[str, str], float]:
    """Tokens per (document group, source), from mix/tokens' per-document counts."""
    out: dict[tuple[str, str], float] = {}
    for path in sorted((output / "mix" / "tokens" / "counts").glob("*.parquet")):
        table = pq.read_table(path, columns=["group", "source", "tokens"])
        if table.num_rows == 0:
            continue
        summed = table.group_by(["group", "source"]).aggregate([("tokens", "sum")])
        for row in summed.to_pylist():
            key = (row["group"] or "", row["source"] or "")
            out[key] = out.get(key, 0.0) + float(row["tokens_sum"])
    return out


#: one core per stage: one thread for the numeric libraries, and the tokenizers library trains in
#: its calling thread (a Rayon pool of one thread still costs BPE training 30-50% more CPU than no
#: pool, and an amount that varies with what else the machine runs)
MEASURING_ENV = {
    "OMP_NUM_THREADS": "1",
    "RAYON_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "COLUMNS": "200",
}


def trained_sample(output: Path) -> tuple[float, float, float]:
    """(documents, characters, seconds) of BPE training, from the tokenizer stage's stats (its
    step times the training alone); zeros when the recipe gives a tokenizer instead."""
    path = output / "mix" / "tokenizer" / "stats.json"
    if not path.is_file():
        return 0.0, 0.0, 0.0
    docs = chars = seconds = 0.0
    for step in json.loads(path.read_text()):
        stats = step.get("stats", {}) if isinstance(step, dict) else {}
        docs += float((stats.get("sample_documents") or {}).get("total", 0))
        chars += float((stats.get("sample_chars") or {}).get("total", 0))
        times = step.get("time_stats") if isinstance(step, dict) else None
        seconds += float(times.get("total", 0)) if isinstance(times, dict) and chars else 0.0
    return docs, chars, seconds


def measure_build(
    name: str,
    raw_recipe: dict,
    raw_bytes: dict[str, int],
    work: Path,
    opts: EstimateOptions,
    console: Console,
) -> Measured:
    out = work / name
    _prepare(out)
    recipe_path = work / f"{name}.yaml"
    atomic_write_text(str(recipe_path), yaml.safe_dump(raw_recipe, sort_keys=False))
    log = work / f"{name}.log"
    env = {**os.environ, **MEASURING_ENV}
    cmd = [*coderforge_command(), "build", str(recipe_path), "--workers", "1"]
    runs = max(1, opts.repeat)
    console.print(
        f"  {name}: building {sum(raw_bytes.values()) / MIB:.2f} MiB of input"
        f"{f' {runs} times' if runs > 1 else ''} (log: {log}) ..."
    )
    analyses = []
    trained = []
    for i in range(runs):
        if i:
            _prepare(out)
        build, rc = run_measured(cmd, out, 1, log=log, env=env, interval=opts.interval)
        if rc != 0:
            raise BuildError(f"the {name} build failed ({_last_error(log)}); log: {log}")
        analyses.append(analyse(build, None, opts.interval))
        trained.append(trained_sample(out))
    analysis = least_time(analyses)
    warm = warm_seconds(recipe_path, work / f"{name}-warm", runs + 1, env, log) if opts.warm_builds else {}
    manifest = build.manifest
    mix = manifest.get("mix") or {}
    console.print(
        f"  {name}: {sum(raw_bytes.values()) / MIB:.2f} MiB in {analysis['wall_s']:.1f} s, "
        f"peak {analysis['peak_process_rss_mib']:.0f} MiB per process"
    )
    measured = Measured(
        analysis=analysis,
        raw=dict(raw_bytes),
        disk={r["stage"]: folder_bytes(out / r["stage"]) for r in analysis["stages"]},
        listed={
            r["stage"]: sum(
                1 for sub in ("data", "drops") for f in (out / r["stage"] / sub).rglob("*") if f.is_file()
            )
            for r in analysis["stages"]
        },
        planned_tokens=float(mix.get("planned_total_tokens") or 0),
        group_tokens=group_tokens(out),
    )
    measured.warm = warm
    measured.analysis["warm_cpu_s"] = warm
    # the same documents each time; the training's least time, as for every stage
    measured.trained_documents, measured.trained_chars, measured.trained_seconds = min(
        trained, key=lambda t: t[2]
    )
    measured.analysis["token_dtype"] = (manifest.get("tokenizer") or {}).get("dtype", "uint16")
    return measured


def warm_seconds(
    recipe_path: Path, folder: Path, builds: int, env: dict[str, str], log: Path
) -> dict[str, float]:
    """Each stage's least CPU seconds over `builds - 1` builds in a process that built the same
    inputs once before (`corpus.app.warm_build`), for the rate; the measured build gives the rest."""
    cmd = [sys.executable, "-m", "corpus.app.warm_build", str(recipe_path), str(folder), str(builds)]
    with open(log, "ab") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    try:
        if proc.returncode != 0:
            raise BuildError(f"the warm builds of {recipe_path} failed ({_last_error(log)}); log: {log}")
        return {k: float(v) for k, v in json.loads((folder / WARM_FILE).read_text()).items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def least_time(analyses: list[dict]) -> dict:
    """The analysis of repeated builds of the same input, each stage at its least time and its
    highest memory.

    Why: the projection multiplies each stage's growth from the fixed-cost build to the sample by
    the full input's size over the sample's, so a half-second stage slowed by a neighbour's load
    (a shared core, a hyperthread) can move a projection by half. Load only ever adds time, so the
    least of a few runs is the closest to the stage's own; memory does not shrink under load.
    """
    first = analyses[0]
    if len(analyses) == 1:
        return first
    out = {**first, "stages": [dict(r) for r in first["stages"]]}
    for key in ("startup_cpu_s", "startup_s", "manifest_exit_cpu_s", "manifest_exit_s", "wall_s", "cpu_s"):
        values = [a[key] for a in analyses if a.get(key) is not None]
        if values:
            out[key] = min(values)
    for key in ("peak_rss_mib", "peak_process_rss_mib"):
        out[key] = max(a[key] for a in analyses)
    for i, row in enumerate(out["stages"]):
        same = [
            a["stages"][i]
            for a in analyses
            if i < len(a["stages"]) and a["stages"][i]["stage"] == row["stage"]
        ]
        row["seconds"] = min(r["seconds"] for r in same)
        cpu = [r["cpu_s"] for r in same if r.get("cpu_s")]
        if cpu:
            row["cpu_s"] = min(cpu)
        for key in ("peak_rss_mib", "peak_process_rss_mib", "rise_process_rss_mib"):
            values = [r[key] for r in same if key in r]
            if values:
                row[key] = max(values)
    return out


def target_settings(recipe: Recipe, sizes: dict[str, SourceSize], cores: int | None) -> Target:
    parallel: dict[str, int] = {}
    if recipe.recall:
        for name in ("commoncrawl", "github"):
            loop = getattr(recipe.recall, name)
            if loop is not None and loop.tasks:
                parallel[f"{name}/recall"] = loop.tasks
    if recipe.dedup is not None and recipe.dedup.cluster_shards > 1:
        parallel["dedup-clusters"] = recipe.dedup.cluster_shards
    shares = {name: g.share for name, g in recipe.mix.groups.items()} if recipe.mix else {}
    ex = recipe.executor
    if cores is None:
        cores = ex.workers if ex.workers > 0 else (os.cpu_count() or 1)
    return Target(
        raw={name: s.total for name, s in sizes.items()},
        tasks=ex.tasks,
        parallel=parallel,
        total_tokens=recipe.mix.total_tokens if recipe.mix else None,
        shares=shares,
        token_bytes=4 if recipe.tokenizer.vocab_size >= 65_500 else 2,
        sample_documents=recipe.tokenizer.sample_documents,
        cores=cores,
    )


def refuse_own_output(recipe_path: Path, work: Path) -> None:
    """The sample builds never go into (or under) the recipe's own output folder."""
    own = str(load_yaml_mapping(recipe_path, "recipe").get("output") or "")
    if own and "://" not in own:
        own_path = Path(own).expanduser().resolve()
        if work == own_path or own_path in work.parents:
            raise UserError(
                f"--output: {work} is inside the recipe's own output {own_path}; give another folder"
            )


def run_estimate(recipe_path: Path, opts: EstimateOptions, console: Console) -> Estimate:
    if opts.sample_bytes is not None and opts.sample_fraction is not None:
        raise UserError("give --sample-bytes or --sample-fraction, not both")
    if opts.sample_fraction is not None and not 0 < opts.sample_fraction <= 1:
        raise UserError(f"--sample-fraction: {opts.sample_fraction} is not in (0, 1]")
    if opts.cores is not None and opts.cores < 1:
        raise UserError(f"--cores: {opts.cores} is not a positive number of cores")
    if not recipe_path.is_file():
        raise UserError(f"{recipe_path}: recipe not found")
    if opts.output is not None:
        refuse_own_output(recipe_path, Path(opts.output).resolve())
    temporary = opts.output is None
    work = Path(tempfile.mkdtemp(prefix="coderforge-estimate-")) if temporary else Path(opts.output).resolve()
    keep = not temporary
    try:
        work.mkdir(parents=True, exist_ok=True)
        return _estimate(recipe_path, opts, console, work)
    except BuildError:
        keep = True  # the sample build's log names what went wrong
        raise
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _estimate(recipe_path: Path, opts: EstimateOptions, console: Console, work: Path) -> Estimate:
    target = load_target(recipe_path, not opts.stand_in, work)
    sizes = size_sources(target, recipe_path.resolve().parent, opts)
    sections: dict[str, dict] = {}
    if not opts.stand_in:
        sampled_from, sample_sizes = target, sizes
        fraction = opts.sample_fraction if opts.sample_fraction is not None else DEFAULT_FRACTION
    else:
        sampled_from, sample_sizes, sections = load_stand_ins(opts.stand_in, sizes, work)
        fraction = opts.sample_fraction if opts.sample_fraction is not None else 1.0
    for name, size in sample_sizes.items():
        if not size.units:
            raise UserError(
                f"sources.{name}: no input of it can be built here (local files, archives or folders); "
                "give --stand-in RECIPE with inputs that stand in for it"
            )
    goals = sample_targets(sample_sizes, fraction, opts.sample_bytes)
    seed = target.seed
    picked: dict[str, list[Unit]] = {}
    files: dict[str, tuple[int, int]] = {}
    for s, size in sample_sizes.items():
        if s != "github":
            picked[s] = pick(size.units, goals[s], seed, s)
            continue
        # files from across the repositories, joined components whole (corpus.app.repo_sample), read
        # as the build will read them
        gh = sections.get("github") or sampled_from.model_dump(mode="json")["sources"]["github"]
        local = sum(u.size for u in size.units)
        sampled = sample_repositories(
            size.units,
            goals[s] / local if local else 1.0,
            seed,
            str(work / "sample-inputs" / s),
            source=s,
            max_bytes=int(gh["max_file_bytes"]),
            skip_generated=bool(gh["curation"]["skip_generated"]),
            join=tuple(joined["languages"]) if (joined := gh["curation"]["samples"])["enabled"] else (),
        )
        picked[s] = sampled.units
        if sampled.of_files:
            files[s] = (sampled.files, sampled.of_files)
    raw_s = {s: sum(u.size for u in units) for s, units in picked.items()}
    say = ", ".join(
        (
            f"{s} {files[s][0]:,} of {files[s][1]:,} files from {len(picked[s])} of "
            f"{len(sample_sizes[s].units)} repositories"
            if s in files
            else f"{s} {len(picked[s])} of {len(sample_sizes[s].units)} inputs"
        )
        + f" ({raw_s[s] / MIB:.2f} MiB)"
        for s in picked
    )
    console.print(f"sample of {sampled_from.name}: {say}; building it in {work}")
    tiny = None
    if opts.fixed_cost_build:
        smallest = {s: [min(sample_sizes[s].units, key=lambda u: (u.size, u.key))] for s in sample_sizes}
        if any(smallest[s] != picked[s] for s in smallest):
            tiny_raw = {s: smallest[s][0].size for s in smallest}
            try:
                tiny = measure_build(
                    "fixed-cost",
                    sample_recipe(sampled_from, smallest, work / "fixed-cost", sections),
                    tiny_raw,
                    work,
                    opts,
                    console,
                )
            except BuildError as e:
                console.print(f"  fixed-cost build failed, fixed costs taken as zero: {e}")
    sample = measure_build(
        "sample", sample_recipe(sampled_from, picked, work / "sample", sections), raw_s, work, opts, console
    )
    projection = project(sample, tiny, target_settings(target, sizes, opts.cores))
    if opts.stand_in:
        projection.notes.append(
            f"rates, drops and memory measured on {', '.join(opts.stand_in)} standing in for the sources; "
            f"sizes, tasks and the mix from {recipe_path}"
        )
    measured = {"sample": sample.analysis, **({"fixed-cost": tiny.analysis} if tiny else {})}
    inputs = {s: len(z.units) for s, z in sample_sizes.items()}
    est = Estimate(projection, sizes, picked, raw_s, inputs, files, measured, work, target.name)
    atomic_write_text(str(work / "estimate.json"), json.dumps(to_json(est), indent=2) + "\n")
    return est


def to_json(est: Estimate) -> dict[str, Any]:
    p = est.projection
    return {
        "recipe": est.target_name,
        "cores": p.cores,
        "core_hours": p.core_hours,
        "wall_s": p.wall_s,
        "peak_mib_per_task": p.peak_mib,
        "disk_bytes": p.disk_bytes,
        "shards_bytes": p.shards_bytes,
        "startup_s": p.startup_s,
        "manifest_s": p.manifest_s,
        "stages": [asdict(r) for r in p.rows],
        "tokens_by_group": p.tokens_by_group,
        "sources": {
            s: {
                "bytes": z.total,
                "inputs": z.inputs,
                "how": z.how,
                "assumed": z.assumed,
                "sampled_bytes": est.sample_raw.get(s, 0),
                "sampled_inputs": [u.key for u in est.sampled.get(s, [])],
                **(
                    {"sampled_files": est.sample_files[s][0], "files": est.sample_files[s][1]}
                    if s in est.sample_files
                    else {}
                ),
            }
            for s, z in est.sources.items()
        },
        "factors": p.factors,
        "notes": p.notes,
        "measured": est.measured,
    }
