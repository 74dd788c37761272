"""Start training in one process, as N local ranks under torchrun, or as one rank per Ray actor.

All three run the same `trainer.train.train()` on the same recipe; what differs is only who sets
RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT. Under Ray the recipe and its data must be
readable at the same paths on every node (a shared filesystem or an fsspec URL).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from corpus.core.atomic import atomic_write_text
from corpus.core.errors import UserError
from trainer.cpu_compat import te_available
from trainer.data import resolve_blend
from trainer.distributed import free_port, shutdown
from trainer.recipe import TrainRecipe, load_recipe, parse_override


@dataclass
class LaunchRequest:
    recipe: str
    stage: str = "pretrain"
    overrides: list[str] = field(default_factory=list)
    resume: bool = True
    steps: int | None = None
    result_path: str | None = None
    #: a prepared checkpoint folder (`trainer.init_from.prepare`) and what to take from it
    init_from: str | None = None
    init_state: str = "weights"

    def worker_args(self) -> list[str]:
        args = [self.recipe, "--stage", self.stage]
        for o in self.overrides:
            args += ["--set", o]
        if not self.resume:
            args.append("--no-resume")
        if self.steps is not None:
            args += ["--steps", str(self.steps)]
        if self.init_from is not None:
            args += ["--init-from", self.init_from, "--init-state", self.init_state]
        return args


def preflight(recipe: TrainRecipe) -> None:
    """Mistakes that every rank would hit, found before any rank (or Ray actor) starts."""
    resolve_blend(recipe.data)
    if recipe.parallel.tensor > 1 and not (te_available() or importlib.util.find_spec("apex") is not None):
        raise UserError(
            "parallel.tensor > 1 needs TransformerEngine or Apex: megatron-core's MoE layers require "
            "sequence parallelism, whose norms only those provide; use parallel.expert and data parallelism"
        )


def run_in_process(req: LaunchRequest, progress: bool = True) -> dict[str, Any]:
    """Train here (a world of one unless the environment already describes a bigger one)."""
    overrides = dict(parse_override(o) for o in req.overrides)
    recipe = load_recipe(req.recipe, overrides)
    resolve_blend(recipe.stage(req.stage).data)  # data mistakes surface before megatron is imported
    # megatron (through trainer.train): loaded only by a process that trains, never by the launcher
    from trainer.train import result_to_json, train

    result = result_to_json(
        train(
            recipe,
            req.stage,
            resume=req.resume,
            steps=req.steps,
            progress=progress,
            init_from=req.init_from,
            init_state=req.init_state,
        )
    )
    if req.result_path and int(os.environ.get("RANK", "0")) == 0:
        atomic_write_text(req.result_path, json.dumps(result, indent=1))
    return result


def run_torchrun(req: LaunchRequest, nproc: int) -> dict[str, Any]:
    """`torchrun --standalone --nproc-per-node N` over `python -m trainer.worker`."""
    if nproc < 1:
        raise UserError(f"--nproc must be at least 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="coderforge-train-") as tmp:
        result_path = req.result_path or os.path.join(tmp, "result.json")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "trainer.worker",
            *req.worker_args(),
            "--result",
            result_path,
        ]
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        proc = subprocess.run(cmd, env=env, check=False)
        error_file = result_path + ".error"
        if os.path.exists(error_file):
            # a rank stopped on a user mistake: report it as one line, like a single-process run
            with open(error_file, encoding="utf-8") as f:
                message = f.read().strip()
            os.unlink(error_file)
            raise UserError(message)
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun exited with code {proc.returncode}")
        with open(result_path, encoding="utf-8") as f:
            return json.load(f)


def _ray_rank_main(req: LaunchRequest, env: dict[str, str]) -> dict[str, Any] | None:
    os.environ.update(env)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = run_in_process(req, progress=env["RANK"] == "0")
    shutdown()
    return result if env["RANK"] == "0" else None


def run_ray(
    req: LaunchRequest, address: str, nproc: int, gpus_per_rank: float | None = None
) -> dict[str, Any]:
    """One rank per Ray actor; rank 0's node hosts the rendezvous (its IP and a free port).

    `address` is anything `ray.init` takes (host:port, ray://..., auto), or "local" to start a
    private single-node Ray instance for this run.
    """
    try:
        # ray: the ray extra, needed only for --ray-address
        import ray
    except ImportError:
        raise UserError("--ray-address needs Ray: pip install 'coderforge[ray]'") from None
    if nproc < 1:
        raise UserError(f"--nproc must be at least 1, got {nproc}")
    try:
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            ignore_reinit_error=True,
            log_to_driver=True,
        )
    except ConnectionError as e:
        raise UserError(f"--ray-address {address}: cannot connect ({e})") from None
    if gpus_per_rank is None:
        gpus_per_rank = 1.0 if ray.cluster_resources().get("GPU", 0) >= nproc else 0.0

    @ray.remote(num_cpus=1, num_gpus=gpus_per_rank)
    class Rank:
        def node(self) -> tuple[str, int]:
            return ray.util.get_node_ip_address(), free_port()

        def node_id(self) -> str:
            return ray.get_runtime_context().get_node_id()

        def run(self, req: LaunchRequest, env: dict[str, str]) -> dict[str, Any] | None:
            return _ray_rank_main(req, env)

    actors = [Rank.remote() for _ in range(nproc)]
    master_addr, master_port = ray.get(actors[0].node.remote())
    node_ids = ray.get([a.node_id.remote() for a in actors])
    local_ranks: list[int] = []
    seen: dict[str, int] = {}
    for nid in node_ids:
        local_ranks.append(seen.get(nid, 0))
        seen[nid] = seen.get(nid, 0) + 1
    futures = []
    for rank, actor in enumerate(actors):
        env = {
            "RANK": str(rank),
            "WORLD_SIZE": str(nproc),
            "LOCAL_RANK": str(local_ranks[rank] if gpus_per_rank == 0 else 0),
            "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(master_port),
        }
        futures.append(actor.run.remote(req, env))
    results = ray.get(futures)
    for a in actors:
        ray.kill(a)
    result = results[0]
    if req.result_path:
        atomic_write_text(req.result_path, json.dumps(result, indent=1))
    return result
