"""Writes a BERT-family checkpoint's input word-piece embeddings as a GloVe-format text file
(whole-word entries only: no [unused]/[CLS]-style or ##-continuation pieces), for
`rationale train classifier --glove FILE`.

    python reproductions/export_word_embeddings.py MODEL_DIR OUT.txt

MODEL_DIR holds model.safetensors and vocab.txt (or tokenizer.json), e.g. all-MiniLM-L6-v2.
Needs numpy and safetensors (pip install numpy safetensors).
"""
import json
import sys
from pathlib import Path

from safetensors.numpy import load_file


def vocab(model_dir: Path) -> list[str]:
    txt = model_dir / "vocab.txt"
    if txt.exists():
        return txt.read_text(encoding="utf-8").split("\n")
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    pieces = tok["model"]["vocab"]
    out = [""] * len(pieces)
    for piece, i in pieces.items():
        out[i] = piece
    return out


def main() -> None:
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    tensors = load_file(str(model_dir / "model.safetensors"))
    name = next(k for k in tensors if k.endswith("word_embeddings.weight"))
    table = tensors[name]
    words = vocab(model_dir)
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for i, w in enumerate(words[: table.shape[0]]):
            if not w or w.startswith("##") or (w.startswith("[") and w.endswith("]")) or " " in w:
                continue
            f.write(w + " " + " ".join(f"{x:.6f}" for x in table[i]) + "\n")
            n += 1
    print(f"{n} words x {table.shape[1]} dims from {name} -> {out}")


if __name__ == "__main__":
    main()
