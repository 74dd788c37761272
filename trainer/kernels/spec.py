"""The fused kernels as megatron-core modules, entering the model through its ModuleSpecs.

* `FusedGroupedMLP` is megatron-core's `GroupedMLP` (same parameters `weight1` [H, E*2F] and
  `weight2` [E*F, H], same initialisation, same distributed-checkpoint layout, so checkpoints move
  between the two and to `SequentialMLP`) whose forward runs `grouped_swiglu_mlp` instead of the
  `grouped_gemm` package that GroupedMLP needs (and that needs CUDA to build).
* `FusedAllGatherTokenDispatcher` is megatron-core's all-gather dispatcher with its permute and
  unpermute replaced by the fused plan/permute/unpermute kernels; the all-gather and
  reduce-scatter across TP x EP ranks are megatron's own.
* `FusedAlltoAllTokenDispatcher` does the same for the all-to-all dispatcher (expert parallelism
  with all-to-all): its permutation before and unpermutation after the all-to-all are fused.
* `FusedMoELayer` is megatron-core's `MoELayer` that installs the matching dispatcher.

`apply_fused_kernels(moe_spec)` swaps them into an MoE layer spec; the router stays whatever the spec
names (the DeepSeek-V2 router calls the fused gating kernel itself when its `fused` switch is on).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
import torch.nn.functional as F
from megatron.core.tensor_parallel.layers import _initialize_affine_weight_cpu, _initialize_affine_weight_gpu
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.moe.experts import GroupedMLP
from megatron.core.transformer.moe.moe_layer import MoELayer, MoESubmodules
from megatron.core.transformer.moe.moe_utils import get_default_pg_collection
from megatron.core.transformer.moe.token_dispatcher import (
    MoEAllGatherTokenDispatcher,
    MoEAlltoAllTokenDispatcher,
)
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.utils import divide

from trainer.kernels.grouped_mlp import grouped_swiglu_mlp
from trainer.kernels.permute import permute_plan_from_map, permute_tokens, unpermute_tokens

log = logging.getLogger("coderforge.trainer.kernels")

__all__ = [
    "FusedAllGatherTokenDispatcher",
    "FusedAlltoAllTokenDispatcher",
    "FusedGroupedMLP",
    "FusedMoELayer",
    "apply_fused_kernels",
]


def _check_swiglu_experts(config: TransformerConfig) -> None:
    if not config.gated_linear_unit or config.activation_func is not F.silu:
        raise ValueError(
            "FusedGroupedMLP computes SwiGLU experts: set gated_linear_unit=True, activation_func=F.silu"
        )
    if config.add_bias_linear:
        raise ValueError("FusedGroupedMLP has no expert biases: set add_bias_linear=False")
    if config.moe_latent_size:
        raise ValueError("FusedGroupedMLP does not support moe_latent_size (MoE latent projections)")


class FusedGroupedMLP(GroupedMLP):
    """megatron-core's GroupedMLP parameters and checkpoints, computed by the grouped SwiGLU kernel."""

    def __init__(
        self,
        num_local_experts: int,
        config: TransformerConfig,
        pg_collection: Any = None,
        *,
        fused: bool = True,
    ) -> None:
        _check_swiglu_experts(config)
        # GroupedMLP.__init__ insists on the grouped_gemm package; build the same parameters here.
        MegatronModule.__init__(self, config=config)
        if pg_collection is None:
            pg_collection = get_default_pg_collection()
        self.config = config
        self.fused = fused
        self.num_local_experts = num_local_experts
        self.expert_parallel = config.expert_model_parallel_size > 1
        self.ep_group = pg_collection.ep
        self.tp_group = pg_collection.expt_tp
        self.dp_group = pg_collection.expt_dp
        self.activation_recompute = False
        tp_size = self.tp_group.size()
        tp_rank = self.tp_group.rank()

        fc1_out = config.moe_ffn_hidden_size * num_local_experts * 2
        fc2_in = config.moe_ffn_hidden_size * num_local_experts
        fc1_local = divide(fc1_out, tp_size)
        fc2_local = divide(fc2_in, tp_size)
        on_cpu = config.use_cpu_initialization or not torch.cuda.is_available()
        device = torch.device("cpu") if on_cpu else torch.device("cuda", torch.cuda.current_device())
        self.weight1 = torch.nn.Parameter(
            torch.empty(config.hidden_size, fc1_local, dtype=config.params_dtype, device=device)
        )
        self.weight2 = torch.nn.Parameter(
            torch.empty(fc2_local, config.hidden_size, dtype=config.params_dtype, device=device)
        )
        if config.perform_initialization:
            if on_cpu:
                _initialize_affine_weight_cpu(
                    self.weight1,
                    config.hidden_size,
                    fc1_out,
                    fc1_local,
                    partition_dim=1,
                    init_method=config.init_method,
                    params_dtype=config.params_dtype,
                    rank=tp_rank,
                    world_size=tp_size,
                )
                _initialize_affine_weight_cpu(
                    self.weight2,
                    fc2_in,
                    config.hidden_size,
                    fc2_local,
                    partition_dim=0,
                    init_method=config.output_layer_init_method,
                    params_dtype=config.params_dtype,
                    rank=tp_rank,
                    world_size=tp_size,
                )
            else:
                _initialize_affine_weight_gpu(
                    self.weight1, config.init_method, partition_dim=1, is_expert=True
                )
                _initialize_affine_weight_gpu(
                    self.weight2, config.output_layer_init_method, partition_dim=0, is_expert=True
                )
        self.weight1.allreduce = not self.expert_parallel
        self.weight2.allreduce = not self.expert_parallel
        self.register_load_state_dict_post_hook(_drop_extra_state_keys)

    def forward(
        self,
        permuted_local_hidden_states: torch.Tensor,
        tokens_per_expert: torch.Tensor,
        permuted_probs: torch.Tensor,
    ) -> tuple[torch.Tensor, None]:
        x = permuted_local_hidden_states
        probs = permuted_probs
        if self.config.moe_apply_probs_on_input:
            if self.config.moe_router_topk != 1:
                raise ValueError("moe_apply_probs_on_input needs moe_router_topk=1")
            x = (probs.unsqueeze(-1) * x).to(x.dtype)
            probs = None
        hidden = self.config.hidden_size
        w1 = self.weight1.view(self.num_local_experts, hidden, -1)
        w2 = self.weight2.view(self.num_local_experts, -1, hidden)
        return grouped_swiglu_mlp(x, tokens_per_expert, w1, w2, probs, fused=self.fused), None


def _drop_extra_state_keys(module: torch.nn.Module, incompatible_keys: Any) -> None:
    """Checkpoints from SequentialMLP carry per-expert `_extra_state` entries that we do not use."""
    for key in list(incompatible_keys.unexpected_keys):
        if "_extra_state" in key:
            incompatible_keys.unexpected_keys.remove(key)


class FusedAllGatherTokenDispatcher(MoEAllGatherTokenDispatcher):
    """megatron-core's all-gather dispatcher with the fused permute and unpermute kernels."""

    def __init__(self, *args: Any, fused: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fused = fused
        self._plan = None

    def dispatch_postprocess(self, hidden_states: torch.Tensor, probs: torch.Tensor):
        self.hidden_shape_before_permute = hidden_states.shape
        start = self.local_expert_indices[0]
        plan, expert_idx = permute_plan_from_map(
            self.routing_map,
            self.router_topk,
            local_expert_start=start,
            num_local_experts=self.num_local_experts,
            fused=self.fused,
        )
        pair_probs = probs.gather(1, expert_idx.clamp(min=0))
        permuted, permuted_probs = permute_tokens(
            hidden_states, plan.dest_rows, plan.num_out_tokens, pair_probs, fused=self.fused
        )
        self._plan = plan
        # token_combine casts to this dtype around the reduce-scatter.
        self.local_probs = permuted_probs
        self.routing_map = None
        return permuted, plan.tokens_per_expert.cpu(), permuted_probs

    def combine_preprocess(self, hidden_states: torch.Tensor) -> torch.Tensor:
        out = unpermute_tokens(hidden_states, self._plan.dest_rows, None, fused=self.fused)
        self._plan = None
        return out


class FusedAlltoAllTokenDispatcher(MoEAlltoAllTokenDispatcher):
    """megatron-core's all-to-all dispatcher with the fused kernels for its first permutation.

    The permutation before the expert-parallel all-to-all (tokens grouped by global expert) and the
    unpermutation after the combine run the fused kernels; the all-to-all itself, the split sizes and
    the second, chunk-level sort by local expert stay megatron's. Capacity-based token dropping and
    quantization padding (which reshape the routing map) keep megatron's own permutation.
    """

    def __init__(self, *args: Any, fused: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fused = fused
        self._plan = None

    def _fusable(self) -> bool:
        return not (
            self.drop_and_pad
            or self.config.moe_expert_capacity_factor is not None
            or self.config.moe_router_padding_for_quantization
        )

    def dispatch_preprocess(
        self, hidden_states: torch.Tensor, routing_map: torch.Tensor, probs: torch.Tensor
    ):
        if not self._fusable():
            return super().dispatch_preprocess(hidden_states, routing_map, probs)
        self.hidden_shape = hidden_states.shape
        self.probs = probs
        self.routing_map = routing_map
        hidden_states = hidden_states.view(-1, self.hidden_shape[-1])
        self.tokens_per_expert = self.preprocess(self.routing_map)
        if self.shared_experts is not None:
            self.shared_experts.pre_forward_comm(hidden_states.view(self.hidden_shape))
        self.tokens_per_expert = self._maybe_dtoh_and_synchronize(
            "before_permutation_1", self.tokens_per_expert
        )
        self.hidden_shape_before_permute = hidden_states.shape
        plan, expert_idx = permute_plan_from_map(
            self.routing_map, self.config.moe_router_topk, fused=self.fused
        )
        pair_probs = probs.gather(1, expert_idx.clamp(min=0))
        permuted, permuted_probs = permute_tokens(
            hidden_states, plan.dest_rows, plan.num_out_tokens, pair_probs, fused=self.fused
        )
        self._plan = plan
        return permuted, permuted_probs

    def combine_postprocess(self, permutated_local_input_tokens: torch.Tensor) -> torch.Tensor:
        if self._plan is None:
            return super().combine_postprocess(permutated_local_input_tokens)
        if self.shared_experts is not None:
            self.shared_experts.linear_fc2_forward(permutated_local_input_tokens)
            self.shared_experts.post_forward_comm()
        output = unpermute_tokens(permutated_local_input_tokens, self._plan.dest_rows, None, fused=self.fused)
        self._plan = None
        output = output.view(self.hidden_shape)
        if self.shared_experts is not None:
            output = output + self.shared_experts.get_output()
        return output


class FusedMoELayer(MoELayer):
    """megatron-core's MoELayer whose token dispatcher (all-gather or all-to-all) runs the fused
    permute kernels."""

    def __init__(
        self,
        config: TransformerConfig,
        submodules: MoESubmodules | None = None,
        layer_number: int | None = None,
        pg_collection: Any = None,
        *,
        fused: bool = True,
    ) -> None:
        super().__init__(
            config, submodules=submodules, layer_number=layer_number, pg_collection=pg_collection
        )
        kinds = {"allgather": FusedAllGatherTokenDispatcher, "alltoall": FusedAlltoAllTokenDispatcher}
        kind = kinds.get(config.moe_token_dispatcher_type)
        if kind is None:
            log.warning(
                "fused permutation covers the allgather and alltoall token dispatchers; "
                "moe_token_dispatcher_type=%s keeps megatron-core's own permutation",
                config.moe_token_dispatcher_type,
            )
            return
        dispatcher = kind(
            self.num_local_experts,
            self.local_expert_indices,
            config=self.config,
            pg_collection=pg_collection if pg_collection is not None else get_default_pg_collection(),
            fused=fused,
        )
        if self.use_shared_expert and self.shared_expert_overlap:
            dispatcher.set_shared_experts(self.shared_experts)
        self.token_dispatcher = dispatcher


def apply_fused_kernels(moe_spec: ModuleSpec, *, fused: bool = True) -> ModuleSpec:
    """The MoE layer spec `moe_spec` with the fused expert MLP and the fused-permute MoE layer.

    `fused=False` keeps the same modules but runs their PyTorch references (useful to compare the
    two on one model). The input spec is not modified.
    """
    if not (isinstance(moe_spec.module, type) and issubclass(moe_spec.module, MoELayer)):
        raise ValueError(f"apply_fused_kernels expects an MoELayer spec, got module {moe_spec.module!r}")
    submodules = moe_spec.submodules
    if not isinstance(submodules, MoESubmodules):
        raise ValueError(f"MoE layer spec has submodules {type(submodules).__name__}, expected MoESubmodules")
    new_submodules = copy.copy(submodules)
    new_submodules.experts = ModuleSpec(module=FusedGroupedMLP, params={"fused": fused})
    params = dict(moe_spec.params or {})
    params["fused"] = fused
    return ModuleSpec(module=FusedMoELayer, params=params, submodules=new_submodules)
