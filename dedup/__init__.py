"""Exact and MinHash near-duplicate removal, file- and repository-level."""
