"""A Hugging Face DeepSeek-V2 `config.json` ⇄ the recipe's `ModelConfig` (and YaRN settings).

The checkpoints released for DeepSeek-V2, V2-Lite, Coder-V2 and Coder-V2-Lite carry the original
remote-code keys (`rope_scaling`, `rope_theta`, `scoring_func`, `moe_layer_freq`, ...); `transformers` 5.x
writes `rope_parameters` instead. Both are read. Anything our model would compute differently from
`DeepseekV2ForCausalLM` is refused with one line naming the key, rather than imported into a model that
silently disagrees with the original: renormalised top-k, a scoring function other than softmax,
V3-style routing, MoE layers at a stride, biases, tied embeddings, and a norm epsilon other than 1e-6
(the Hugging Face model hard-codes 1e-6 for the two latent norms, ours uses one epsilon everywhere).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from corpus.core.errors import UserError
from trainer.recipe import ModelConfig, YarnConfig

#: keys of config.json that this module writes itself; every other key of an imported config is kept
OWN_KEYS = frozenset(
    {
        "architectures",
        "model_type",
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "moe_intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "n_shared_experts",
        "n_routed_experts",
        "routed_scaling_factor",
        "kv_lora_rank",
        "q_lora_rank",
        "qk_rope_head_dim",
        "qk_nope_head_dim",
        "v_head_dim",
        "head_dim",
        "qk_head_dim",
        "topk_method",
        "n_group",
        "topk_group",
        "num_experts_per_tok",
        "first_k_dense_replace",
        "norm_topk_prob",
        "scoring_func",
        "moe_layer_freq",
        "aux_loss_alpha",
        "seq_aux",
        "hidden_act",
        "rms_norm_eps",
        "initializer_range",
        "rope_parameters",
        "rope_scaling",
        "rope_theta",
        "attention_bias",
        "mlp_bias",
        "tie_word_embeddings",
        "dtype",
        "torch_dtype",
    }
)
#: keys of an imported config that must not travel to an exported one (remote code, quantisation)
_DROPPED_KEYS = frozenset({"auto_map", "quantization_config", "transformers_version", "_name_or_path"})

#: the epsilon `DeepseekV2ForCausalLM` uses for q_a_layernorm / kv_a_layernorm whatever the config says
HF_LATENT_NORM_EPS = 1e-6


def _bad(source: str, key: str, why: str) -> UserError:
    return UserError(f"{source}: {key}: {why}")


def _rope(config: dict[str, Any], source: str) -> tuple[float, YarnConfig | None]:
    """rope theta and YaRN settings from either spelling (`rope_parameters` or `rope_scaling`)."""
    params = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or {}
    key = "rope_parameters" if params else "rope_scaling"
    rope = dict(params or scaling)
    theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind in (None, "default"):
        return float(theta), None
    if kind != "yarn":
        raise _bad(source, f"{key}.rope_type", f"{kind!r} is not supported (only default rope and yarn)")
    if "factor" not in rope:
        raise _bad(source, f"{key}.factor", "yarn needs a factor")
    original = rope.get("original_max_position_embeddings", config.get("max_position_embeddings"))
    if original is None:
        raise _bad(source, f"{key}.original_max_position_embeddings", "missing")
    # transformers' defaults where a key is absent: mscale 1, no mscale_all_dim
    yarn = YarnConfig(
        scaling_factor=float(rope["factor"]),
        beta_fast=float(rope.get("beta_fast", 32.0)),
        beta_slow=float(rope.get("beta_slow", 1.0)),
        original_max_position_embeddings=int(original),
        mscale=float(rope.get("mscale", 1.0)),
        mscale_all_dim=float(rope.get("mscale_all_dim", 0.0)),
    )
    return float(theta), yarn


def model_from_hf(
    config: dict[str, Any], source: str = "config.json"
) -> tuple[ModelConfig, YarnConfig | None]:
    """The recipe model section (and YaRN, when the checkpoint uses it) for a DeepSeek-V2 config.json."""
    model_type = config.get("model_type")
    if model_type != "deepseek_v2":
        raise _bad(source, "model_type", f"{model_type!r} is not a DeepSeek-V2 checkpoint ('deepseek_v2')")

    def need(key: str) -> Any:
        if config.get(key) is None:
            raise _bad(source, key, "missing")
        return config[key]

    checks = {
        "hidden_act": ("silu", "only SwiGLU (silu) experts are supported"),
        "attention_bias": (False, "attention biases are not supported"),
        "mlp_bias": (False, "MLP biases are not supported"),
        "tie_word_embeddings": (False, "DeepSeek-V2 unties embedding and output head"),
        "norm_topk_prob": (False, "renormalised top-k weights are not DeepSeek-V2 routing"),
        "scoring_func": ("softmax", "only softmax gating is DeepSeek-V2 routing"),
        "moe_layer_freq": (1, "MoE layers at a stride other than 1 are not supported"),
    }
    for key, (want, why) in checks.items():
        if key in config and config[key] is not None and config[key] != want:
            raise _bad(source, key, f"{config[key]!r}: {why}")
    if "quantization_config" in config:
        raise _bad(source, "quantization_config", "quantised checkpoints are not supported")
    heads = int(need("num_attention_heads"))
    kv_heads = config.get("num_key_value_heads")
    if kv_heads is not None and int(kv_heads) != heads:
        raise _bad(source, "num_key_value_heads", f"{kv_heads} differs from num_attention_heads={heads}")
    eps = float(config.get("rms_norm_eps", 1e-6))
    if eps != HF_LATENT_NORM_EPS:
        raise _bad(
            source,
            "rms_norm_eps",
            f"{eps}: DeepseekV2 uses 1e-6 for its latent norms whatever this says, and our model one "
            "epsilon for all norms, so only 1e-6 imports exactly",
        )
    method = config.get("topk_method") or "greedy"
    experts = int(need("n_routed_experts"))
    groups = int(config.get("n_group") or 1)
    if method == "greedy":
        group_topk = groups  # every group reachable: plain top-k, groups kept for the balance losses
    elif method == "group_limited_greedy":
        group_topk = int(need("topk_group"))
    else:
        raise _bad(
            source, "topk_method", f"{method!r} is not DeepSeek-V2 routing (greedy, group_limited_greedy)"
        )
    theta, yarn = _rope(config, source)
    aux = float(config.get("aux_loss_alpha") or 0.0)
    fields: dict[str, Any] = {
        "num_layers": int(need("num_hidden_layers")),
        "hidden_size": int(need("hidden_size")),
        "num_attention_heads": heads,
        "q_lora_rank": config.get("q_lora_rank"),
        "kv_lora_rank": int(need("kv_lora_rank")),
        "qk_head_dim": int(need("qk_nope_head_dim")),
        "qk_pos_emb_head_dim": int(need("qk_rope_head_dim")),
        "v_head_dim": int(need("v_head_dim")),
        "ffn_hidden_size": int(need("intermediate_size")),
        "first_dense_layers": int(config.get("first_k_dense_replace") or 0),
        "num_experts": experts,
        "num_shared_experts": int(config.get("n_shared_experts") or 0),
        "moe_ffn_hidden_size": int(need("moe_intermediate_size")),
        "topk": int(need("num_experts_per_tok")),
        "num_groups": groups,
        "group_topk": group_topk,
        "routed_scaling_factor": float(config.get("routed_scaling_factor") or 1.0),
        "balance": {"expert": aux},
        "vocab_size": int(need("vocab_size")),
        "norm_eps": eps,
        "rope_theta": theta,
        "init_std": float(config.get("initializer_range") or 0.006),
    }
    try:
        return ModelConfig(**fields), yarn
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()))
        what = f"{where}: {err['msg']}" if where else err["msg"]
        raise UserError(f"{source}: not a shape the trainer builds: {what}") from None


def model_to_hf(
    model: ModelConfig,
    yarn: YarnConfig | None,
    *,
    dtype: str = "bfloat16",
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A config.json that `transformers` loads as `DeepseekV2ForCausalLM` with the same computation.

    `base` is the config a checkpoint was imported from: its keys that are not ours (token ids,
    maximum positions, generation defaults) are kept; remote-code and quantisation keys are dropped.
    """
    if model.router == "megatron" and model.num_groups > 1:
        raise UserError(
            "model.router='megatron' scores groups V3-style (sum of the top two); DeepseekV2ForCausalLM "
            "would route these weights differently, so the checkpoint cannot be exported"
        )
    out: dict[str, Any] = {
        k: v for k, v in (base or {}).items() if k not in OWN_KEYS and k not in _DROPPED_KEYS
    }
    limited = model.num_groups > 1 and model.group_topk < model.num_groups
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": model.rope_theta}
    if yarn is not None:
        rope = {
            "rope_type": "yarn",
            "rope_theta": model.rope_theta,
            "factor": yarn.scaling_factor,
            "original_max_position_embeddings": yarn.original_max_position_embeddings,
            "beta_fast": yarn.beta_fast,
            "beta_slow": yarn.beta_slow,
            "mscale": yarn.mscale,
            "mscale_all_dim": yarn.mscale_all_dim,
        }
    out.update(
        {
            "architectures": ["DeepseekV2ForCausalLM"],
            "model_type": "deepseek_v2",
            "vocab_size": model.vocab_size,
            "hidden_size": model.hidden_size,
            "intermediate_size": model.ffn_hidden_size,
            "moe_intermediate_size": model.moe_ffn_hidden_size,
            "num_hidden_layers": model.num_layers,
            "num_attention_heads": model.num_attention_heads,
            "num_key_value_heads": model.num_attention_heads,
            "n_shared_experts": model.num_shared_experts,
            "n_routed_experts": model.num_experts,
            "routed_scaling_factor": model.routed_scaling_factor,
            "kv_lora_rank": model.kv_lora_rank,
            "q_lora_rank": model.q_lora_rank,
            "qk_rope_head_dim": model.qk_pos_emb_head_dim,
            "qk_nope_head_dim": model.qk_head_dim,
            "v_head_dim": model.v_head_dim,
            "topk_method": "group_limited_greedy" if limited else "greedy",
            "n_group": model.num_groups,
            "topk_group": model.group_topk if limited else model.num_groups,
            "num_experts_per_tok": model.topk,
            "first_k_dense_replace": model.first_dense_layers,
            "norm_topk_prob": False,
            "scoring_func": "softmax",
            "moe_layer_freq": 1,
            "aux_loss_alpha": model.balance.expert,
            "seq_aux": True,
            "hidden_act": "silu",
            "rms_norm_eps": model.norm_eps,
            "initializer_range": model.init_std,
            "rope_parameters": rope,
            "attention_bias": False,
            "mlp_bias": False,
            "tie_word_embeddings": False,
            "dtype": dtype,
        }
    )
    if yarn is not None and "max_position_embeddings" not in out:
        out["max_position_embeddings"] = int(yarn.scaling_factor * yarn.original_max_position_embeddings)
    return dict(sorted(out.items()))


def recipe_sections(model: ModelConfig, yarn: YarnConfig | None) -> dict[str, Any]:
    """The `model:` section (and `long_context.yarn`, when the checkpoint has YaRN) of a training recipe."""
    section: dict[str, Any] = {"model": model.model_dump(mode="json")}
    if yarn is not None:
        section["long_context"] = {"yarn": yarn.model_dump(mode="json")}
    return section
