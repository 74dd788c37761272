"""Token sequences as the shards hold them: FIM applied where drawn, EOS at the end.

Used by the count stage (which caches every document's first copy) and by the shard writer (which
re-tokenizes only copies whose FIM draw differs from the cached one), so both produce the same ids
for the same copy by construction.
"""

from __future__ import annotations

import numpy as np

from corpus.mix.fim import FimSplit, assemble_array


def encode_sequences(
    tok, texts: list[str], splits: list[FimSplit | None], plain_lengths: bool = False
) -> tuple[list[np.ndarray], list[int] | None]:
    """One id array per text (FIM parts tokenized separately, EOS appended), in one tokenizer batch.

    With `plain_lengths`, also the token count of each text tokenized whole (no FIM, no EOS): for
    a FIM copy that needs the whole text tokenized once more, so it is only asked for when counting.
    """
    pieces: list[str] = []
    for text, split in zip(texts, splits, strict=True):
        if split is None:
            pieces.append(text)
        else:
            pieces.extend(split.parts(text))
            if plain_lengths:
                pieces.append(text)
    encoded = tok.encode_arrays(pieces)
    eos = np.array([tok.eos_id], dtype=np.int32)
    seqs: list[np.ndarray] = []
    plain: list[int] | None = [] if plain_lengths else None
    at = 0
    for split in splits:
        if split is None:
            ids = encoded[at]
            at += 1
            if plain is not None:
                plain.append(len(ids))
            seqs.append(np.concatenate([ids, eos]))
        else:
            seqs.append(
                assemble_array(
                    split,
                    *encoded[at : at + 3],
                    tok.fim_begin_id,
                    tok.fim_hole_id,
                    tok.fim_end_id,
                    tok.eos_id,
                )
            )
            at += 3
            if plain is not None:
                plain.append(len(encoded[at]))
                at += 1
    return seqs, plain
