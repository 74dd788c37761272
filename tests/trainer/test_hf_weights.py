"""The config.json ⇄ recipe mapping and the tensor layout the importer writes, checked against
megatron-core's own sharded state dict; Hugging Face configs the trainer would compute differently
are refused in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")

from megatron.core.dist_checkpointing.dict_utils import nested_values
from megatron.core.dist_checkpointing.mapping import ShardedObject, ShardedTensor, apply_factories

from corpus.core.errors import UserError
from trainer.distributed import single_process_state
from trainer.hf_config import model_from_hf, model_to_hf
from trainer.hf_weights import checkpoint_layout
from trainer.init_from import compare_models, describe
from trainer.model.builder import build_gpt_model, transformer_config
from trainer.recipe import ModelConfig, load_recipe

REPO = Path(__file__).resolve().parents[2]

# a Lite-shaped config.json in the key style of the DeepSeek-V2 releases (remote-code keys, rope_scaling)
LITE_CONFIG = {
    "architectures": ["DeepseekV2ForCausalLM"],
    "model_type": "deepseek_v2",
    "vocab_size": 102400,
    "hidden_size": 2048,
    "intermediate_size": 10944,
    "moe_intermediate_size": 1408,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "n_shared_experts": 2,
    "n_routed_experts": 64,
    "routed_scaling_factor": 1.0,
    "kv_lora_rank": 512,
    "q_lora_rank": None,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "qk_nope_head_dim": 128,
    "topk_method": "greedy",
    "n_group": 1,
    "topk_group": 1,
    "num_experts_per_tok": 6,
    "moe_layer_freq": 1,
    "first_k_dense_replace": 1,
    "norm_topk_prob": False,
    "scoring_func": "softmax",
    "aux_loss_alpha": 0.001,
    "seq_aux": True,
    "hidden_act": "silu",
    "max_position_embeddings": 163840,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000,
    "rope_scaling": {
        "beta_fast": 32,
        "beta_slow": 1,
        "factor": 40,
        "mscale": 0.707,
        "mscale_all_dim": 0.707,
        "original_max_position_embeddings": 4096,
        "type": "yarn",
    },
    "attention_bias": False,
    "tie_word_embeddings": False,
    "auto_map": {"AutoModelForCausalLM": "modeling_deepseek.DeepseekV2ForCausalLM"},
    "bos_token_id": 100000,
    "eos_token_id": 100001,
    "torch_dtype": "bfloat16",
}
# and the 236B one differs in these keys
FULL_CHANGES = {
    "hidden_size": 5120,
    "intermediate_size": 12288,
    "moe_intermediate_size": 1536,
    "num_hidden_layers": 60,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "n_routed_experts": 160,
    "routed_scaling_factor": 16.0,
    "q_lora_rank": 1536,
    "topk_method": "group_limited_greedy",
    "n_group": 8,
    "topk_group": 3,
    "aux_loss_alpha": 0.003,
}
SHAPE_KEYS = [
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_head_dim",
    "qk_pos_emb_head_dim",
    "v_head_dim",
    "ffn_hidden_size",
    "first_dense_layers",
    "num_experts",
    "num_shared_experts",
    "moe_ffn_hidden_size",
    "topk",
    "num_groups",
    "group_topk",
    "routed_scaling_factor",
    "vocab_size",
    "norm_eps",
    "rope_theta",
]


@pytest.mark.parametrize(("changes", "recipe"), [({}, "train-lite.yaml"), (FULL_CHANGES, "train-full.yaml")])
def test_release_configs_map_to_our_recipes(changes, recipe):
    model, yarn = model_from_hf({**LITE_CONFIG, **changes})
    ours = load_recipe(REPO / "recipes" / recipe)
    for key in SHAPE_KEYS:
        assert getattr(model, key) == getattr(ours.model, key), key
    assert model.balance.expert == ours.model.balance.expert
    assert yarn is not None and yarn.scaling_factor == 40 and yarn.original_max_position_embeddings == 4096
    assert yarn.mscale == yarn.mscale_all_dim == 0.707


def test_export_config_round_trips():
    model, yarn = model_from_hf({**LITE_CONFIG, **FULL_CHANGES})
    exported = model_to_hf(model, yarn, base={**LITE_CONFIG, **FULL_CHANGES})
    assert "auto_map" not in exported and "rope_scaling" not in exported
    assert exported["bos_token_id"] == 100000 and exported["rope_parameters"]["rope_type"] == "yarn"
    again, yarn_again = model_from_hf(exported)
    assert again == model and yarn_again == yarn


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"norm_topk_prob": True}, "norm_topk_prob"),
        ({"topk_method": "noaux_tc"}, "topk_method"),
        ({"scoring_func": "sigmoid"}, "scoring_func"),
        ({"rms_norm_eps": 1e-5}, "rms_norm_eps"),
        ({"moe_layer_freq": 2}, "moe_layer_freq"),
        ({"model_type": "deepseek_v3"}, "model_type"),
        ({"rope_scaling": {"type": "linear", "factor": 2}}, "rope_scaling.rope_type"),
        ({"num_key_value_heads": 4}, "num_key_value_heads"),
    ],
)
def test_configs_we_would_compute_differently_are_refused(change, key):
    with pytest.raises(UserError) as err:
        model_from_hf({**LITE_CONFIG, **change}, "lite/config.json")
    message = str(err.value)
    assert message.startswith(f"lite/config.json: {key}:") and "\n" not in message


TINY = {
    "num_layers": 3,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "kv_lora_rank": 16,
    "qk_head_dim": 8,
    "qk_pos_emb_head_dim": 4,
    "v_head_dim": 8,
    "ffn_hidden_size": 48,
    "first_dense_layers": 1,
    "num_experts": 4,
    "moe_ffn_hidden_size": 24,
    "topk": 2,
    "vocab_size": 64,
}


@pytest.mark.parametrize(
    "extra",
    [
        {"q_lora_rank": 16, "num_shared_experts": 2},
        {"q_lora_rank": None, "num_shared_experts": 0, "first_dense_layers": 0},
    ],
)
def test_layout_matches_megatron_sharded_state_dict(extra):
    """Every key, global shape, chunk and _extra_state object the importer writes is one the trainer's
    model asks for on load, and nothing it asks for is missing."""
    model = ModelConfig(**{**TINY, **extra})
    with single_process_state():
        config = transformer_config(model, precision="fp32", meta=True)
        with torch.device("meta"):
            gpt = build_gpt_model(config, model, max_sequence_length=16)
        sharded = gpt.sharded_state_dict()
    apply_factories(sharded)
    want_chunks, want_objects = set(), set()
    for sh in nested_values(sharded):
        if isinstance(sh, ShardedTensor):
            shape = (1,) * sh.prepend_axis_num + tuple(sh.local_shape)
            want_chunks.add((sh.key, tuple(sh.global_shape), tuple(sh.global_offset), shape))
        elif isinstance(sh, ShardedObject):
            want_objects.add(sh.unique_key)
    layout = checkpoint_layout(model)
    have_chunks = {(t.key, t.shape, c.offset, c.shape) for t in layout.tensors for c in t.chunks}
    assert have_chunks == want_chunks
    assert set(layout.objects) == want_objects
    assert len(layout.hf_names()) == len(set(layout.hf_names()))


def test_init_from_checks_the_model_and_says_what_it_loads(tmp_path):
    model = ModelConfig(**TINY)
    with pytest.raises(UserError, match=r"model\.hidden_size is 48 there, 32 in the recipe"):
        compare_models(model, {**model.model_dump(), "hidden_size": 48}, "ckpt")
    notes = compare_models(model, {**model.model_dump(), "routed_scaling_factor": 2.0}, "ckpt")
    assert notes == ["model.routed_scaling_factor: 2.0 in the checkpoint, 1.0 in the recipe"]
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps(LITE_CONFIG))
    (hf / "model.safetensors.index.json").write_text("{}")
    line = describe(str(hf), "weights")
    assert "Hugging Face folder" in line and "fresh optimizer" in line
    assert "optimizer moments" in describe(str(tmp_path / "ckpt"), "all")
