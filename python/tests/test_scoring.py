"""Scoring through Python: the reference scorer's own fixtures, number for number as the CLI."""

import json
import os
import subprocess

import pytest

import rationale
from conftest import MOVIES, ORACLE, modern_keys, same

CASES = sorted(
    c for c in os.listdir(ORACLE) if os.path.isfile(os.path.join(ORACLE, c, "expected.json"))
)


def options_of(case):
    """The case's args.txt as keyword arguments."""
    words = open(os.path.join(ORACLE, case, "args.txt")).read().split()
    options, flag = {}, None
    for w in words:
        if w == "--strict":
            options["strict"] = True
        elif w.startswith("--"):
            flag = w[2:]
            options[flag] = []
        else:
            options[flag].append(float(w))
    notes = open(os.path.join(ORACLE, case, "notes.txt")).read()
    if "modern" in notes and "0.5" in notes:
        options["auprc_no_gold"] = "half"
    return options


def test_there_are_reference_cases():
    assert len(CASES) >= 25
    assert "int_annotation_ids" in CASES


@pytest.mark.parametrize("case", CASES)
def test_reference_fixture(case, tmp_path):
    d = os.path.join(ORACLE, case)
    written = tmp_path / "score.json"
    ours = rationale.score(
        d, "test", os.path.join(d, "preds.jsonl"), score_file=written, **options_of(case)
    )
    expected = json.load(open(os.path.join(d, "expected.json")))
    if case == "empty_hard_first_line":
        # The documented departure (tests/scoring.rs): hard metrics are computed anyway.
        ours = {k: v for k, v in ours.items() if k in expected}
    same(expected, modern_keys(expected, ours), tol=1e-9, where=case)
    assert json.loads(written.read_text()) is not None


@pytest.mark.parametrize("case", ["int_annotation_ids", "no_gold_positives", "random_large"])
def test_identical_to_the_command_line(case, cli, tmp_path):
    d = os.path.join(ORACLE, case)
    options = options_of(case)
    args = []
    for k, v in options.items():
        if v is True:
            args.append("--" + k)
        elif isinstance(v, list):
            args += ["--" + k.replace("_", "-")] + [repr(x) for x in v]
        else:
            args += ["--auprc-no-gold", v]
    cli_file = tmp_path / "cli.json"
    subprocess.run(
        [cli, "score", "--data-dir", d, "--split", "test", "--results",
         os.path.join(d, "preds.jsonl"), "--score-file", str(cli_file), "--quiet", *args],
        check=True,
    )
    py_file = tmp_path / "py.json"
    ours = rationale.score(
        d, "test", os.path.join(d, "preds.jsonl"), score_file=py_file, **options
    )
    assert py_file.read_bytes() == cli_file.read_bytes()
    same(json.loads(cli_file.read_text()), ours, where=case)


def test_nan_auprc_arrives_as_float_nan():
    d = os.path.join(ORACLE, "no_gold_positives")
    s = rationale.score(d, "test", os.path.join(d, "preds.jsonl"), strict=True)
    assert s["token_soft_metrics"]["auprc"] != s["token_soft_metrics"]["auprc"]  # NaN
    half = rationale.score(
        d, "test", os.path.join(d, "preds.jsonl"), strict=True, auprc_no_gold="half"
    )
    assert 0.0 <= half["token_soft_metrics"]["auprc"] <= 1.0


def test_movies_human_agreement():
    s = rationale.score(
        MOVIES, "test", os.path.join(MOVIES, "movies_majority_human_perf.jsonl"),
        allow_missing=True,
    )
    assert abs(s["iou_scores"][0]["macro"]["f1"] - 0.0796) < 5e-5


def test_bad_options_are_value_errors():
    d = os.path.join(ORACLE, "basic_full")
    with pytest.raises(ValueError, match="auprc_no_gold"):
        rationale.score(d, "test", os.path.join(d, "preds.jsonl"), auprc_no_gold="zero")
    with pytest.raises(ValueError, match="iou_matching"):
        rationale.score(d, "test", os.path.join(d, "preds.jsonl"), iou_matching="greedy")
