"""Shared paths: the repository root, its fixtures, and the `rationale` command line to compare
with (RATIONALE_BIN, else the newest build under target/ or $CARGO_TARGET_DIR)."""

import glob
import math
import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOVIES = os.path.join(ROOT, "datasets", "movies")
ORACLE = os.path.join(ROOT, "tests", "fixtures", "oracle")


def cli_binary():
    explicit = os.environ.get("RATIONALE_BIN")
    if explicit:
        return explicit
    dirs = [os.path.join(ROOT, "target")]
    if os.environ.get("CARGO_TARGET_DIR"):
        dirs.append(os.environ["CARGO_TARGET_DIR"])
    found = [
        p
        for d in dirs
        for p in glob.glob(os.path.join(d, "*", "rationale"))
        if os.access(p, os.X_OK) and os.path.isfile(p)
    ]
    if found:
        return max(found, key=os.path.getmtime)
    return shutil.which("rationale")


@pytest.fixture(scope="session")
def cli():
    path = cli_binary()
    if path is None:
        pytest.skip("no `rationale` binary to compare with: set RATIONALE_BIN or cargo build")
    return path


def modern_keys(expected, ours):
    """`ours` with the key names of `expected` where scikit-learn versions differ: modern
    classification reports have `accuracy` (a number) for 0.20's `micro avg` (whose f1-score is
    the accuracy); `tokens_to_flip` is an addition of ours (tests/common/mod.rs does the same)."""
    if isinstance(expected, dict) and isinstance(ours, dict):
        ours = {k: v for k, v in ours.items() if k in expected or k != "tokens_to_flip"}
        if "accuracy" in expected and "accuracy" not in ours and "micro avg" in ours:
            ours["accuracy"] = ours.pop("micro avg")["f1-score"]
        return {k: modern_keys(expected.get(k), v) for k, v in ours.items()}
    if isinstance(expected, list) and isinstance(ours, list):
        return [modern_keys(e, o) for e, o in zip(expected, ours)] + ours[len(expected):]
    return ours


def same(a, b, tol=0.0, where=""):
    """Structural equality of two score files; NaN equals NaN, numbers within `tol`."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            same(a[k], b[k], tol, f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, tol, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), f"{where}: {a} vs {b}"
        elif tol == 0.0 or math.isinf(a) or math.isinf(b):
            assert a == b, f"{where}: {a!r} vs {b!r}"
        else:
            assert abs(a - b) <= tol * max(1.0, abs(a)), f"{where}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"
