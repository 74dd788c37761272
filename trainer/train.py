"""The training loop, built from megatron-core parts.

megatron-core 0.16.1 ships no training script, so the loop is ours, but every piece inside it is
megatron's: the DDP wrapper and its gradient buffers, `get_megatron_optimizer` (AdamW, clipping, the
distributed optimizer where asked), `OptimizerParamScheduler` (warm-up then cosine to a floor), the
micro-batch calculator (batch-size ramp), `get_forward_backward_func` (gradient accumulation and the
MoE aux-loss scaling) and `dist_checkpointing` (sharded save/resume, layout changes on load).

One process, torchrun and Ray ranks all run `train()`; rank 0 logs and writes metrics.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
import torch.distributed as dist
from megatron.core import parallel_state
from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig
from megatron.core.distributed.finalize_model_grads import finalize_model_grads
from megatron.core.num_microbatches_calculator import (
    destroy_num_microbatches_calculator,
    get_current_global_batch_size,
    get_num_microbatches,
    init_num_microbatches_calculator,
    update_num_microbatches,
)
from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler
from megatron.core.pipeline_parallel import get_forward_backward_func
from megatron.core.transformer.module import Float16Module
from megatron.core.transformer.moe.moe_utils import (
    clear_aux_losses_tracker,
    get_moe_layer_wise_logging_tracker,
    reduce_aux_losses_tracker_across_ranks,
)
from tqdm import tqdm

from corpus.core.errors import UserError
from trainer import checkpoint as ckpt
from trainer.cpu_compat import te_available
from trainer.data import BatchIterator, build_datasets, resolve_blend
from trainer.distributed import init_distributed, init_model_parallel
from trainer.model.builder import build_gpt_model, layout_independent_init, transformer_config
from trainer.model.router import DeepSeekV2Router
from trainer.model.shapes import train_flops_per_token
from trainer.pipeline import from_last_stage
from trainer.recipe import TrainRecipe
from trainer.throughput import peak_tflops


@dataclass
class StepMetrics:
    step: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    mfu: float | None
    aux: dict[str, float] = field(default_factory=dict)
    #: per MoE layer, tokens routed to each expert during the step (all ranks)
    expert_load: list[list[int]] = field(default_factory=list)

    @property
    def load_imbalance(self) -> float:
        """Mean over MoE layers of (busiest expert's tokens) / (mean tokens per expert)."""
        ratios = [max(layer) / (sum(layer) / len(layer)) for layer in self.expert_load if sum(layer)]
        return sum(ratios) / len(ratios) if ratios else 0.0


@dataclass
class TrainResult:
    stage: str
    start_step: int
    final_step: int
    steps: list[StepMetrics]
    eval_losses: list[tuple[int, float]]
    checkpoint: str | None

    @property
    def losses(self) -> list[float]:
        return [s.loss for s in self.steps]


def _loss_func(loss_mask: torch.Tensor, output_tensor: torch.Tensor):
    losses = output_tensor.float()
    mask = loss_mask.reshape(-1).float()
    loss = torch.sum(losses.reshape(-1) * mask) / mask.sum().clamp(min=1.0)
    # megatron divides the returned loss in place by the micro-batch count: report a copy
    return loss, {"lm loss": loss.detach().clone()}


def _forward_step(device: torch.device, data_iterator, model):
    batch = next(data_iterator)
    tokens = batch["tokens"].to(device, non_blocking=True)
    labels = batch["labels"].to(device, non_blocking=True)
    loss_mask = batch["loss_mask"].to(device, non_blocking=True)
    position_ids = batch["position_ids"].to(device, non_blocking=True)
    output = model(tokens, position_ids, None, labels=labels)
    return output, partial(_loss_func, loss_mask)


class Trainer:
    """Sets up model, optimizer, schedule and data for one stage of a recipe, then runs it."""

    def __init__(
        self,
        recipe: TrainRecipe,
        stage: str = "pretrain",
        *,
        resume: bool = True,
        log: Callable[[str], None] | None = None,
        progress: bool = True,
        init_from: str | None = None,
        init_state: str = "weights",
    ) -> None:
        self.base_recipe = recipe
        #: a checkpoint to start from when the run has none of its own (`--init-from`)
        self.init_from = init_from
        self.init_state = init_state
        self.stage = stage
        self.recipe = recipe.stage(stage)
        self.resume = resume
        self.progress = progress
        self._log = log or print
        self.info = init_distributed()
        self.is_logger = dist.get_rank() == 0
        r = self.recipe
        p = r.parallel
        world = dist.get_world_size()
        if world % (p.tensor * p.pipeline) or (world // p.pipeline) % (p.tensor * p.expert):
            raise UserError(
                f"world size {world} does not fit parallel.pipeline={p.pipeline} stages of "
                f"parallel.tensor x parallel.expert = {p.tensor * p.expert} ranks each"
                + (" (start more ranks, e.g. --nproc)" if world < p.pipeline * p.tensor * p.expert else "")
            )
        if self.info.device.type == "cpu" and r.training.precision == "bf16":
            # megatron's mixed-precision optimizer only knows CUDA tensors; the CPU path trains in fp32
            self.log("training.precision=bf16 needs a GPU; training in fp32 on the CPU")
            r.training.precision = "fp32"
        if r.parallel.tensor > 1 and not (te_available() or importlib.util.find_spec("apex") is not None):
            raise UserError(
                "parallel.tensor > 1 needs TransformerEngine or Apex: megatron-core's MoE layers require "
                "sequence parallelism, whose norms only those provide; use parallel.expert and data parallelism"
            )
        if self.info.device.type == "cpu" and r.parallel.distributed_optimizer:
            # megatron's distributed optimizer only wraps CUDA tensors
            self.log("parallel.distributed_optimizer needs GPUs; using the plain optimizer on the CPU")
            r.parallel.distributed_optimizer = False
        init_model_parallel(
            r.parallel.tensor, r.parallel.expert, r.training.seed, pipeline=r.parallel.pipeline
        )
        self.ps = parallel_state
        self.dp_rank = parallel_state.get_data_parallel_rank()
        self.dp_size = parallel_state.get_data_parallel_world_size()
        self._setup_batches()
        self.blend = resolve_blend(r.data)
        if r.model.vocab_size is None:
            if self.blend.vocab_size is None:
                raise UserError("model.vocab_size is null but the data has no manifest vocab_size; set it")
            r.model.vocab_size = self.blend.vocab_size
        elif self.blend.vocab_size is not None and self.blend.vocab_size > r.model.vocab_size:
            raise UserError(
                f"model.vocab_size={r.model.vocab_size} is smaller than the shards' vocabulary "
                f"({self.blend.vocab_size})"
            )
        self._setup_model()
        self._setup_optimizer()
        self.step = 0
        self.consumed_samples = 0
        self.ckpt_root = (
            ckpt.stage_dir(r.training.checkpoint_dir, stage) if r.training.checkpoint_dir else None
        )
        self._maybe_load()
        self._setup_data()

    def log(self, msg: str) -> None:
        if self.is_logger:
            self._log(msg)

    # --- setup ---------------------------------------------------------------------------------
    def _setup_batches(self) -> None:
        b = self.recipe.batch
        if b.global_batch_size % (b.micro_batch_size * self.dp_size):
            raise UserError(
                f"batch.global_batch_size={b.global_batch_size} is not a multiple of micro_batch_size x "
                f"data-parallel ranks = {b.micro_batch_size * self.dp_size}"
            )
        destroy_num_microbatches_calculator()
        init_num_microbatches_calculator(
            dist.get_rank(), b.rampup, b.global_batch_size, b.micro_batch_size, self.dp_size
        )

    def _setup_model(self) -> None:
        r = self.recipe
        yarn = r.long_context.yarn if self.stage != "pretrain" else None
        self.config = transformer_config(r.model, r.parallel, precision=r.training.precision, yarn=yarn)
        model = build_gpt_model(self.config, r.model, max_sequence_length=r.data.seq_length)
        model = model.to(self.info.device)
        layout_independent_init(model, r.model, r.training.seed)
        if r.training.precision == "bf16":
            model = Float16Module(self.config, model)
        ddp_config = DistributedDataParallelConfig(
            grad_reduce_in_fp32=True,
            overlap_grad_reduce=False,
            use_distributed_optimizer=r.parallel.distributed_optimizer,
            average_in_collective=False,
        )
        self.model = DistributedDataParallel(self.config, ddp_config, model)
        self.config.finalize_model_grads_func = finalize_model_grads
        self.config.no_sync_func = self.model.no_sync
        self.routers = [m for m in self.model.modules() if isinstance(m, DeepSeekV2Router)]

    def _setup_optimizer(self) -> None:
        r = self.recipe
        o = r.optimizer
        cfg = OptimizerConfig(
            optimizer="adam",
            lr=o.lr,
            min_lr=o.lr * o.min_lr_ratio,
            weight_decay=o.weight_decay,
            adam_beta1=o.beta1,
            adam_beta2=o.beta2,
            adam_eps=o.eps,
            clip_grad=o.clip_grad,
            bf16=r.training.precision == "bf16",
            params_dtype=self.config.params_dtype,
            use_distributed_optimizer=r.parallel.distributed_optimizer,
        )
        self.optimizer = get_megatron_optimizer(cfg, [self.model])
        self.config.grad_scale_func = self.optimizer.scale_loss
        decay = o.decay_steps or r.training.steps
        self.scheduler = OptimizerParamScheduler(
            self.optimizer,
            init_lr=0.0 if o.warmup_steps else o.lr,
            max_lr=o.lr,
            min_lr=o.lr * o.min_lr_ratio,
            lr_warmup_steps=o.warmup_steps,
            lr_decay_steps=max(decay, o.warmup_steps + 1),
            lr_decay_style="cosine" if o.min_lr_ratio < 1 else "constant",
            start_wd=o.weight_decay,
            end_wd=o.weight_decay,
            wd_incr_steps=max(decay, 1),
            wd_incr_style="constant",
        )

    def _setup_data(self) -> None:
        r = self.recipe
        blend = self.blend
        b = r.batch
        train_samples = r.training.steps * b.global_batch_size
        n_evals = (r.training.steps // r.training.eval_interval if r.training.eval_interval else 0) + 1
        eval_samples = n_evals * r.training.eval_steps * b.global_batch_size
        data = r.data
        if data.cache_dir is None and r.training.checkpoint_dir:
            # megatron's sample/shuffle indexes, kept beside the checkpoints so a resume reuses them
            data = data.model_copy(
                update={"cache_dir": os.path.join(r.training.checkpoint_dir, "data-cache")}
            )
        self.train_ds, self.valid_ds = build_datasets(
            data, blend, r.training.seed, train_samples, eval_samples
        )
        self.train_iter = BatchIterator(
            self.train_ds, b.micro_batch_size, self.dp_rank, self.dp_size, start=self.consumed_samples
        )

    def _maybe_load(self) -> None:
        if self.ckpt_root is None:
            return
        latest = ckpt.latest(self.ckpt_root) if self.resume else None
        if latest is not None:
            state = ckpt.load(latest, self.model, self.optimizer, self.scheduler, with_optimizer=True)
            self.step = state["step"]
            self.consumed_samples = state["consumed_samples"]
            self.log(f"resumed {self.stage} from {latest} at step {self.step}")
            if state["weights_only"]:
                self.log(f"{latest} holds weights only: optimizer and LR schedule start fresh")
            elif not state["optimizer_restored"]:
                why = (
                    "pipeline stages group their optimizers differently"
                    if state["saved_layout"] == ckpt.current_layout()
                    else f"parallel layout changed ({state['saved_layout']} -> {ckpt.current_layout()})"
                )
                self.log(f"{why}: weights, LR schedule and data position restored; optimizer moments restart")
            return
        if self.init_from is not None:
            self._load_init_from(self.init_from)
            return
        if self.stage != "pretrain":
            names = ["pretrain", *(s.name for s in self.base_recipe.long_context.stages)]
            prev = names[self.base_recipe.stage_index(self.stage) - 1]
            prev_latest = ckpt.latest(ckpt.stage_dir(self.recipe.training.checkpoint_dir, prev))
            if prev_latest is None:
                raise UserError(
                    f"stage {self.stage!r} starts from stage {prev!r}, which has no checkpoint under "
                    f"{self.recipe.training.checkpoint_dir}; train it first"
                )
            ckpt.load(prev_latest, self.model, None, None, with_optimizer=False)
            self.log(f"{self.stage}: starting from the weights of {prev_latest}")

    def _load_init_from(self, path: str) -> None:
        """Weights (default) or everything from `path`; see `trainer.init_from`."""
        # the trainer's torch/megatron-core modules load only when this runs
        from trainer.checkpoint_forward import read_common
        from trainer.init_from import compare_models

        for line in compare_models(self.recipe.model, read_common(path).get("model_config") or {}, path):
            self.log(f"init-from: {line}")
        if self.init_state == "all":
            state = ckpt.load(path, self.model, self.optimizer, self.scheduler, with_optimizer=True)
            if not state["weights_only"]:
                self.step = state["step"]
                self.consumed_samples = state["consumed_samples"]
            self.log(f"{self.stage}: starting from {path} (everything) at step {self.step}")
        else:
            ckpt.load(path, self.model, None, None, with_optimizer=False)
            self.log(
                f"{self.stage}: starting from the weights of {path}; optimizer and LR schedule start fresh"
            )

    # --- one step ------------------------------------------------------------------------------
    def _aux_losses(self, num_microbatches: int) -> dict[str, float]:
        tracker = get_moe_layer_wise_logging_tracker()
        # ours (LOSS_NAMES) or megatron's own when the stock router is selected
        names = self._pipeline_aux_names(sorted(tracker))
        out: dict[str, float] = {}
        if names:
            reduce_aux_losses_tracker_across_ranks(names)
            n_moe = max(self.recipe.model.num_moe_layers, 1)
            for n in names:
                out[n] = float(tracker[n]["values"].sum()) / n_moe / num_microbatches
            clear_aux_losses_tracker()
        return out

    def _pipeline_aux_names(self, names: list[str]) -> list[str]:
        """The tracked aux-loss names of the whole pipeline, each present (zeros) on every stage.

        megatron sums the tracker over the pipeline group name by name, so a stage without MoE layers
        (DeepSeek-V2's dense first layer alone) must still take part in every reduction.
        """
        if self.ps.get_pipeline_model_parallel_world_size() == 1:
            return names
        gathered: list[list[str] | None] = [None] * self.ps.get_pipeline_model_parallel_world_size()
        dist.all_gather_object(gathered, names, group=self.ps.get_pipeline_model_parallel_group())
        union = sorted({n for part in gathered for n in part or []})
        tracker = get_moe_layer_wise_logging_tracker()
        for n in union:
            if n not in tracker:
                tracker[n] = {
                    "values": torch.zeros(self.recipe.model.num_layers, device=self.info.device),
                    "reduce_group": self.ps.get_tensor_and_context_parallel_group(),
                    "avg_group": None,
                    "reduce_group_has_dp": False,
                }
        return union

    def _expert_load(self) -> list[list[int]]:
        """Per MoE layer (global order), tokens routed to each expert, summed over all ranks."""
        m = self.recipe.model
        if m.num_moe_layers == 0 or m.router != "deepseek-v2":
            return []
        load = torch.zeros(m.num_moe_layers, m.num_experts, dtype=torch.long, device=self.info.device)
        for r in self.routers:
            # each stage fills the rows of its own layers; the sum over the world fills them all
            load[int(r.layer_number) - 1 - m.first_dense_layers] += r.take_expert_load().to(load)
        dist.all_reduce(load)
        return load.cpu().tolist()

    def _mean_loss(self, outs: list[dict[str, torch.Tensor]]) -> float:
        """The step's mean LM loss, computed on the last pipeline stage, averaged over data ranks."""
        if outs:
            local = torch.stack([o["lm loss"] for o in outs]).float().mean().to(self.info.device)
        else:  # not the last stage: the value comes from there
            local = torch.zeros((), device=self.info.device)
        loss = from_last_stage(local)
        dist.all_reduce(loss, group=self.ps.get_data_parallel_group())
        return float(loss) / self.dp_size

    def train_step(self) -> tuple[float, float, dict[str, float], list[list[int]]]:
        update_num_microbatches(self.consumed_samples, consistency_check=True)
        n_micro = get_num_microbatches()
        self.model.train()
        self.model.zero_grad_buffer()
        self.optimizer.zero_grad()
        fwd_bwd = get_forward_backward_func()
        outs = fwd_bwd(
            forward_step_func=partial(_forward_step, self.info.device),
            data_iterator=self.train_iter,
            model=[self.model],
            num_microbatches=n_micro,
            seq_length=self.recipe.data.seq_length,
            micro_batch_size=self.recipe.batch.micro_batch_size,
            forward_only=False,
        )
        ok, grad_norm, _ = self.optimizer.step()
        if not ok:
            raise RuntimeError(f"optimizer step {self.step + 1} failed (non-finite gradients)")
        gbs = get_current_global_batch_size()
        self.scheduler.step(increment=1)
        self.consumed_samples += gbs
        self.step += 1
        loss = self._mean_loss(outs)
        return loss, float(grad_norm or 0.0), self._aux_losses(n_micro), self._expert_load()

    @torch.no_grad()
    def evaluate(self) -> float | None:
        if self.valid_ds is None or len(self.valid_ds) == 0:
            return None
        self.model.eval()
        b = self.recipe.batch
        n_micro = get_num_microbatches()
        it = BatchIterator(self.valid_ds, b.micro_batch_size, self.dp_rank, self.dp_size)
        losses = []
        for _ in range(self.recipe.training.eval_steps):
            outs = get_forward_backward_func()(
                forward_step_func=partial(_forward_step, self.info.device),
                data_iterator=it,
                model=[self.model],
                num_microbatches=n_micro,
                seq_length=self.recipe.data.seq_length,
                micro_batch_size=b.micro_batch_size,
                forward_only=True,
            )
            losses += list(outs)
        for r in self.routers:
            r.take_expert_load()
        self.model.train()
        return self._mean_loss(losses)

    def save(self) -> str | None:
        if self.ckpt_root is None:
            return None
        r = self.recipe
        yarn = r.long_context.yarn if self.stage != "pretrain" else None
        # what the weights are, so `coderforge checkpoint export/forward` need no recipe
        extra = {
            "model_config": r.model.model_dump(mode="json"),
            "model_yarn": yarn.model_dump(mode="json") if yarn is not None else None,
        }
        path = ckpt.save(
            self.ckpt_root,
            self.step,
            self.consumed_samples,
            self.model,
            self.optimizer,
            self.scheduler,
            extra,
        )
        self.log(f"saved checkpoint {path}")
        return path

    # --- the loop ------------------------------------------------------------------------------
    def run(self, steps: int | None = None) -> TrainResult:
        r = self.recipe
        target = r.training.steps if steps is None else min(r.training.steps, self.step + steps)
        start = self.step
        flops_tok = train_flops_per_token(r.model, r.data.seq_length)
        peak = peak_tflops(self.info.device, r.training.peak_tflops)
        world = dist.get_world_size()
        history: list[StepMetrics] = []
        evals: list[tuple[int, float]] = []
        metrics_path = os.path.join(self.ckpt_root, "metrics.jsonl") if self.ckpt_root else None
        bar = None
        if self.progress and self.is_logger:
            bar = tqdm(total=target - start, desc=f"train {r.name}/{self.stage}", unit="step", disable=None)
        tokens_window, t_window = 0, time.perf_counter()
        t_run, samples_run = t_window, self.consumed_samples
        last_ckpt = None
        while self.step < target:
            samples_before = self.consumed_samples
            loss, gnorm, aux, load = self.train_step()
            if not math.isfinite(loss):
                raise RuntimeError(f"loss became {loss} at step {self.step}")
            tokens_window += (self.consumed_samples - samples_before) * r.data.seq_length
            dt = time.perf_counter() - t_window
            tps = tokens_window / dt if dt > 0 else 0.0
            mfu = (tps * flops_tok / world) / (peak * 1e12) if peak else None
            m = StepMetrics(
                self.step,
                loss,
                self.scheduler.get_lr(self.optimizer.param_groups[0]),
                gnorm,
                tps,
                mfu,
                aux,
                load,
            )
            history.append(m)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tps:,.0f}")
            if self.step % r.training.log_interval == 0 or self.step == target:
                self._log_step(m, metrics_path)
                tokens_window, t_window = 0, time.perf_counter()
            if r.training.eval_interval and self.step % r.training.eval_interval == 0:
                ev = self.evaluate()
                if ev is not None:
                    evals.append((self.step, ev))
                    self.log(f"step {self.step}: eval loss {ev:.4f}")
            if r.training.save_interval and self.step % r.training.save_interval == 0:
                last_ckpt = self.save()
        if bar is not None:
            bar.close()
        if self.step > start and (last_ckpt is None or not last_ckpt.endswith(ckpt.step_name(self.step))):
            last_ckpt = self.save()
        ev = self.evaluate()
        if ev is not None:
            evals.append((self.step, ev))
        if history:
            elapsed = time.perf_counter() - t_run
            tokens = (self.consumed_samples - samples_run) * r.data.seq_length
            rate = tokens / elapsed if elapsed > 0 else 0.0
            mfu_all = f", MFU {100 * rate * flops_tok / world / (peak * 1e12):.1f}%" if peak else ""
            self.log(
                f"done: {r.name}/{self.stage} steps {start}->{self.step}, loss {history[0].loss:.4f} -> "
                f"{history[-1].loss:.4f}"
                + (f", eval loss {ev:.4f}" if ev is not None else "")
                + f", {tokens:,} tokens in {elapsed:.1f}s ({rate:,.0f} tokens/s{mfu_all})"
            )
        return TrainResult(self.stage, start, self.step, history, evals, last_ckpt)

    def _log_step(self, m: StepMetrics, metrics_path: str | None) -> None:
        aux = " ".join(f"{k}={v:.4g}" for k, v in m.aux.items())
        mfu = f" mfu={100 * m.mfu:.1f}%" if m.mfu is not None else ""
        self.log(
            f"step {m.step}: loss={m.loss:.4f} lr={m.lr:.3g} grad_norm={m.grad_norm:.3g} "
            f"tokens/s={m.tokens_per_s:,.0f}{mfu} {aux} expert_load_max/mean={m.load_imbalance:.2f}"
        )
        if metrics_path and self.is_logger:
            os.makedirs(os.path.dirname(metrics_path), exist_ok=True)
            record = asdict(m)
            record["load_imbalance"] = m.load_imbalance
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")


def train(
    recipe: TrainRecipe,
    stage: str = "pretrain",
    *,
    resume: bool = True,
    steps: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    init_from: str | None = None,
    init_state: str = "weights",
) -> TrainResult:
    """Train one stage of `recipe` in this process (which may be one rank of many)."""
    trainer = Trainer(
        recipe, stage, resume=resume, log=log, progress=progress, init_from=init_from, init_state=init_state
    )
    return trainer.run(steps)


def result_to_json(result: TrainResult) -> dict[str, Any]:
    return {
        "stage": result.stage,
        "start_step": result.start_step,
        "final_step": result.final_step,
        "losses": result.losses,
        "eval_losses": result.eval_losses,
        "checkpoint": result.checkpoint,
        "steps": [dict(asdict(s), load_imbalance=s.load_imbalance) for s in result.steps],
    }
