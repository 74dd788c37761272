"""Hugging Face `DeepseekV2ForCausalLM` ⇄ the trainer's model, through `coderforge checkpoint`'s code.

For four tiny random shapes (a binding group limit, `q_lora_rank` null, YaRN, routed scaling 16):
import, then a forward pass of the trainer's own model gives the logits of `transformers` to 1e-5 in
fp32 and routes every token to the same experts; export gives back tensors that `transformers` loads
bit for bit; the safetensors content survives import → export unchanged (fp32 and bf16); the fused
expert kernels read the same checkpoint to the same logits; and the checkpoint loaded by two gloo
processes at expert-parallel size 2 gives the logits of one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest.importorskip("transformers")

from tests.trainer.conftest import run_gloo_ranks
from tests.trainer.hf_models import SHAPES, hf_expert_choices, make_model, safetensors_content, save
from trainer.checkpoint_forward import build_and_load, checkpoint_model, logits_of
from trainer.distributed import single_process_state
from trainer.hf_export import export_hf
from trainer.hf_import import import_hf
from trainer.model.router import DeepSeekV2Router

REPO = Path(__file__).resolve().parents[2]
BATCH, SEQ = 2, 16


@dataclass
class Case:
    hf: torch.nn.Module
    hf_dir: Path
    ckpt: Path
    export: Path
    hf_logits: torch.Tensor
    hf_maps: list[torch.Tensor]
    logits: torch.Tensor | None = None
    maps: list[torch.Tensor] = field(default_factory=list)


def _our_expert_choices(
    gpt: torch.nn.Module, tokens: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and per-MoE-layer routing maps, reordered from megatron's [seq, batch] token order."""
    maps: list[torch.Tensor] = []

    def hook(module, args, output):
        _, routing_map = output
        e = routing_map.shape[-1]
        maps.append(routing_map.view(SEQ, BATCH, e).transpose(0, 1).reshape(BATCH * SEQ, e).clone())

    handles = [m.register_forward_hook(hook) for m in gpt.modules() if isinstance(m, DeepSeekV2Router)]
    try:
        logits = logits_of(gpt, tokens)
    finally:
        for h in handles:
            h.remove()
    return logits, maps


def _tokens() -> torch.Tensor:
    return torch.randint(0, 256, (BATCH, SEQ), generator=torch.Generator().manual_seed(1234))


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("hf-parity")
    tokens = _tokens()
    out: dict[str, Case] = {}
    for name, shape in SHAPES.items():
        hf = make_model(shape)
        hf_dir = save(hf, root / name)
        ckpt = root / f"{name}.ckpt"
        import_hf(str(hf_dir), str(ckpt), progress=False)
        logits, maps = hf_expert_choices(hf, tokens)
        out[name] = Case(hf, hf_dir, ckpt, root / f"{name}.export", logits, maps)
    with single_process_state():
        for case in out.values():
            model, yarn = checkpoint_model(str(case.ckpt))
            gpt = build_and_load(str(case.ckpt), model, yarn, max_sequence_length=SEQ)
            case.logits, case.maps = _our_expert_choices(gpt, tokens)
            export_hf(str(case.ckpt), str(case.export), max_shard_bytes=150_000, progress=False)
        # the same checkpoint read by the fused expert kernels (a different parameter layout)
        case = out["group_limit"]
        model, yarn = checkpoint_model(str(case.ckpt))
        fused = build_and_load(
            str(case.ckpt), model.model_copy(update={"fused": True}), yarn, max_sequence_length=SEQ
        )
        out["fused"] = Case(case.hf, case.hf_dir, case.ckpt, case.export, case.hf_logits, case.hf_maps)
        out["fused"].logits = logits_of(fused, tokens)
    return out


@pytest.mark.parametrize("name", [*SHAPES, "fused"])
def test_import_then_forward_matches_transformers(cases, name):
    case = cases[name]
    assert case.logits is not None and case.logits.shape == case.hf_logits.shape == (BATCH, SEQ, 256)
    diff = (case.logits - case.hf_logits).abs().max().item()
    print(f"{name}: max |logits difference| {diff:.2e}")
    assert diff <= 1e-5, f"{name}: max |logits difference| {diff:.3g}"


@pytest.mark.parametrize("name", list(SHAPES))
def test_same_experts_chosen(cases, name):
    case = cases[name]
    moe_layers = 3 - case.hf.config.first_k_dense_replace
    assert len(case.maps) == len(case.hf_maps) == moe_layers
    for layer, (ours, theirs) in enumerate(zip(case.maps, case.hf_maps, strict=True)):
        assert torch.equal(ours, theirs), f"{name}: layer {layer} routes differently"


def test_the_group_limit_binds(cases):
    """Without the limit, plain top-2 over all experts would pick other experts for some tokens."""
    case = cases["group_limit"]
    from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2TopkRouter

    scores = []
    hook = lambda m, a, o: scores.append(o[0].softmax(-1))  # noqa: E731
    routers = [m for m in case.hf.modules() if isinstance(m, DeepseekV2TopkRouter)]
    handles = [r.register_forward_hook(hook) for r in routers]
    with torch.no_grad():
        case.hf(_tokens())
    for h in handles:
        h.remove()
    changed = 0
    for s, chosen in zip(scores, case.hf_maps, strict=True):
        greedy = torch.zeros_like(chosen).scatter_(1, s.topk(2, dim=-1).indices, True)
        changed += int((greedy != chosen).any(dim=-1).sum())
    assert changed > 0


@pytest.mark.parametrize("name", list(SHAPES))
def test_export_loads_in_transformers_bit_identical(cases, name):
    from transformers import DeepseekV2ForCausalLM

    case = cases[name]
    loaded = DeepseekV2ForCausalLM.from_pretrained(case.export)
    original, back = case.hf.state_dict(), loaded.state_dict()
    assert sorted(original) == sorted(back)
    for key, tensor in original.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key
    for key in (
        "n_group",
        "topk_group",
        "topk_method",
        "routed_scaling_factor",
        "q_lora_rank",
        "rope_parameters",
    ):
        assert getattr(loaded.config, key) == getattr(case.hf.config, key), key


@pytest.mark.parametrize("name", list(SHAPES))
def test_round_trip_keeps_safetensors_content(cases, name):
    case = cases[name]
    before, after = safetensors_content(case.hf_dir), safetensors_content(case.export)
    assert sorted(before) == sorted(after)
    for key, tensor in before.items():
        assert after[key].dtype == tensor.dtype and torch.equal(after[key], tensor), key


def test_bf16_round_trip_and_reproducible_import(tmp_path):
    hf = make_model(SHAPES["q_lora_null"], seed=3).to(torch.bfloat16)
    hf_dir = save(hf, tmp_path / "hf")
    import_hf(str(hf_dir), str(tmp_path / "ckpt"), progress=False)
    # same input, same bytes (torch's random save id is left out of .metadata)
    import_hf(str(hf_dir), str(tmp_path / "again"), progress=False)
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "again").iterdir())
    assert all((tmp_path / "ckpt" / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)
    with single_process_state():
        export_hf(str(tmp_path / "ckpt"), str(tmp_path / "out"), progress=False)
    before, after = safetensors_content(hf_dir), safetensors_content(tmp_path / "out")
    assert {t.dtype for t in before.values()} >= {torch.bfloat16}
    assert sorted(before) == sorted(after)
    assert all(after[k].dtype == t.dtype and torch.equal(after[k], t) for k, t in before.items())


def test_two_expert_parallel_ranks_give_the_same_logits(cases, tmp_path):
    case = cases["group_limit"]
    out = tmp_path / "ep2.pt"
    torch.save(_tokens(), tmp_path / "tokens.pt")
    code = (
        "import torch; from tests.trainer.hf_models import forward_expert_parallel as f; "
        f"f({str(case.ckpt)!r}, torch.load({str(tmp_path / 'tokens.pt')!r}), {str(out)!r})"
    )
    run_gloo_ranks(2, code, timeout=150)
    ep2 = torch.load(out)
    assert (ep2 - case.logits).abs().max().item() <= 1e-6
    assert (ep2 - case.hf_logits).abs().max().item() <= 1e-5


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "corpus.app.cli", "checkpoint", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_cli_forward_gives_the_transformers_logits(cases, tmp_path):
    import numpy as np

    case = cases["yarn"]
    ids = _tokens()[0].tolist()
    proc = _cli(
        "forward", str(case.ckpt), "--tokens", " ".join(map(str, ids)), "--out", str(tmp_path / "l.npy")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    logits = torch.from_numpy(np.load(tmp_path / "l.npy"))
    assert logits.shape == (SEQ, 256)
    assert (logits - case.hf_logits[0]).abs().max().item() <= 1e-5


def test_cli_refuses_a_v3_checkpoint_in_one_line(cases, tmp_path):
    import json
    import shutil

    src = cases["q_lora_null"].hf_dir
    bad = tmp_path / "v3"
    shutil.copytree(src, bad)
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, "topk_method": "noaux_tc"}))
    proc = _cli("import", str(bad), str(tmp_path / "out"))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"error: {bad}/config.json: topk_method: 'noaux_tc' is not DeepSeek-V2 routing (greedy, group_limited_greedy)"
    )
    assert not (tmp_path / "out").exists()
