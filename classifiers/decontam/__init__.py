"""Benchmark decontamination: 10-gram overlap and exact short strings, HumanEval built in."""
