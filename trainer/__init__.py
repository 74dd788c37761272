"""DeepSeek-V2 MoE training on megatron-core."""
