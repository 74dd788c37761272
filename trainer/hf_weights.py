"""The one-to-one map between Hugging Face DeepSeek-V2 tensors and our `dist_checkpointing` tensors.

Each tensor of a `DeepseekV2ForCausalLM` checkpoint is exactly one chunk of one tensor of ours, with
no reordering: megatron-core's MLA de-interleaves the rotary channels itself, so the rope rows of
`q_b_proj` / `kv_a_proj_with_mqa` are copied as they are (permuting them is a bug, not a fix). The
only reshaping is stacking: a SwiGLU `linear_fc1` is [gate; up] along its rows, and the routed
experts of a layer are one tensor [E, ...] with expert e at index e (the key megatron's expert layers
save under, whatever the expert-parallel layout or `fused`).

The layout is derived from the `ModelConfig` alone, with no model built, so the importer needs
neither megatron nor a process group; `tests/trainer/test_hf_weights.py` checks it against the
sharded state dict of a real megatron-core model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from trainer.recipe import ModelConfig


@dataclass(frozen=True)
class Chunk:
    """One Hugging Face tensor: where it sits inside a checkpoint tensor (with any leading expert axis)."""

    hf_name: str
    offset: tuple[int, ...]
    shape: tuple[int, ...]  # the chunk's shape inside the checkpoint tensor (leading 1 for experts)

    @property
    def hf_shape(self) -> tuple[int, ...]:
        return self.shape[1:] if len(self.shape) == 3 else self.shape


@dataclass(frozen=True)
class CheckpointTensor:
    """One `dist_checkpointing` tensor: its key, global shape and the HF tensors it is made of."""

    key: str
    shape: tuple[int, ...]
    chunks: tuple[Chunk, ...]
    #: 1 for the routed experts' stacked tensors (megatron's `prepend_axis_num`)
    prepend_axes: int = 0


@dataclass(frozen=True)
class CheckpointLayout:
    tensors: tuple[CheckpointTensor, ...]
    #: unique keys of the `_extra_state` objects megatron's linear layers save (None for non-TE layers)
    objects: tuple[str, ...]

    def hf_names(self) -> list[str]:
        return [c.hf_name for t in self.tensors for c in t.chunks]


def _whole(key: str, hf: str, shape: tuple[int, ...]) -> CheckpointTensor:
    return CheckpointTensor(key, shape, (Chunk(hf, (0,) * len(shape), shape),))


def _glu(key: str, gate: str, up: str, width: int, hidden: int) -> CheckpointTensor:
    """megatron's SwiGLU fc1: [gate; up] rows, saved as two chunks."""
    return CheckpointTensor(
        key,
        (2 * width, hidden),
        (Chunk(gate, (0, 0), (width, hidden)), Chunk(up, (width, 0), (width, hidden))),
    )


def _obj(name: str, index: int = 0, count: int = 1) -> str:
    return f"{name}._extra_state/shard_{index}_{count}"


def _attention(m: ModelConfig, i: int) -> Iterator[CheckpointTensor | str]:
    ours, hf = f"decoder.layers.{i}.self_attention", f"model.layers.{i}.self_attn"
    h, heads = m.hidden_size, m.num_attention_heads
    qk = m.qk_head_dim + m.qk_pos_emb_head_dim
    yield _whole(f"{ours}.linear_proj.weight", f"{hf}.o_proj.weight", (h, heads * m.v_head_dim))
    yield _obj(f"{ours}.linear_proj")
    if m.q_lora_rank is None:
        yield _whole(f"{ours}.linear_q_proj.weight", f"{hf}.q_proj.weight", (heads * qk, h))
        yield _obj(f"{ours}.linear_q_proj")
    else:
        r = m.q_lora_rank
        yield _whole(f"{ours}.linear_q_down_proj.weight", f"{hf}.q_a_proj.weight", (r, h))
        yield _obj(f"{ours}.linear_q_down_proj")
        yield _whole(f"{ours}.linear_q_up_proj.weight", f"{hf}.q_b_proj.weight", (heads * qk, r))
        yield _obj(f"{ours}.linear_q_up_proj")
    kv = m.kv_lora_rank
    yield _whole(
        f"{ours}.linear_kv_down_proj.weight",
        f"{hf}.kv_a_proj_with_mqa.weight",
        (kv + m.qk_pos_emb_head_dim, h),
    )
    yield _obj(f"{ours}.linear_kv_down_proj")
    yield _whole(
        f"{ours}.linear_kv_up_proj.weight",
        f"{hf}.kv_b_proj.weight",
        (heads * (m.qk_head_dim + m.v_head_dim), kv),
    )
    yield _obj(f"{ours}.linear_kv_up_proj")
    if m.q_lora_rank is not None:
        yield _whole(f"{ours}.q_layernorm.weight", f"{hf}.q_a_layernorm.weight", (m.q_lora_rank,))
    yield _whole(f"{ours}.kv_layernorm.weight", f"{hf}.kv_a_layernorm.weight", (kv,))


def _mlp(m: ModelConfig, i: int) -> Iterator[CheckpointTensor | str]:
    ours, hf = f"decoder.layers.{i}.mlp", f"model.layers.{i}.mlp"
    h = m.hidden_size
    if i < m.first_dense_layers:
        f = m.ffn_hidden_size
        yield _glu(f"{ours}.linear_fc1.weight", f"{hf}.gate_proj.weight", f"{hf}.up_proj.weight", f, h)
        yield _obj(f"{ours}.linear_fc1")
        yield _whole(f"{ours}.linear_fc2.weight", f"{hf}.down_proj.weight", (h, f))
        yield _obj(f"{ours}.linear_fc2")
        return
    e_count, f = m.num_experts, m.moe_ffn_hidden_size
    yield _whole(f"{ours}.router.weight", f"{hf}.gate.weight", (e_count, h))
    fc1, fc2 = [], []
    for e in range(e_count):
        x = f"{hf}.experts.{e}"
        fc1 += [
            Chunk(f"{x}.gate_proj.weight", (e, 0, 0), (1, f, h)),
            Chunk(f"{x}.up_proj.weight", (e, f, 0), (1, f, h)),
        ]
        fc2.append(Chunk(f"{x}.down_proj.weight", (e, 0, 0), (1, h, f)))
    yield CheckpointTensor(f"{ours}.experts.experts.linear_fc1.weight", (e_count, 2 * f, h), tuple(fc1), 1)
    yield CheckpointTensor(f"{ours}.experts.experts.linear_fc2.weight", (e_count, h, f), tuple(fc2), 1)
    for e in range(e_count):
        yield _obj(f"{ours}.experts.experts.linear_fc1", e, e_count)
        yield _obj(f"{ours}.experts.experts.linear_fc2", e, e_count)
    if m.num_shared_experts:
        s, x = m.num_shared_experts * f, f"{hf}.shared_experts"
        yield _glu(
            f"{ours}.shared_experts.linear_fc1.weight", f"{x}.gate_proj.weight", f"{x}.up_proj.weight", s, h
        )
        yield _obj(f"{ours}.shared_experts.linear_fc1")
        yield _whole(f"{ours}.shared_experts.linear_fc2.weight", f"{x}.down_proj.weight", (h, s))
        yield _obj(f"{ours}.shared_experts.linear_fc2")


def checkpoint_layout(m: ModelConfig) -> CheckpointLayout:
    """Every tensor (in Hugging Face order) and `_extra_state` object of our checkpoint for shape `m`."""
    if m.vocab_size is None:
        raise ValueError("model.vocab_size must be set to map checkpoint tensors")
    h, v = m.hidden_size, m.vocab_size
    items: list[CheckpointTensor | str] = [
        _whole("embedding.word_embeddings.weight", "model.embed_tokens.weight", (v, h))
    ]
    for i in range(m.num_layers):
        items.append(
            _whole(
                f"decoder.layers.{i}.input_layernorm.weight", f"model.layers.{i}.input_layernorm.weight", (h,)
            )
        )
        items += _attention(m, i)
        items.append(
            _whole(
                f"decoder.layers.{i}.pre_mlp_layernorm.weight",
                f"model.layers.{i}.post_attention_layernorm.weight",
                (h,),
            )
        )
        items += _mlp(m, i)
    items.append(_whole("decoder.final_layernorm.weight", "model.norm.weight", (h,)))
    items.append(_whole("output_layer.weight", "lm_head.weight", (v, h)))  # saves no _extra_state
    tensors = tuple(x for x in items if isinstance(x, CheckpointTensor))
    objects = tuple(x for x in items if isinstance(x, str))
    return CheckpointLayout(tensors, objects)


#: tensors some Hugging Face checkpoints carry that are not weights (recomputed by every model)
IGNORED_HF_SUFFIXES = (".rotary_emb.inv_freq",)
