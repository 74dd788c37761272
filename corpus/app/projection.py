"""From two measured builds of a recipe (a tiny one and a sample) to the cost of the full build.

Time is CPU time: the seconds of the one core each stage had in the measured builds (sampled
with the process tree), so that a projection for a cluster whose cores are its own does not carry
the load of the machine that measured it (on a busy laptop a stage's wall time can be three times
its CPU time). Every stage's time is fitted as a + b·u through the two builds: u is what the
stage's work grows with, a its fixed cost (process and executor start, model loads), b the cost
per unit. b comes from warm builds where the estimate has them (`corpus.app.warm_build`: the same
inputs built again in a process that has met them once), so that first-use costs which depend on
what the input holds (each language's patterns, a lazy import, a Unicode table) count in a,
taken from the cold build, and are not multiplied as rate. u is

- a source's own stages (`github/*`, `commoncrawl/*`, `text/*`): that source's raw input bytes;
- the stages over all sources (`all/*`, `mix/tokens`): the bytes entering them, which at full
  scale is each source's output in the sample times that source's full/sample ratio (sources
  that drop most of their input, the crawl, weigh what they keep);
- `mix/tokenizer`: the characters BPE training reads: `sample_documents` documents at most, each
  cut at `sample_max_chars`. At full scale that is the sample's characters per trained document
  times the documents the full build would train on. Measured on the real-code corpus, training
  time is close to a straight line in these characters (0.35-0.45 µs a character from 0.5M to the
  whole corpus's 3.7M, in one thread), where bytes entering the mix or documents are not: the
  same bytes in many small documents cost twice as much. Its fit is not drawn through the
  fixed-cost build: the stage times the training itself, which is the part that grows (through
  zero), and the rest of the stage (reading the sample, writing and checking the tokenizer,
  0.15-0.2 s on the real-code corpus whether its vocabulary has 8,000 entries or 26,000, and a
  tenth of that on the fixed-cost build's 14 documents) is its fixed cost;
- `mix/shards`: the tokens the plan writes (a `total_tokens` budget fixes it).

Counts (bytes, documents, tokens) scale with u in proportion, as do drop ratios; disk is fitted
like time (models and tokenizers keep their size). Core hours are b·u (plus a for each task
slot); wall time at C cores divides b·u by min(C, tasks) and adds a, the process start-up and
the manifest (which lists every data and drop file with the digest its task recorded). A stage that grew by
less than `RESOLUTION_S` from one build to the other, when the projection reaches more than ten
times the sample, is projected as measured and flagged, with the most the resolution allows said
apart: taking that most for every such stage made a 10% sample of the real-code corpus project
25-40% over the whole build, most of it from stages of a tenth of a second.

A task's peak memory grows slower than its input and is fitted through the two builds in √u
against u per task instead. Larger inputs bring larger single files
and repositories and longer tables, not proportionally more held at once; on the real-code corpus
(benchmarks/bench_build.py --scale 3 10: 435, 612, 955 MiB at 1x, 3x, 10x) the square root
through the first two gives 952 MiB for the third, a straight line 1,225 and a logarithm 801.
A stage run in a process that ran earlier stages on more input starts
from a higher RSS without holding more itself (the allocator keeps what those stages freed), so
the peak alone would read that as the stage's growth; and a stage that loads the trained
tokenizer gains with the tokenizer's size, not with its input. A stage whose rise above the RSS
it started from grew by less than `MEMORY_RESOLUTION_MIB`, or by more than `MEMORY_PER_UNIT`
bytes per unit of input gained, from the fixed-cost build to the sample is projected at its
measured peak and flagged, when the projection reaches more than ten times the sample.
The √ form is an empirical fit, not a bound: it is what the estimate's test holds against a
whole build, and the further a projection reaches past its sample the less it is worth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIB = 1024 * 1024
SOURCES = ("github", "commoncrawl", "text")
#: seconds a stage must grow from the fixed-cost build to the sample for its growth to be measured
#: (two process-tree samples of corpus.app.measure)
RESOLUTION_S = 0.1
#: MiB a stage must lift its process more in the sample than in the fixed-cost build for its
#: memory to be read as growing with its input
MEMORY_RESOLUTION_MIB = 8.0
#: bytes of memory a stage may gain per unit of input it gains (byte, token, character) for the
#: gain to be read as growth with input: a stage that holds its whole input in a few forms gains
#: tens; one that gains more came by it otherwise (a larger trained tokenizer, a first-use table)
MEMORY_PER_UNIT = 256.0


@dataclass
class Measured:
    """What one measured build of a (sample) recipe gives the projection."""

    analysis: dict  # corpus.app.measure.analyse
    raw: dict[str, int]  # raw input bytes read per source
    disk: dict[str, int]  # bytes on disk per stage folder
    #: data and drop files per stage, which the manifest lists (each with the digest its task
    #: recorded): what the manifest's time grows with
    listed: dict[str, int] = field(default_factory=dict)
    planned_tokens: float = 0.0
    #: tokens available to the mix per (document group, source)
    group_tokens: dict[tuple[str, str], float] = field(default_factory=dict)
    #: documents and characters the BPE trained on (the tokenizer stage's stats)
    trained_documents: float = 0.0
    trained_chars: float = 0.0
    trained_seconds: float = 0.0  # the training alone (the stage also reads, writes and checks)
    #: each stage's least CPU seconds in a process that built the same inputs before
    warm: dict[str, float] = field(default_factory=dict)

    @property
    def stages(self) -> dict[str, dict]:
        return {r["stage"]: r for r in self.analysis["stages"]}

    def source_out(self) -> dict[str, float]:
        """Bytes each source hands to the stages over all sources (its last stage's output)."""
        out: dict[str, float] = {}
        for row in self.analysis["stages"]:
            src = row["stage"].split("/", 1)[0]
            if src in SOURCES:
                out[src] = float(row["bytes_out"] or row["bytes_in"])
        return out


@dataclass
class Fit:
    fixed: float
    per_unit: float

    @classmethod
    def through(cls, tiny: tuple[float, float] | None, sample: tuple[float, float]) -> Fit:
        """The line through (u, t) of the tiny build and of the sample, never with a negative fixed
        cost or slope (noise on a shared machine); one point alone is all slope."""
        us, ts = sample
        if us <= 0:  # nothing it grows with (a given tokenizer, no training): as measured
            return cls(ts, 0.0)
        if tiny is None or us <= tiny[0]:
            return cls(0.0, ts / us)
        ut, tt = tiny
        slope = max(0.0, (ts - tt) / (us - ut))
        return cls(max(0.0, ts - slope * us), slope)

    @classmethod
    def warm(
        cls, tiny_warm: tuple[float, float] | None, sample_warm: tuple[float, float], cold: float
    ) -> Fit:
        """The rate through the warm builds, the fixed cost what the cold sample spent beyond it."""
        rate = cls.through(tiny_warm, sample_warm).per_unit
        return cls(max(0.0, cold - rate * sample_warm[0]), rate)


def sqrt_fit(tiny: tuple[float, float] | None, sample: tuple[float, float], at: float) -> float:
    """v(u) = v_s + k·(√u − √u_s) through both points (k ≥ 0), evaluated at `at`: for what grows
    slower than its input (a task's peak memory; see the module's docstring)."""
    us, vs = sample
    if tiny is None or us <= tiny[0]:
        return vs
    ut, vt = tiny
    k = max(0.0, (vs - vt) / (math.sqrt(us) - math.sqrt(ut)))
    return max(0.0, vs + k * (math.sqrt(at) - math.sqrt(us)))


@dataclass
class StageRow:
    stage: str
    tasks: int
    bytes_in: float
    documents_in: float
    documents_out: float
    dropped_share: float | None  # documents dropped / documents in
    mib_s_per_core: float | None  # of the stage's own input, net of its fixed cost
    core_hours: float
    wall_s: float
    peak_mib: float
    disk_bytes: float
    tokens: float
    fixed_s: float
    #: the sample ran long enough beyond the fixed-cost build to show how the stage grows; when not
    #: (and the projection reaches far), its time is as measured, and `bound_core_hours` is how
    #: much more the sampling resolution allows
    resolved: bool = True
    bound_core_hours: float = 0.0
    #: the stage lifted its process more in the sample than in the fixed-cost build; when not (and
    #: the projection reaches far), its peak is as measured: what the sample's process held more
    #: came from the stages before it, which ran on more input, not from this one
    memory_resolved: bool = True


@dataclass
class Projection:
    cores: int
    rows: list[StageRow]
    startup_s: float
    manifest_s: float
    tokens_by_group: dict[str, dict[str, float]]  # group -> available, planned, epochs, share
    shards_bytes: float
    factors: dict[str, float]  # full / sample raw bytes per source
    notes: list[str] = field(default_factory=list)

    @property
    def core_hours(self) -> float:
        return sum(r.core_hours for r in self.rows) + (self.startup_s + self.manifest_s) / 3600

    @property
    def wall_s(self) -> float:
        return self.startup_s + sum(r.wall_s for r in self.rows) + self.manifest_s

    @property
    def peak_mib(self) -> float:
        return max((r.peak_mib for r in self.rows), default=0.0)

    @property
    def disk_bytes(self) -> float:
        return sum(r.disk_bytes for r in self.rows)


@dataclass
class Target:
    """The full build's side: its sizes and how its stages spread over tasks."""

    raw: dict[str, int]  # full raw bytes per source
    tasks: int  # executor.tasks of the full recipe
    #: stages that ran as one task in the sample but have a parallel form in the full recipe: a
    #: part of the stage's label -> its tasks (recall.<source>.tasks, dedup.cluster_rounds)
    parallel: dict[str, int]
    total_tokens: float | None  # mix.total_tokens
    shares: dict[str, float]  # mix group -> share
    token_bytes: int  # bytes per token in the shards (2 below a 65,500-entry vocabulary, else 4)
    sample_documents: int  # tokenizer.sample_documents
    cores: int


def core_seconds(row: dict) -> float:
    """A stage's CPU seconds, never more than its wall seconds: a stage shorter than a few
    sampling intervals is charged the CPU of the samples around it, and one that no sample fell
    in has only its wall time to go by."""
    wall = float(row["seconds"])
    return min(wall, float(row["cpu_s"])) if row.get("cpu_s") else wall


def _axis(label: str, raw: dict[str, int], entering: float, planned: float, trained: float) -> float:
    """What a stage's work grows with (see the module's docstring), in one build."""
    src, _, name = label.partition("/")
    if src in SOURCES:
        return float(raw.get(src, 0))
    if name == "tokenizer":
        return trained
    if name == "shards":
        return planned
    return entering


def _trained(build: Measured, documents: float, cap: int) -> float:
    """Characters the BPE reads when `documents` enter the mix: the build's characters per trained
    document for each of at most `cap` documents."""
    if build.trained_documents <= 0:
        return 0.0
    return build.trained_chars / build.trained_documents * min(float(cap), documents)


def plan_tokens(build: Measured, factors: dict[str, float], target: Target) -> dict[str, dict[str, float]]:
    """Tokens available per mix group at full scale, and what a plan of the target's shares takes."""
    available: dict[str, float] = {}
    for (group, source), tokens in build.group_tokens.items():
        available[group] = available.get(group, 0.0) + tokens * factors.get(source, 1.0)
    shares = {g: s for g, s in target.shares.items() if s > 0}
    if target.total_tokens:
        total = float(target.total_tokens)
    else:  # the group with the fewest tokens for its share fixes the total
        ratios = [available.get(g, 0.0) / s for g, s in shares.items()]
        total = min(ratios) if ratios else sum(available.values())
    out: dict[str, dict[str, float]] = {}
    for g, s in shares.items():
        planned = total * s
        have = available.get(g, 0.0)
        out[g] = {
            "available": have,
            "planned": planned,
            "epochs": planned / have if have else 0.0,
            "share": s,
        }
    return out


def project(sample: Measured, tiny: Measured | None, target: Target) -> Projection:
    notes: list[str] = []
    factors = {
        src: target.raw[src] / sample.raw[src] for src in sample.raw if sample.raw[src] and src in target.raw
    }
    out_s = sample.source_out()
    entering_s = sum(out_s.values())
    entering_f = sum(v * factors.get(src, 1.0) for src, v in out_s.items())
    entering_t = sum(tiny.source_out().values()) if tiny else 0.0
    tokens = plan_tokens(sample, factors, target)
    planned_f = sum(g["planned"] for g in tokens.values())
    tiny_stages = tiny.stages if tiny else {}
    rows: list[StageRow] = []
    for row in sample.analysis["stages"]:
        label = row["stage"]
        cap = target.sample_documents
        grow = entering_f / entering_s if entering_s else 1.0
        docs_s = float(row["documents_in"])
        u_s = _axis(label, sample.raw, entering_s, sample.planned_tokens, sample.trained_chars)
        u_f = _axis(label, target.raw, entering_f, planned_f, _trained(sample, docs_s * grow, cap))
        t_row = tiny_stages.get(label)
        t_point = None
        if t_row is not None and tiny is not None:
            t_point = (
                _axis(label, tiny.raw, entering_t, tiny.planned_tokens, tiny.trained_chars),
                core_seconds(t_row),
            )
        fit = Fit.through(t_point, (u_s, core_seconds(row)))
        grew = core_seconds(row) - (t_point[1] if t_point else 0.0)
        w_s = sample.warm.get(label)
        w_t = tiny.warm.get(label) if tiny is not None and t_point is not None else None
        if w_s is not None and u_s > 0 and (t_point is None or w_t is not None):
            warm_t = (t_point[0], w_t) if t_point is not None and w_t is not None else None
            fit = Fit.warm(warm_t, (u_s, w_s), core_seconds(row))
            grew = w_s - (w_t or 0.0)
        if label.endswith("/tokenizer") and u_s > 0 and sample.trained_seconds > 0:
            train = min(sample.trained_seconds, core_seconds(row))
            fit = Fit(core_seconds(row) - train, train / u_s)
        scale = u_f / u_s if u_s else 1.0
        tasks = target.tasks if row["tasks"] > 1 else 1
        if tasks == 1:  # one task in the sample; the full recipe may run its parallel form
            tasks = next((n for key, n in target.parallel.items() if key in label), 1)
        slots = max(1, min(target.cores, tasks))
        resolved = (fit.per_unit > 0 and grew >= RESOLUTION_S) or u_f <= u_s * 10
        bound = 0.0
        if not resolved and t_point is not None and u_s > t_point[0]:
            # growth under the sampling resolution: projected as measured (the least of --repeat
            # builds), and the most it can be is said apart, so that a column of such stages does
            # not add up to an estimate that is all upper bounds
            bound = max(0.0, RESOLUTION_S / (u_s - t_point[0]) - fit.per_unit) * u_f
        work = fit.per_unit * u_f
        per_task = u_f / tasks
        peak_point = (u_s / max(1, row["tasks"]), row["peak_process_rss_mib"])
        tiny_peak = (
            (t_point[0] / max(1, t_row["tasks"]), t_row["peak_process_rss_mib"])
            if t_point is not None and t_row is not None
            else None
        )
        net = core_seconds(row) - fit.fixed
        peak = sqrt_fit(tiny_peak, peak_point, per_task)
        rise_s, rise_t = row.get("rise_process_rss_mib"), (t_row or {}).get("rise_process_rss_mib")
        memory_resolved = (
            tiny_peak is None
            or rise_s is None
            or rise_t is None
            or per_task <= peak_point[0] * 10
            or (
                rise_s - rise_t >= MEMORY_RESOLUTION_MIB
                and (rise_s - rise_t) * MIB <= MEMORY_PER_UNIT * max(0.0, peak_point[0] - tiny_peak[0])
            )
        )
        if not memory_resolved:
            peak = peak_point[1]
        rows.append(
            StageRow(
                stage=label,
                tasks=tasks,
                bytes_in=row["bytes_in"] * scale,
                documents_in=row["documents_in"] * scale,
                documents_out=row["documents_out"] * scale,
                dropped_share=row["dropped"] / row["documents_in"] if row["documents_in"] else None,
                mib_s_per_core=row["bytes_in"] / MIB / net if net > 0 and row["bytes_in"] else None,
                core_hours=(work + fit.fixed * slots) / 3600,
                wall_s=fit.fixed + work / slots,
                peak_mib=peak,
                disk_bytes=_disk(label, sample, tiny, t_point, u_s, u_f),
                tokens=row["tokens"] * scale,
                fixed_s=fit.fixed,
                resolved=resolved,
                bound_core_hours=bound / 3600,
                memory_resolved=memory_resolved,
            )
        )
    shards_bytes = 0.0
    for r in rows:
        if r.stage.endswith("/shards") and sample.planned_tokens:
            # the token files take the target's token width; the Parquet twins and indexes scale
            sample_bin = sample.planned_tokens * sample_token_bytes(sample)
            other = max(0.0, sample.disk.get(r.stage, 0) - sample_bin)
            r.disk_bytes = other * planned_f / sample.planned_tokens + planned_f * target.token_bytes
            shards_bytes = r.disk_bytes
    a_s = sample.analysis
    startups = [a_s["startup_cpu_s"]] + ([tiny.analysis["startup_cpu_s"]] if tiny else [])
    startup = sum(startups) / len(startups)
    # the manifest lists the data and drop files in the main process, reading the digest each task
    # recorded: it grows with their number, which each stage's tasks multiply
    files_s = sum(sample.listed.values())
    files_f = sum(
        sample.listed.get(r.stage, 0) * r.tasks / max(1, s_row["tasks"])
        for r, s_row in zip(rows, sample.analysis["stages"], strict=True)
    )
    manifest = a_s["manifest_exit_cpu_s"] * (files_f / files_s if files_s else 1.0)
    if tiny is None:
        notes.append("no fixed-cost build: every second of the sample counts as work that grows with input")
    unresolved = [r.stage for r in rows if not r.resolved]
    if unresolved:
        more = sum(r.bound_core_hours for r in rows)
        notes.append(
            f"too short in the sample to show how they grow ({', '.join(unresolved)}): they grew by "
            f"less than {RESOLUTION_S} s from the fixed-cost build to the sample; their time is as measured, "
            f"and could be up to {more:,.3g} core-hours more in all; a larger sample (--sample-bytes, a larger "
            "stand-in) resolves them"
        )
    flat = [r.stage for r in rows if not r.memory_resolved]
    if flat:
        notes.append(
            f"memory as measured (~) for {', '.join(flat)}: from the fixed-cost build to the sample they lifted "
            f"their process by less than {MEMORY_RESOLUTION_MIB:g} MiB more (what the process held more came "
            f"from the stages before them), or by more than {MEMORY_PER_UNIT:g} bytes per unit of input they "
            "gained (a larger tokenizer, a first-use table); a larger sample resolves them"
        )
    reach = max(factors.values(), default=1.0)
    if reach > 100:
        notes.append(
            f"the full inputs are {reach:,.0f} times the sample: rates and drops are the sample's, memory "
            "is extrapolated that far; read the figures as orders of magnitude"
        )
    return Projection(target.cores, rows, startup, manifest, tokens, shards_bytes, factors, notes)


def _disk(
    label: str,
    sample: Measured,
    tiny: Measured | None,
    t_point: tuple[float, float] | None,
    u_s: float,
    u_f: float,
) -> float:
    """A stage's bytes on disk, fitted like its time: models, tokenizers and indexes are a fixed
    size whatever the input, documents grow with it."""
    tiny_disk = (t_point[0], float(tiny.disk.get(label, 0))) if tiny is not None and t_point else None
    fit = Fit.through(tiny_disk, (u_s, float(sample.disk.get(label, 0))))
    return fit.fixed + fit.per_unit * u_f


def sample_token_bytes(build: Measured) -> int:
    dtype = build.analysis.get("token_dtype", "uint16")
    return 4 if dtype == "int32" else 2
