"""Tiny random `DeepseekV2ForCausalLM` models made by `transformers` itself (nothing downloaded).

Each shape exercises one way our model could disagree with the Hugging Face one: a group limit that
changes the routing, queries without a low-rank projection, YaRN, routed scaling far from 1. They
are saved with small `max_shard_size` so that import reads several shards through the index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

BASE: dict[str, Any] = {
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "q_lora_rank": 32,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 16,
    "n_routed_experts": 8,
    "n_shared_experts": 2,
    "moe_intermediate_size": 32,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "max_position_embeddings": 128,
    "topk_method": "greedy",
    "n_group": 1,
    "topk_group": 1,
}

SHAPES: dict[str, dict[str, Any]] = {
    # 4 groups of 2 experts, one group reachable: top-2 must come from the best group
    "group_limit": {"topk_method": "group_limited_greedy", "n_group": 4, "topk_group": 1},
    "q_lora_null": {"q_lora_rank": None, "n_shared_experts": 1},
    "yarn": {
        "rope_parameters": {
            "rope_type": "yarn",
            "rope_theta": 10000.0,
            "factor": 4.0,
            "original_max_position_embeddings": 32,
            "beta_fast": 32,
            "beta_slow": 1,
            "mscale": 0.707,
            "mscale_all_dim": 0.707,
        },
    },
    "routed_scaling": {
        "routed_scaling_factor": 16.0,
        "topk_method": "group_limited_greedy",
        "n_group": 2,
        "topk_group": 1,
        "first_k_dense_replace": 2,
    },
}


def make_model(shape: dict[str, Any], seed: int = 0, **extra: Any):
    """A random fp32 model with eager attention (the reference computation, no fused kernels)."""
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

    config = DeepseekV2Config(**{**BASE, **shape, **extra}, attn_implementation="eager")
    torch.manual_seed(seed)
    return DeepseekV2ForCausalLM(config).eval()


def save(model, folder: Path, max_shard_size: str = "200KB") -> Path:
    model.save_pretrained(folder, max_shard_size=max_shard_size)
    return folder


def safetensors_content(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every shard in `folder`, by name."""
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def hf_expert_choices(model, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and, per MoE layer, the routed experts of every token as a bool map [B*S, E]."""
    from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2TopkRouter

    maps: list[torch.Tensor] = []

    def hook(module, args, output):
        _, _, indices = output
        m = torch.zeros(indices.shape[0], module.num_experts, dtype=torch.bool)
        maps.append(m.scatter_(1, indices, True))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, DeepseekV2TopkRouter)]
    try:
        with torch.no_grad():
            logits = model(tokens).logits.float()
    finally:
        for h in handles:
            h.remove()
    return logits, maps


def forward_expert_parallel(ckpt: str, tokens: torch.Tensor, out: str) -> None:
    """One rank of an expert-parallel-2 run (gloo): load the checkpoint, forward, rank 0 saves the
    logits. Here rather than in a test module so that the ranks do not import transformers."""
    import torch.distributed as dist

    from trainer.checkpoint_forward import build_and_load, checkpoint_model, logits_of
    from trainer.distributed import init_distributed, init_model_parallel, shutdown

    init_distributed(timeout_s=120)
    init_model_parallel(expert=2)
    try:
        model, yarn = checkpoint_model(ckpt)
        gpt = build_and_load(ckpt, model, yarn, expert_parallel=2, max_sequence_length=tokens.shape[1])
        logits = logits_of(gpt, tokens)
        if dist.get_rank() == 0:
            torch.save(logits, out)
    finally:
        shutdown()
