"""A Hugging Face import loads into a pipeline: EP=2 x PP=2 on four gloo ranks gives the logits of one.

The import writes the one-process key layout (global layer numbers); each pipeline stage loads its
own layers from it, the first stage embeds, hidden states travel stage to stage, and the last stage
returns the logits, which must match a one-process forward of the same checkpoint to 1e-6 and the
`transformers` model to 1e-5 (fp32).
"""

from __future__ import annotations

import pytest
import torch

from tests.trainer.conftest import run_gloo_ranks

BATCH, SEQ = 2, 16

# One rank: EP=2 x PP=2, layers split [1, 2] (the dense first layer alone on stage 0). The last
# stage's first data-parallel rank writes the logits. Kept out of this module's imports so that the
# ranks load neither pytest nor transformers.
RANK_CODE = """
import sys, torch, torch.distributed as dist
from megatron.core import parallel_state as ps
from trainer.checkpoint_forward import build_and_load, checkpoint_model, pipeline_logits
from trainer.distributed import init_distributed, init_model_parallel, shutdown
ckpt, tokens, out = sys.argv[1], torch.load(sys.argv[2]), sys.argv[3]
init_distributed(timeout_s=120)
init_model_parallel(expert=2, pipeline=2)
try:
    model, yarn = checkpoint_model(ckpt)
    gpt = build_and_load(ckpt, model, yarn, expert_parallel=2, max_sequence_length=tokens.shape[1],
                         pipeline=2, layers_per_stage=[1, 2])
    logits = pipeline_logits(gpt, tokens)
    if ps.is_pipeline_last_stage() and ps.get_data_parallel_rank() == 0:
        torch.save(logits, out)
finally:
    shutdown()
"""


def test_import_at_ep2_pp2_gives_the_one_process_logits(tmp_path):
    pytest.importorskip("transformers")
    from tests.trainer.hf_models import SHAPES, hf_expert_choices, make_model, save
    from trainer.checkpoint_forward import build_and_load, checkpoint_model, logits_of
    from trainer.distributed import single_process_state
    from trainer.hf_import import import_hf

    hf = make_model(SHAPES["group_limit"])
    hf_dir = save(hf, tmp_path / "hf")
    ckpt = tmp_path / "ckpt"
    import_hf(str(hf_dir), str(ckpt), progress=False)
    tokens = torch.randint(0, 256, (BATCH, SEQ), generator=torch.Generator().manual_seed(1234))
    hf_logits, _ = hf_expert_choices(hf, tokens)
    with single_process_state():
        model, yarn = checkpoint_model(str(ckpt))
        one = logits_of(build_and_load(str(ckpt), model, yarn, max_sequence_length=SEQ), tokens)
    torch.save(tokens, tmp_path / "tokens.pt")
    run_gloo_ranks(4, RANK_CODE, str(ckpt), str(tmp_path / "tokens.pt"), str(tmp_path / "pp.pt"))
    split = torch.load(tmp_path / "pp.pt")
    assert split.shape == one.shape == (BATCH, SEQ, 256)
    diff_one = (split - one).abs().max().item()
    diff_hf = (split - hf_logits).abs().max().item()
    print(f"EP=2 x PP=2 vs one process: {diff_one:.2e}; vs transformers: {diff_hf:.2e}")
    assert diff_one <= 1e-6
    assert diff_hf <= 1e-5
