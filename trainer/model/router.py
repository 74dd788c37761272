"""The DeepSeek-V2 router, plugged into megatron-core's MoE layer through `MoESubmodules.router`.

It keeps megatron's gate (weights, fp32 gating GEMM, state-dict handling, layer numbering) by
subclassing `TopKRouter`, and replaces only the routing: DeepSeek-V2 gating (`trainer.kernels.topk_gating`,
the fused kernel when `fused` is on and its plain PyTorch path otherwise), its three balance losses
(`trainer.model.gating`) attached to the probabilities with megatron's `MoEAuxLossAutoScaler` (so the
schedule's loss scaling applies), optional device-level token dropping, and a per-expert load counter
that the training loop logs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from megatron.core.transformer.moe.moe_utils import MoEAuxLossAutoScaler, save_to_aux_losses_tracker
from megatron.core.transformer.moe.router import TopKRouter
from megatron.core.transformer.transformer_config import TransformerConfig

from trainer.cpu_compat import default_device
from trainer.kernels import GatingOutput, topk_gating
from trainer.model.gating import balance_losses, device_token_dropping

#: names under which the unweighted balance losses appear in megatron's aux-loss tracker
LOSS_NAMES = {
    "expert": "expert_balance_loss",
    "device": "device_balance_loss",
    "communication": "comm_balance_loss",
}


@dataclass(frozen=True)
class RouterSettings:
    """Everything DeepSeek-V2 routing needs beyond megatron's TransformerConfig."""

    topk: int
    num_groups: int = 1
    group_topk: int = 1
    scaling_factor: float = 1.0
    expert_coeff: float = 0.0
    device_coeff: float = 0.0
    comm_coeff: float = 0.0
    device_capacity_factor: float | None = None
    never_drop_fraction: float = 0.1
    fused: bool = False


class DeepSeekV2Router(TopKRouter):
    """Softmax over all experts, max-scored group-limited top-k, scaling without renormalisation."""

    def __init__(self, config: TransformerConfig, pg_collection=None, *, settings: RouterSettings) -> None:
        super().__init__(config=config, pg_collection=pg_collection)
        self.settings = settings
        self._sequences_seen = 0
        self.register_buffer(
            "expert_load",
            torch.zeros(self.config.num_moe_experts, dtype=torch.int64, device=default_device()),
            persistent=False,
        )

    @classmethod
    def builder(cls, settings: RouterSettings) -> functools.partial:
        """The callable that `MoESubmodules.router` expects (megatron calls it with config and groups)."""
        return functools.partial(cls, settings=settings)

    def _gate(self, logits: torch.Tensor, num_sequences: int) -> GatingOutput:
        s = self.settings
        return topk_gating(
            logits,
            s.topk,
            num_groups=s.num_groups,
            group_topk=s.group_topk if s.num_groups > 1 else 1,  # the recipe ignores it without groups
            scaling_factor=s.scaling_factor,
            num_sequences=num_sequences,
            fused=s.fused,
        )

    def routing(self, logits: torch.Tensor, padding_mask: torch.Tensor | None = None):
        seq_length, bsz = logits.shape[:2]
        logits = logits.reshape(-1, self.config.num_moe_experts)
        logits = self.apply_z_loss(logits)
        out = self._gate(logits, bsz)
        probs, routing_map = out.probs, out.routing_map
        s = self.settings
        if s.device_capacity_factor is not None and self.training:
            probs, routing_map = device_token_dropping(
                probs,
                routing_map,
                s.topk,
                s.num_groups,
                s.device_capacity_factor,
                self._protected_tokens(bsz, seq_length),
            )
        if self.training and torch.is_grad_enabled():
            probs = self._attach_balance_losses(probs, out, seq_length)
            with torch.no_grad():
                self.expert_load += routing_map.sum(dim=0)
        return probs, routing_map

    def _protected_tokens(self, bsz: int, seq_length: int) -> torch.Tensor | None:
        """Tokens of the sequences exempt from dropping: a low-discrepancy pick of about
        `never_drop_fraction` of all sequences this router sees, without touching any RNG stream."""
        frac = self.settings.never_drop_fraction
        if frac <= 0:
            return None
        first = self._sequences_seen
        self._sequences_seen += bsz
        golden = 0.6180339887498949
        seq_ids = torch.arange(first, first + bsz, dtype=torch.float64)
        exempt = torch.remainder(seq_ids * golden, 1.0) < frac
        # token t of the flattened [seq, batch] input belongs to sequence t % bsz
        return exempt.repeat(seq_length).to(self.weight.device)

    def _attach_balance_losses(
        self, probs: torch.Tensor, out: GatingOutput, tokens_per_sequence: int
    ) -> torch.Tensor:
        s = self.settings
        coeffs = {"expert": s.expert_coeff, "device": s.device_coeff, "communication": s.comm_coeff}
        if not any(coeffs.values()):
            return probs
        values = balance_losses(out, s.topk, s.num_groups, s.group_topk, tokens_per_sequence)
        total = None
        num_layers = self.config.num_layers
        for key, coeff in coeffs.items():
            if coeff <= 0:
                continue
            value = getattr(values, key)
            save_to_aux_losses_tracker(
                LOSS_NAMES[key], value.detach(), self.layer_number, num_layers, reduce_group=self.tp_cp_group
            )
            total = value * coeff if total is None else total + value * coeff
        return MoEAuxLossAutoScaler.apply(probs, total)

    def take_expert_load(self) -> torch.Tensor:
        """Tokens routed to each expert since the last call (this rank's tokens), then reset."""
        load = self.expert_load.clone()
        self.expert_load.zero_()
        return load
