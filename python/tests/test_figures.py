"""Figures: SVG that parses, PNG bytes, files on disk."""

import os
import xml.etree.ElementTree as ET

import pytest

import rationale
from conftest import MOVIES

UNION = os.path.join(MOVIES, "movies_union_human_perf.jsonl")
MAJORITY = os.path.join(MOVIES, "movies_majority_human_perf.jsonl")


def is_svg(text):
    return ET.fromstring(text).tag.endswith("svg")


def test_render_compares_methods(tmp_path):
    fig = rationale.render(
        MOVIES, "test", UNION, "negR_902.txt", compare=[MAJORITY],
        labels=["union", "majority"], context=4,
    )
    svg = fig._repr_svg_()
    assert is_svg(svg)
    assert "union" in svg and "majority" in svg
    fig.save(tmp_path / "f.svg")
    assert (tmp_path / "f.svg").read_text() == svg
    fig.save(tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.png(scale=1.0)[:4] == b"\x89PNG"


def test_render_errors():
    with pytest.raises(ValueError, match="not in"):
        rationale.render(MOVIES, "test", UNION, "no-such-annotation")
    with pytest.raises(ValueError, match="labels"):
        rationale.render(MOVIES, "test", UNION, "negR_900.txt", labels=["a", "b"])


def test_heatmap_of_any_scores():
    fig = rationale.heatmap(
        ["a", "moving", "film"], {"ig": [0.1, 0.9, -0.2]}, gold=[False, True, False],
        rationales={"ig": [False, True, False]}, signed=True, title="demo",
    )
    assert is_svg(fig.svg) and "moving" in fig.svg and "demo" in fig.svg
    with pytest.raises(ValueError, match="one score"):
        rationale.heatmap(["a", "b"], {"x": [1.0]})
