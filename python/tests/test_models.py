"""Training, prediction and explanation through Python, checked against the command line."""

import json
import os
import struct
import subprocess

import pytest

import rationale
from conftest import MOVIES, ROOT


def f32(xs):
    """The values as float32 (results files and explanations both hold f32 scores)."""
    return [struct.unpack("f", struct.pack("f", x))[0] for x in xs]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls") / "run"
    events = []
    report = rationale.train_classifier(
        {"data_dir": MOVIES, "encoder": "cnn", "epochs": 1, "max_len": 256},
        out,
        limit=40,
        progress=events.append,
    )
    return out, report, events


def test_training_reports_progress(trained):
    out, report, events = trained
    assert len(report["history"]) == 1
    kinds = {e["kind"] for e in events}
    assert {"start", "step", "finish", "line"} <= kinds
    assert any("epoch 1/1" in e.get("text", "") for e in events)
    assert os.path.isfile(os.path.join(out, "best", "config.json"))


def test_unknown_configuration_keys_are_named():
    with pytest.raises(ValueError, match="epochz"):
        rationale.train_classifier({"data_dir": MOVIES, "epochz": 3}, "unused")


def test_progress_exceptions_propagate(tmp_path):
    def stop(event):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        rationale.train_classifier(
            {"data_dir": MOVIES, "encoder": "cnn", "epochs": 1, "max_len": 64, "limit": 8},
            tmp_path / "r",
            progress=stop,
        )


def test_predict(trained):
    model = rationale.Model.load(trained[0])
    assert model.labels == ["NEG", "POS"]
    (p,) = model.predict("a moving , funny and honest film")
    assert abs(sum(p["probs"].values()) - 1.0) < 1e-5
    assert p["label"] == max(p["probs"], key=p["probs"].get)


def test_explain_gives_the_cli_numbers(trained, cli, tmp_path):
    out = trained[0]
    cli_file, py_file = tmp_path / "cli.jsonl", tmp_path / "py.jsonl"
    subprocess.run(
        [cli, "explain", "--model", str(out), "--data-dir", MOVIES, "--split", "test",
         "--method", "grad-input", "--limit", "2", "--out", str(cli_file), "--quiet"],
        check=True,
    )
    n = rationale.explain_split(out, MOVIES, "test", py_file, method="grad-input", limit=2)
    assert n == 2
    assert py_file.read_bytes() == cli_file.read_bytes()
    model = rationale.Model.load(out)
    for line in cli_file.read_text().splitlines():
        record = json.loads(line)
        r = record["rationales"][0]
        with open(os.path.join(MOVIES, "docs", r["docid"])) as f:
            text = " ".join(f.read().split())
        (why,) = model.explain(text, method="grad-input")
        assert f32(why.scores) == f32(r["soft_rationale_predictions"])
        assert why.target == record["classification"]
        assert why.words == text.split()
        assert "<svg" in why.figure().svg


def test_explain_options_and_errors(trained):
    model = rationale.Model.load(trained[0])
    ig = model.explain(["a dull , lifeless film", "great"], "integrated-gradients", ig_steps=4)
    assert [len(e.scores) for e in ig] == [5, 1]
    with pytest.raises(ValueError, match="shapley"):
        model.explain("x", method="shapley")
    with pytest.raises(ValueError, match="ig_stepz"):
        model.explain("x", method="gradient", ig_stepz=3)
    with pytest.raises(FileNotFoundError):
        rationale.Model.load(trained[0] / "nope")


@pytest.mark.parametrize("name", ["bert_cls", "roberta_cls", "distilbert_cls", "modernbert_cls"])
def test_hugging_face_classifiers_give_transformers_probabilities(name):
    # Tiny checkpoints saved by transformers, with its outputs (tests/fixtures/hf/make_fixtures.py).
    folder = os.path.join(ROOT, "tests", "fixtures", "hf", name)
    with open(os.path.join(folder, "expected.json")) as f:
        expected = json.load(f)
    model = rationale.Model.load(folder)
    assert model.labels == ["negative", "neutral", "positive"]
    for row, case in zip(model.predict(expected["texts"]), expected["cases"]):
        for label, p in zip(model.labels, case["probs"]):
            assert row["probs"][label] == pytest.approx(p, abs=1e-5)
    why = model.explain(expected["texts"][0], method="gradient")[0]
    assert why.words == expected["texts"][0].split()
    scale = max(abs(x) for x in expected["cases"][0]["gradient_words"])
    for ours, theirs in zip(why.scores, expected["cases"][0]["gradient_words"]):
        assert abs(ours - theirs) <= 2e-3 * scale
