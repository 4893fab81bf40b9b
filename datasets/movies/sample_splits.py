#!/usr/bin/env python3
"""Re-creates the bundled train/val sample of ERASER Movies from the full dataset.

    python3 datasets/movies/sample_splits.py ../shared/data/eraser/movies datasets/movies

Draws 320 train and 60 val annotations with random.Random(2020).sample, keeps them in the
file's order, writes train.jsonl / val.jsonl byte for byte and copies their documents to docs/.
"""
import json
import random
import shutil
import sys
from pathlib import Path

SEED, SIZES = 2020, {"train": 320, "val": 60}


def main(src: Path, dst: Path) -> None:
    rng = random.Random(SEED)
    for split, n in SIZES.items():
        lines = (src / f"{split}.jsonl").read_text().splitlines(keepends=True)
        keep = sorted(rng.sample(range(len(lines)), n))
        (dst / f"{split}.jsonl").write_text("".join(lines[i] for i in keep))
        for i in keep:
            for group in json.loads(lines[i])["evidences"]:
                for ev in group:
                    shutil.copyfile(src / "docs" / ev["docid"], dst / "docs" / ev["docid"])
            doc = json.loads(lines[i])["annotation_id"]
            shutil.copyfile(src / "docs" / doc, dst / "docs" / doc)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
