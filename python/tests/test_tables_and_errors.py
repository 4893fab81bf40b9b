"""Per-instance tables through Arrow, validation, and errors as Python exceptions."""

import json
import os
import subprocess

import pytest

import rationale
from conftest import MOVIES, ORACLE

pa = pytest.importorskip("pyarrow")

UNION = os.path.join(MOVIES, "movies_union_human_perf.jsonl")


def test_per_instance_round_trips_the_cli_parquet(cli, tmp_path):
    import pyarrow.parquet as pq

    table = rationale.per_instance(MOVIES, "test", UNION)
    assert isinstance(table, pa.Table)
    parquet = tmp_path / "rows.parquet"
    subprocess.run(
        [cli, "score", "--data-dir", MOVIES, "--split", "test", "--results", UNION,
         "--per-instance", str(parquet), "--quiet"],
        check=True,
    )
    assert table.equals(pq.read_table(parquet))
    written = tmp_path / "py.parquet"
    rationale.score(MOVIES, "test", UNION, per_instance=written)
    assert pq.read_table(written).equals(table)


def test_per_instance_to_pandas():
    pytest.importorskip("pandas")
    d = os.path.join(ORACLE, "int_annotation_ids")
    df = rationale.per_instance(d, "test", os.path.join(d, "preds.jsonl"), strict=True).to_pandas()
    assert len(df) > 0
    assert {"annotation_id", "docid", "token_f1", "auprc"} <= set(df.columns)
    assert df["token_f1"].between(0, 1).all()


def broken_results(tmp_path):
    line = json.loads(open(UNION).readline())
    line["rationales"][0]["hard_rationale_predictions"] = [
        {"start_token": 3, "end_token": 6},
        {"start_token": 5, "end_token": 8},
    ]
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(line) + "\n{not json\n")
    return path


def test_validate_lists_file_line_and_fix(tmp_path):
    path = broken_results(tmp_path)
    problems = rationale.validate(MOVIES, "test", path)
    errors = [p for p in problems if p["severity"] == "error"]
    assert {p["line"] for p in errors} >= {1, 2}
    overlap = next(p for p in errors if p["line"] == 1)
    assert overlap["file"] == str(path)
    assert overlap["docid"] and overlap["annotation_id"]
    assert "overlap" in overlap["message"] and overlap["fix"]
    assert overlap["text"].startswith(f"{path}:1: error")
    assert rationale.validate(MOVIES, "test", UNION) == [] or all(
        p["severity"] == "warning" for p in rationale.validate(MOVIES, "test", UNION)
    )


def test_unscorable_file_raises_value_error_with_file_and_line(tmp_path):
    path = broken_results(tmp_path)
    with pytest.raises(ValueError) as e:
        rationale.score(MOVIES, "test", path)
    assert f"{path}:1: error" in str(e.value)
    assert f"{path}:2: error" in str(e.value)


def test_missing_files_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        rationale.score(MOVIES, "test", tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError):
        rationale.validate(tmp_path / "no-data", "test", UNION)
