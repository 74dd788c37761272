"""`model.fused: true` starts from the same model as `fused: false`, for any expert-parallel size.

The fused experts keep all local experts in two GroupedMLP tensors, weight1 [H, E*2F] and weight2
[E*F, H], read by the forward as `weight1.view(E, H, 2F)[e]` and `weight2.view(E, F, H)[e]`;
SequentialMLP's expert e holds the transposes, `linear_fc1.weight` [2F, H] and `linear_fc2.weight`
[H, F]. Mapped that way (written out here, independently of the builder), every expert of a fused
model must equal the non-fused one weight for weight, at EP=1 and gathered from two gloo processes
at EP=2, and a forward pass of both must give the same logits.
"""

from __future__ import annotations

import os

import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.trainer.conftest import run_gloo_ranks
from trainer.distributed import single_process_state
from trainer.model.builder import build_gpt_model, layout_independent_init, transformer_config
from trainer.recipe import ModelConfig, ParallelConfig

SEED = 11
EXPERTS = 4
HIDDEN = 32
FFN = 24  # 2F = 48: neither square blocks nor H == F, so a transposed or mixed-up block shows
MODEL = {
    "num_layers": 3,
    "hidden_size": HIDDEN,
    "num_attention_heads": 2,
    "q_lora_rank": 16,
    "kv_lora_rank": 16,
    "qk_head_dim": 8,
    "qk_pos_emb_head_dim": 4,
    "v_head_dim": 8,
    "ffn_hidden_size": 64,
    "first_dense_layers": 1,
    "num_experts": EXPERTS,
    "num_shared_experts": 1,
    "moe_ffn_hidden_size": FFN,
    "topk": 2,
    "num_groups": 2,
    "group_topk": 1,
    "vocab_size": 64,
}


def _model(fused: bool, expert_parallel: int = 1) -> torch.nn.Module:
    """The tiny model, built and initialised as `coderforge train` does (inside a parallel state)."""
    model = ModelConfig(**MODEL, fused=fused)
    config = transformer_config(model, ParallelConfig(expert=expert_parallel), precision="fp32")
    gpt = build_gpt_model(config, model, max_sequence_length=16)
    assert layout_independent_init(gpt, model, SEED) > 0
    return gpt


def _canonical(gpt: torch.nn.Module, ep_rank: int, local: int) -> dict[str, torch.Tensor]:
    """Every parameter under a layout-free name; experts in SequentialMLP orientation, named
    `...experts.expert.<global index>.linear_fc1.weight` / `linear_fc2.weight`."""
    out = {}
    for name, p in gpt.named_parameters():
        t = p.detach().clone()
        prefix, _, leaf = name.rpartition(".")
        if leaf == "weight1":
            for e, block in enumerate(t.view(local, HIDDEN, 2 * FFN)):
                out[f"{prefix}.expert.{ep_rank * local + e}.linear_fc1.weight"] = block.t().contiguous()
        elif leaf == "weight2":
            for e, block in enumerate(t.view(local, FFN, HIDDEN)):
                out[f"{prefix}.expert.{ep_rank * local + e}.linear_fc2.weight"] = block.t().contiguous()
        elif ".local_experts." in name:
            head, _, rest = name.partition(".local_experts.")
            e, _, tail = rest.partition(".")
            out[f"{head}.expert.{ep_rank * local + int(e)}.{tail}"] = t
        else:
            out[name] = t
    return out


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].shape == b[name].shape, name
        assert torch.equal(a[name], b[name]), name


def _expert_keys(params: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in params if ".experts.expert." in k]


def test_fused_and_unfused_experts_are_the_same_weights():
    with single_process_state():
        plain = _canonical(_model(fused=False), 0, EXPERTS)
        fused = _canonical(_model(fused=True), 0, EXPERTS)
    keys = _expert_keys(plain)
    assert len(keys) == 2 * 2 * EXPERTS  # 2 MoE layers x fc1/fc2 x experts
    assert plain[keys[0]].shape == (2 * FFN, HIDDEN)
    _assert_same(plain, fused)
    # and the experts are distinct draws, not copies of one another
    fc1 = [plain[f"decoder.layers.1.mlp.experts.expert.{e}.linear_fc1.weight"] for e in range(EXPERTS)]
    assert all(not torch.equal(fc1[0], w) for w in fc1[1:])


def _dump_fused_expert_parallel(out: str) -> None:
    """One rank of the EP=2 run: build the fused model and gather every rank's parameters on rank 0."""
    import torch.distributed as dist
    from megatron.core import parallel_state

    from trainer.distributed import init_distributed, init_model_parallel, shutdown

    init_distributed(timeout_s=120)
    init_model_parallel(expert=2, seed=SEED)
    try:
        rank = parallel_state.get_expert_model_parallel_rank()
        params = _canonical(_model(fused=True, expert_parallel=2), rank, EXPERTS // 2)
        gathered = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, params)
        if dist.get_rank() == 0:
            torch.save(gathered, out)
    finally:
        shutdown()


def test_fused_experts_are_the_same_for_two_expert_parallel_ranks(tmp_path):
    out = tmp_path / "ep2.pt"
    code = f"from tests.trainer.test_fused_init import _dump_fused_expert_parallel as f; f({str(out)!r})"
    run_gloo_ranks(2, code, timeout=150)

    with single_process_state():
        one = _canonical(_model(fused=True), 0, EXPERTS)
    rank0, rank1 = torch.load(out)
    # each rank holds half the experts; everything else is replicated and identical
    experts0, experts1 = set(_expert_keys(rank0)), set(_expert_keys(rank1))
    assert experts0.isdisjoint(experts1) and len(experts0) == len(experts1) == 2 * 2 * EXPERTS // 2
    shared = set(rank0) - experts0
    assert shared == set(rank1) - experts1
    _assert_same({k: rank0[k] for k in shared}, {k: rank1[k] for k in shared})
    _assert_same({**rank0, **rank1}, one)


def test_fused_and_unfused_forward_give_the_same_logits():
    """FusedGroupedMLP runs on the CPU through the grouped SwiGLU kernel's PyTorch reference."""
    torch.manual_seed(0)
    tokens = torch.randint(0, MODEL["vocab_size"], (2, 16))
    positions = torch.arange(16).unsqueeze(0).expand(2, -1)
    logits = {}
    with single_process_state():
        for fused in (False, True):
            gpt = _model(fused=fused).eval()
            with torch.no_grad():
                logits[fused] = gpt(tokens, positions, None)
    assert logits[False].shape == (2, 16, MODEL["vocab_size"])
    # the same weights through two dispatch paths; the old mixed-up expert blocks differed by ~1e-4
    torch.testing.assert_close(logits[True], logits[False], rtol=1e-5, atol=1e-6)
