"""Core attention for Multi-head Latent Attention without TransformerEngine.

megatron-core 0.16.1's local `DotProductAttention` assumes one head size for keys and values, while
MLA's keys carry `qk_head_dim + qk_pos_emb_head_dim` channels and its values `v_head_dim`. PyTorch's
`scaled_dot_product_attention` takes different key and value widths directly and dispatches to
flash / memory-efficient kernels on GPUs, so it is the core attention we plug into MLA's spec.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from megatron.core.transformer.enums import AttnMaskType
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.transformer_config import TransformerConfig


class SDPACoreAttention(MegatronModule):
    """Causal attention over [seq, batch, heads, dim] tensors on `F.scaled_dot_product_attention`.

    The MLA module hands in its own softmax scale (it folds YaRN's mscale in), so the scale is taken
    as given rather than recomputed from the head size.
    """

    #: on GPUs, zero-pad values to the query/key head size so that SDPA can pick FlashAttention
    pad_value_for_flash: bool = True

    def __init__(
        self,
        config: TransformerConfig,
        layer_number: int,
        attn_mask_type: AttnMaskType,
        attention_type: str,
        attention_dropout: float | None = None,
        softmax_scale: float | None = None,
        k_channels: int | None = None,
        v_channels: int | None = None,
        cp_comm_type: str | None = None,
        pg_collection: Any = None,
    ) -> None:
        super().__init__(config=config)
        if config.context_parallel_size != 1:
            raise ValueError("SDPACoreAttention does not implement context parallelism")
        self.attn_mask_type = attn_mask_type
        self.softmax_scale = softmax_scale
        self.dropout_p = config.attention_dropout if attention_dropout is None else attention_dropout

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        attn_mask_type: AttnMaskType | None = None,
        attention_bias: torch.Tensor | None = None,
        packed_seq_params: Any = None,
        **unused: Any,
    ) -> torch.Tensor:
        if packed_seq_params is not None:
            raise ValueError("SDPACoreAttention does not take packed (thd) sequences")
        mask_type = attn_mask_type if attn_mask_type is not None else self.attn_mask_type
        seq_q, batch, heads, _ = query.shape
        # [s, b, h, d] -> [b, h, s, d]
        q = query.permute(1, 2, 0, 3)
        k = key.permute(1, 2, 0, 3)
        v = value.permute(1, 2, 0, 3)
        # A causal layer ignores any materialised causal mask: `is_causal` lets SDPA pick its fast path.
        causal = mask_type == AttnMaskType.causal
        mask = None
        if attention_mask is not None and not causal:
            # megatron masks are True where attention is NOT allowed
            mask = ~attention_mask.bool()
        dv = v.shape[-1]
        # FlashAttention needs one head size for q, k and v; MLA's values are narrower (128 vs 192).
        # Zero columns in V leave the first dv output columns unchanged.
        flash_eligible = q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and dv < q.shape[-1] <= 256
        if self.pad_value_for_flash and flash_eligible:
            v = F.pad(v, (0, q.shape[-1] - dv))
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0,
            is_causal=causal,
            scale=self.softmax_scale,
        )
        out = out[..., :dv]
        # [b, h, s, dv] -> [s, b, h * dv]
        return out.permute(2, 0, 1, 3).reshape(seq_q, batch, heads * dv)
