"""The GPU path: bf16 training of the tiny model, with and without the fused kernels.

Skipped where CUDA is absent (the CPU path is covered by test_training.py).
"""

from __future__ import annotations

import pytest
import torch

from tests.trainer.conftest import save_recipe, tiny_recipe, train_cli

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("fused", [False, True])
def test_tiny_bf16_trains_on_gpu(manifest, tmp_path, fused):
    recipe = tiny_recipe(
        manifest,
        model={"fused": fused},
        parallel={"dispatcher": "allgather" if fused else "alltoall"},
        training={"steps": 50, "precision": "bf16"},
    )
    result = train_cli(save_recipe(tmp_path / "tiny.yaml", recipe), tmp_path / "r.json")
    losses = result["losses"]
    assert losses[0] > 5.0
    assert sum(losses[-5:]) / 5 < losses[0] - 1.0
    assert result["steps"][-1]["tokens_per_s"] > 0


def test_cpu_compat_stays_off_with_cuda():
    from trainer import cpu_compat

    assert cpu_compat.enable_cpu() is False
    assert not cpu_compat.cpu_active()
    assert cpu_compat.default_device().type == "cuda"


def test_sdpa_core_attention_value_padding_is_exact():
    """Padding MLA's narrower values for FlashAttention changes nothing in the output."""
    from megatron.core.transformer.enums import AttnMaskType
    from megatron.core.transformer.transformer_config import TransformerConfig

    from trainer.model.sdpa_attention import SDPACoreAttention

    config = TransformerConfig(num_layers=1, hidden_size=64, num_attention_heads=4)
    attn = SDPACoreAttention(config, 1, AttnMaskType.causal, "self", softmax_scale=192**-0.5).eval()
    q = torch.randn(128, 2, 4, 192, device="cuda", dtype=torch.bfloat16)
    k = torch.randn_like(q)
    v = torch.randn(128, 2, 4, 128, device="cuda", dtype=torch.bfloat16)
    padded = attn(q, k, v, None)
    attn.pad_value_for_flash = False
    plain = attn(q, k, v, None)
    torch.testing.assert_close(padded.float(), plain.float(), rtol=2e-2, atol=2e-2)
    assert padded.shape == (128, 2, 4 * 128)


def test_lite_slice_bf16_trains_with_fused_kernels(manifest, tmp_path):
    """Coder-V2-Lite at full width (64 experts, top-6, MLA without q compression), three layers."""
    import yaml

    from tests.trainer.conftest import REPO

    lite = yaml.safe_load((REPO / "recipes" / "train-lite.yaml").read_text())
    recipe = tiny_recipe(manifest, training={"steps": 20, "precision": "bf16", "log_interval": 5})
    recipe["model"] = dict(lite["model"], num_layers=3, fused=True)
    recipe["parallel"] = {"dispatcher": "allgather"}
    recipe["data"]["seq_length"] = 1024
    recipe["batch"] = {"global_batch_size": 4, "micro_batch_size": 2}
    result = train_cli(save_recipe(tmp_path / "lite.yaml", recipe), tmp_path / "r.json", timeout=600)
    losses = result["losses"]
    assert losses[0] > 10.0  # ~ln(102400)
    assert losses[-1] < losses[0] - 2.0
    assert result["steps"][-1]["mfu"] is not None
