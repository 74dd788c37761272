"""fastText recall of code and math pages: BPE-split training, scoring, and the iterative loop
with domain and URL-prefix discovery (DeepSeekMath §2.1, DeepSeek-Coder-V2 §2)."""
