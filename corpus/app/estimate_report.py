"""The tables `coderforge estimate` prints: per stage, the sources and what is assumed, the mix.

Figures that rest on an assumption rather than on a measured sample or a size read from the
inputs are marked `*`, and the sources table says where each size came from.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corpus.app.estimate import Estimate


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_count(n: float) -> str:
    for unit in ("", "k", "M", "G", "T", "P"):
        if abs(n) < 1000 or unit == "P":
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def hours(h: float) -> str:
    return f"{h:,.0f}" if h >= 100 else f"{h:.3g}"


def factor(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}"


def stage_table(est: Estimate) -> Table:
    p = est.projection
    mark = "*" if any(s.assumed for s in est.sources.values()) else ""
    table = Table(
        title=f"estimate: {est.target_name}, full inputs, {p.cores:,} cores"
        + (" (* rests on assumed sizes; see sources)" if mark else "")
        + (
            "; ? ~: grew too little in the sample to measure well (as measured; see the notes)"
            if any(not r.resolved for r in p.rows)
            else ""
        ),
        title_justify="left",
    )
    for col in (
        "stage",
        "tasks",
        "input",
        "dropped",
        "MiB/s/core",
        "core-hours",
        "wall",
        "peak/task",
        "disk out",
        "tokens",
    ):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in p.rows:
        table.add_row(
            r.stage,
            human_count(r.tasks),
            human_bytes(r.bytes_in) + mark if r.bytes_in else "-",
            f"{100 * r.dropped_share:.1f}%" if r.dropped_share else "-",
            f"{r.mib_s_per_core:.1f}"
            if r.mib_s_per_core and r.resolved
            else ("?" if not r.resolved else "-"),
            ("~ " if not r.resolved else "") + hours(r.core_hours) + mark,
            ("~ " if not r.resolved else "") + human_time(r.wall_s) + mark,
            ("~ " if not r.memory_resolved else "") + f"{r.peak_mib:,.0f} MiB",
            human_bytes(r.disk_bytes) + mark if r.disk_bytes else "-",
            human_count(r.tokens) + mark if r.tokens else "-",
        )
    fixed = p.startup_s + p.manifest_s
    table.add_row("start-up + manifest", "1", "", "", "", hours(fixed / 3600), human_time(fixed), "", "", "")
    table.add_section()
    table.add_row(
        "whole build",
        "",
        human_bytes(sum(s.total for s in est.sources.values())) + mark,
        "",
        "",
        hours(p.core_hours) + mark,
        human_time(p.wall_s) + mark,
        f"{p.peak_mib:,.0f} MiB",
        human_bytes(p.disk_bytes) + mark,
        "",
    )
    return table


def sampled_cell(est: Estimate, name: str) -> str:
    """Inputs (or files of how many inputs) in the sample, and the bytes of the source it stands for."""
    inputs = f"{len(est.sampled.get(name, []))} of {est.sample_inputs.get(name, 0)}"
    if name in est.sample_files:
        picked, of = est.sample_files[name]
        inputs = f"{picked:,} of {of:,} files in {inputs}"
    return f"{inputs}, {human_bytes(est.sample_raw.get(name, 0))}"


def source_table(est: Estimate) -> Table:
    table = Table(title="sources: full size, where it comes from, and the sample built", title_justify="left")
    for col in ("source", "full size", "inputs", "sampled", "full/sample", "size from"):
        table.add_column(col, justify="left" if col in ("source", "size from") else "right")
    for name, s in est.sources.items():
        table.add_row(
            name,
            human_bytes(s.total) + ("*" if s.assumed else ""),
            human_count(s.inputs) if s.inputs else "-",
            sampled_cell(est, name),
            factor(est.projection.factors.get(name, 0.0)),
            escape(s.note),
        )
    return table


def mix_table(est: Estimate) -> Table:
    p = est.projection
    table = Table(title="tokens out per mix group", title_justify="left")
    for col in ("group", "share", "available", "planned", "epochs"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for group, g in p.tokens_by_group.items():
        table.add_row(
            group,
            f"{100 * g['share']:.0f}%",
            human_count(g["available"]),
            human_count(g["planned"]),
            f"{g['epochs']:.2f}",
        )
    return table


def print_estimate(est: Estimate, console: Console) -> None:
    console.print(stage_table(est))
    console.print(source_table(est))
    if est.projection.tokens_by_group:
        console.print(mix_table(est))
    p = est.projection
    console.print(
        f"shards: {human_bytes(p.shards_bytes)}; whole build {hours(p.core_hours)} core-hours, "
        f"{human_time(p.wall_s)} on {p.cores:,} cores, peak {p.peak_mib:,.0f} MiB per task, "
        f"{human_bytes(p.disk_bytes)} on disk"
    )
    for note in p.notes:
        console.print(f"note: {escape(note)}")
