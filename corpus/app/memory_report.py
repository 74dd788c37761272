"""The memory table `coderforge train --dry-run` prints, and the refusal when a layout does not fit.

The table goes to stderr so that stdout stays the machine-readable JSON summary (which carries the
same plan under "memory"); a layout over `--gpu-memory` is refused in one line that names the
smallest layout the planner found to fit, as `--set` options ready to paste.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from corpus.core.errors import UserError
from trainer.memory_plan import MemoryPlan, human_bytes, suggest_layout
from trainer.recipe import TrainRecipe


def _count(n: float) -> str:
    for unit in ("", "K", "M", "B"):
        if abs(n) < 1000 or unit == "B":
            return f"{n:.0f}" if unit == "" else f"{n:.2f}{unit}"
        n /= 1000
    raise AssertionError("unreachable")


def print_plan(plan: MemoryPlan, capacity: int | None, console: Console) -> None:
    """Per pipeline stage, what one GPU rank of that stage holds, and the peak against `capacity`."""
    lay = plan.layout
    title = (
        f"memory per GPU rank: {lay.describe()}; {plan.precision}, micro-batch {plan.micro_batch} x "
        f"{plan.seq_length}, {plan.num_microbatches} micro-batches per step"
        + (" (1F1B)" if lay.pipeline > 1 else "")
    )
    table = Table(title=title, title_justify="left")
    columns = (
        "stage",
        "layers",
        "params",
        "weights",
        "grads",
        "optimizer",
        "act/mb",
        "in flight",
        "activations",
        "transient",
        "margin",
        "total",
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("stage", "layers") else "right")
    for s in plan.stages:
        over = capacity is not None and s.total > capacity
        table.add_row(
            str(s.stage),
            f"{s.layers[0]}-{s.layers[1] - 1}",
            _count(s.parameters),
            human_bytes(s.weights),
            human_bytes(s.gradients),
            human_bytes(s.optimizer),
            human_bytes(s.activations_per_microbatch),
            str(s.microbatches_in_flight),
            human_bytes(s.activations),
            human_bytes(s.transient),
            human_bytes(s.margin),
            f"[red]{human_bytes(s.total)}[/red]" if over else human_bytes(s.total),
        )
    console.print(table)
    peak = plan.peak
    line = f"peak {human_bytes(peak.total)} on stage {peak.stage}"
    if capacity is not None:
        verdict = "fits" if plan.fits(capacity) else "[red]does not fit[/red]"
        line += f" of {human_bytes(capacity)} per GPU: {verdict}"
    console.print(line)


def refuse_if_over(
    plan: MemoryPlan, recipe: TrainRecipe, capacity: int, gpus: int | None, source: str
) -> None:
    """Raise a one-line `UserError` naming the smallest layout that fits when `plan` does not."""
    if plan.fits(capacity):
        return
    lay = plan.layout
    head = (
        f"{source}: {lay.describe()} needs {human_bytes(plan.peak_bytes)} on pipeline stage "
        f"{plan.peak.stage}, more than --gpu-memory {human_bytes(capacity)}"
    )
    found = suggest_layout(recipe, capacity, gpus) if gpus is not None else None
    note = ""
    if found is None:
        if gpus is not None:
            note = f"no layout of {gpus} GPUs fits; "
        found = suggest_layout(recipe, capacity, None)
    if found is None:
        raise UserError(
            f"{head}; {note}no layout of up to 4096 GPUs fits (a smaller micro-batch or sequence?)"
        )
    raise UserError(
        f"{head}; {note}smallest layout that fits: {found.layout.gpus} GPUs (--gpus {found.layout.gpus} "
        f"{found.layout.overrides()}), peak {human_bytes(found.peak_bytes)}"
    )
