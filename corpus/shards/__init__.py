"""The tokenizer, Megatron .bin/.idx shards with Parquet twins, and the manifest the trainer reads."""
