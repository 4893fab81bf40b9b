"""Python vs command line on the same scoring job: `rationale.score(...)` in-process (the dict
included) against `rationale score` as a process (the score file written by both).

    cargo bench --bench synthetic -- target/synthetic            # 2000 docs x 800 tokens
    python benches/python_score.py target/synthetic target/release/rationale [REPEATS]

Prints the median wall-clock of each and their ratio, after checking both write the same bytes.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import rationale


def main():
    data, cli = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    results = os.path.join(data, "preds.jsonl")
    tmp = tempfile.mkdtemp()
    py_file, cli_file = os.path.join(tmp, "py.json"), os.path.join(tmp, "cli.json")
    py_times, cli_times = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(
            [cli, "score", "--data-dir", data, "--split", "test", "--results", results,
             "--score-file", cli_file, "-q"],
            check=True,
        )
        cli_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        rationale.score(data, "test", results, score_file=py_file)
        py_times.append(time.perf_counter() - t)
    with open(py_file, "rb") as a, open(cli_file, "rb") as b:
        assert a.read() == b.read(), "Python and the CLI wrote different score files"
    py, cl = statistics.median(py_times), statistics.median(cli_times)
    print(f"{repeats} runs each, medians: python {py:.3f} s, cli {cl:.3f} s, "
          f"python / cli = {py / cl:.2f}")


if __name__ == "__main__":
    main()
