"""From a recipe's model section to a megatron-core `GPTModel` with MLA and DeepSeekMoE layers.

The model is megatron-core's own: we only choose its configuration and swap modules in through
`ModuleSpec`s — our SDPA core attention where TransformerEngine is absent, our DeepSeek-V2 router in
every MoE layer, and (when `fused` is on) the fused expert kernels from `trainer.kernels`.
"""

from __future__ import annotations

import math
import re
import zlib
from typing import Any

import torch
import torch.nn.functional as F
from megatron.core import parallel_state
from megatron.core.models.gpt import GPTModel
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec
from megatron.core.transformer.moe.moe_layer import MoELayer
from megatron.core.transformer.transformer_config import MLATransformerConfig

from trainer import cpu_compat
from trainer.kernels.spec import apply_fused_kernels
from trainer.model.router import DeepSeekV2Router, RouterSettings
from trainer.model.sdpa_attention import SDPACoreAttention
from trainer.pipeline import megatron_layout
from trainer.recipe import ModelConfig, ParallelConfig, YarnConfig


def transformer_config(
    model: ModelConfig,
    parallel: ParallelConfig | None = None,
    *,
    precision: str = "bf16",
    yarn: YarnConfig | None = None,
    meta: bool = False,
) -> MLATransformerConfig:
    """megatron-core's `MLATransformerConfig` for a DeepSeek-V2 shape.

    The router's own settings (coefficients, groups, scaling) are deliberately NOT given to megatron:
    its TopKRouter would add its own V3-style group scoring and seq aux loss on top of ours.
    """
    parallel = parallel or ParallelConfig()
    bf16 = precision == "bf16"
    rope: dict[str, Any] = {"rope_type": "rope", "rotary_base": model.rope_theta}
    if yarn is not None:
        rope = {
            "rope_type": "yarn",
            "rotary_base": model.rope_theta,
            "rotary_scaling_factor": yarn.scaling_factor,
            "beta_fast": yarn.beta_fast,
            "beta_slow": yarn.beta_slow,
            "original_max_position_embeddings": yarn.original_max_position_embeddings,
            "mscale": yarn.mscale,
            "mscale_all_dim": yarn.mscale_all_dim,
        }
    layer_freq = [0] * model.first_dense_layers + [1] * model.num_moe_layers
    routing: dict[str, Any] = {"moe_router_load_balancing_type": "none", "moe_aux_loss_coeff": 0.0}
    if model.router == "megatron":
        routing = {
            "moe_router_load_balancing_type": "seq_aux_loss" if model.balance.expert > 0 else "none",
            "moe_aux_loss_coeff": model.balance.expert,
            "moe_router_topk_scaling_factor": model.routed_scaling_factor,
        }
        if model.num_groups > 1:
            routing.update(moe_router_num_groups=model.num_groups, moe_router_group_topk=model.group_topk)
    return MLATransformerConfig(
        num_layers=model.num_layers,
        hidden_size=model.hidden_size,
        num_attention_heads=model.num_attention_heads,
        q_lora_rank=model.q_lora_rank,
        kv_lora_rank=model.kv_lora_rank,
        qk_head_dim=model.qk_head_dim,
        qk_pos_emb_head_dim=model.qk_pos_emb_head_dim,
        v_head_dim=model.v_head_dim,
        ffn_hidden_size=model.ffn_hidden_size,
        normalization="RMSNorm",
        qk_layernorm=True,
        layernorm_epsilon=model.norm_eps,
        gated_linear_unit=True,
        activation_func=F.silu,
        add_bias_linear=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        init_method_std=model.init_std,
        num_moe_experts=model.num_experts,
        moe_ffn_hidden_size=model.moe_ffn_hidden_size,
        moe_shared_expert_intermediate_size=(
            model.num_shared_experts * model.moe_ffn_hidden_size if model.num_shared_experts else None
        ),
        moe_router_topk=model.topk,
        moe_router_pre_softmax=True,
        moe_router_dtype="fp32",
        moe_layer_freq=layer_freq,
        moe_token_dispatcher_type=parallel.dispatcher,
        tensor_model_parallel_size=parallel.tensor,
        expert_model_parallel_size=parallel.expert,
        # pipeline: the recipe's layers per stage (embedding first, loss last); layers keep global
        # numbers, so checkpoints do not depend on the split
        pipeline_model_parallel_size=parallel.pipeline,
        pipeline_model_parallel_layout=megatron_layout(model, parallel),
        # gloo has no batched (coalesced) p2p: plain isend/irecv on the CPU
        batch_p2p_comm=not cpu_compat.cpu_active(),
        sequence_parallel=parallel.tensor > 1,
        bf16=bf16,
        params_dtype=torch.bfloat16 if bf16 else torch.float32,
        pipeline_dtype=torch.bfloat16 if bf16 else torch.float32,
        use_cpu_initialization=meta or cpu_compat.cpu_active(),
        perform_initialization=not meta,
        persist_layer_norm=False,
        bias_dropout_fusion=False,
        bias_activation_fusion=False,
        masked_softmax_fusion=False,
        apply_rope_fusion=False,
        gradient_accumulation_fusion=False,
        # parallel.recompute=full: each layer keeps only its input and is recomputed in backward
        recompute_granularity="full" if parallel.recompute == "full" else None,
        recompute_method="uniform" if parallel.recompute == "full" else None,
        recompute_num_layers=1 if parallel.recompute == "full" else None,
        **rope,
        **routing,
    )


def router_settings(model: ModelConfig) -> RouterSettings:
    return RouterSettings(
        topk=model.topk,
        num_groups=model.num_groups,
        group_topk=model.group_topk,
        scaling_factor=model.routed_scaling_factor,
        expert_coeff=model.balance.expert,
        device_coeff=model.balance.device,
        comm_coeff=model.balance.communication,
        device_capacity_factor=model.device_capacity_factor,
        never_drop_fraction=model.never_drop_fraction,
        fused=model.fused,
    )


def layer_block_spec(config: MLATransformerConfig, model: ModelConfig, vp_stage: int | None = None) -> Any:
    """megatron's decoder block spec (this pipeline stage's layers) with our attention, router and
    (optionally) fused experts."""
    use_te = cpu_compat.te_available() and not cpu_compat.cpu_active()
    cpu_compat.fix_te_less_megatron()
    block = get_gpt_decoder_block_spec(config, use_transformer_engine=use_te, vp_stage=vp_stage)
    router = DeepSeekV2Router.builder(router_settings(model))
    for layer in block.layer_specs:
        if not use_te:
            layer.submodules.self_attention.submodules.core_attention = SDPACoreAttention
        mlp = layer.submodules.mlp
        if isinstance(mlp.module, type) and issubclass(mlp.module, MoELayer):
            if model.router == "deepseek-v2":
                mlp.submodules.router = router
            if model.fused:
                layer.submodules.mlp = apply_fused_kernels(mlp, fused=True)
    return block


def build_gpt_model(
    config: MLATransformerConfig, model: ModelConfig, max_sequence_length: int, vp_stage: int | None = None
) -> GPTModel:
    """This pipeline stage's part of the GPTModel (untied embeddings and output head, as in
    DeepSeek-V2): the embedding on the first stage, final norm and head on the last."""
    pre_process = parallel_state.is_pipeline_first_stage(ignore_virtual=False, vp_stage=vp_stage)
    post_process = parallel_state.is_pipeline_last_stage(ignore_virtual=False, vp_stage=vp_stage)
    return GPTModel(
        config=config,
        transformer_layer_spec=layer_block_spec(config, model, vp_stage),
        vocab_size=model.vocab_size,
        max_sequence_length=max_sequence_length,
        pre_process=pre_process,
        post_process=post_process,
        share_embeddings_and_output_weights=False,
        position_embedding_type="rope",
        vp_stage=vp_stage,
    )


_LAYER = re.compile(r"^((?:module\.)*decoder\.layers\.)(\d+)\.")


def _global_layer_names(gpt_model: torch.nn.Module) -> Any:
    """Parameter name -> the name it has in a one-stage model (decoder layers renumbered globally)."""
    layers = getattr(getattr(gpt_model, "decoder", None), "layers", None)
    offset = int(layers[0].layer_number) - 1 if layers else 0
    return lambda name: _LAYER.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + offset}.", name)


_LOCAL_EXPERT = re.compile(r"\.local_experts\.(\d+)\.")


def _grouped_expert_blocks(
    name: str, p: torch.Tensor, local_experts: int, ffn: int
) -> list[tuple[str, torch.Tensor]] | None:
    """Each local expert's weight inside a GroupedMLP-layout tensor, as the per-expert module holds it.

    megatron's GroupedMLP (and our FusedGroupedMLP) read local expert e as `weight1.view(E, H, 2F)[e]`
    ([H, 2F], gate half first) and `weight2.view(E, F, H)[e]` ([F, H]); SequentialMLP's expert e holds
    the transposes, `linear_fc1.weight` [2F, H] and `linear_fc2.weight` [H, F], gate rows first. For
    weight1 / weight2 this returns, per local expert, the name suffix of the matching SequentialMLP
    weight and a transposed view of that expert's block, so the block can be filled exactly as the
    per-expert weight is. None for any other tensor.
    """
    if p.dim() != 2:
        return None
    if name.endswith("experts.weight1") and p.shape[1] == local_experts * 2 * ffn:
        view = p.data.view(local_experts, p.shape[0], 2 * ffn)
        return [("linear_fc1.weight", view[e].t()) for e in range(local_experts)]
    if name.endswith("experts.weight2") and p.shape[0] == local_experts * ffn:
        view = p.data.view(local_experts, ffn, p.shape[1])
        return [("linear_fc2.weight", view[e].t()) for e in range(local_experts)]
    return None


def _draw(key: str, shape: torch.Size, std: float, device: torch.device) -> torch.Tensor:
    """N(0, std) in float32 from a generator seeded by `key` alone."""
    gen = torch.Generator(device=device)
    gen.manual_seed(zlib.crc32(key.encode()))
    return torch.empty(shape, dtype=torch.float32, device=device).normal_(0.0, std, generator=gen)


def layout_independent_init(gpt_model: torch.nn.Module, model: ModelConfig, seed: int) -> int:
    """Re-draw every weight matrix from a generator keyed by (seed, parameter name, global expert).

    megatron draws expert weights from per-expert-parallel-rank RNG streams, so the same seed gives a
    different model for every `expert_model_parallel_size`. Keying each matrix by its global name
    makes the initial model - and so the whole loss curve - independent of the layout. Same
    distribution as megatron's: N(0, init_std), scaled by 1/sqrt(2 x layers) for the output
    projections; norms keep their ones. Grouped expert tensors (`model.fused`: GroupedMLP's weight1 /
    weight2) get, block by block, the draws of the SequentialMLP weights they stand for, so `fused`
    on and off start from the same model too. Only for tensor_parallel=1 (TP shards need megatron's own
    sharded init). Returns the number of tensors re-drawn.
    """
    if parallel_state.get_tensor_model_parallel_world_size() != 1:
        return 0
    ep_rank = parallel_state.get_expert_model_parallel_rank()
    ep_size = parallel_state.get_expert_model_parallel_world_size()
    local_experts = model.num_experts // ep_size
    global_name = _global_layer_names(gpt_model)
    scaled_std = model.init_std / math.sqrt(2.0 * model.num_layers)
    count = 0
    with torch.no_grad():
        for local_name, p in gpt_model.named_parameters():
            if p.dim() < 2 or p.device.type == "meta":
                continue
            # keyed by the global layer number, so every pipeline split draws the same model
            name = global_name(local_name)
            canonical = _LOCAL_EXPERT.sub(
                lambda m: f".expert.{ep_rank * local_experts + int(m.group(1))}.", name
            )
            std = (
                scaled_std
                if name.endswith(("linear_proj.weight", "linear_fc2.weight", "weight2"))
                else model.init_std
            )
            blocks = _grouped_expert_blocks(name, p, local_experts, model.moe_ffn_hidden_size)
            if blocks is not None:
                # grouped experts (one tensor for all local experts): each expert's block gets the
                # draw of the SequentialMLP weight it corresponds to, same key, same orientation,
                # so fused and non-fused models, and every EP size, hold the same numbers
                prefix = name.rsplit(".", 1)[0]  # "...mlp.experts"
                for e, (suffix, block) in enumerate(blocks):
                    key = f"{seed}:{prefix}.expert.{ep_rank * local_experts + e}.{suffix}"
                    block.copy_(_draw(key, block.shape, std, p.device).to(p.dtype))
                count += 1
                continue
            if canonical == name and getattr(p, "allreduce", True) is False:
                # an expert tensor of unknown layout: key it by EP rank so that ranks never start
                # with copies of each other's experts
                canonical = f"{name}@ep{ep_rank}"
            p.copy_(_draw(f"{seed}:{canonical}", p.shape, std, p.device).to(p.dtype))
            count += 1
    return count
