"""The DeepSeek-V2 model on megatron-core: MLA attention, DeepSeekMoE layers, our router."""
