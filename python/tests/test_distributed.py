"""The batch pattern of rationale.batch on Ray Data in local mode: same numbers as in-process."""

import pytest

import rationale
from conftest import MOVIES
from rationale.batch import Explainer

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls") / "run"
    rationale.train_classifier(
        {"data_dir": MOVIES, "encoder": "cnn", "epochs": 1, "max_len": 128, "limit": 24}, out
    )
    return out


TEXTS = [f"review {i} : a {'moving' if i % 2 else 'dull'} , {'funny' if i % 3 else 'slow'} film"
         for i in range(20)]


def test_explainer_on_an_arrow_table(model_dir):
    table = pa.table({"id": list(range(len(TEXTS))), "text": TEXTS})
    out = Explainer(model_dir, method="grad-input")(table)
    direct = rationale.Model.load(model_dir).explain(TEXTS, method="grad-input")
    assert out.column("id").to_pylist() == list(range(len(TEXTS)))
    assert out.column("target").to_pylist() == [e.target for e in direct]
    assert out.column("scores").to_pylist() == [
        pa.array(e.scores, pa.float32()).to_pylist() for e in direct
    ]
    with pytest.raises(ValueError, match="no 'body' column"):
        Explainer(model_dir, text_column="body")(table)


def test_ray_data_map_batches_over_parquet(model_dir, tmp_path):
    ray = pytest.importorskip("ray")
    corpus = tmp_path / "corpus"  # four Parquet files, as a corpus is usually stored
    corpus.mkdir()
    for part in range(4):
        ids = list(range(part * 5, part * 5 + 5))
        pq.write_table(
            pa.table({"id": ids, "text": [TEXTS[i] for i in ids]}), corpus / f"part-{part}.parquet"
        )
    # Logical CPUs: the two Explainer actors hold one each, reading Parquet needs another.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        # Ray reads a corpus this small as one block: split it, one block per actor at least.
        blocks = ray.data.read_parquet(str(corpus)).repartition(4)
        explained = blocks.map_batches(
            Explainer,
            fn_constructor_args=(str(model_dir),),
            fn_constructor_kwargs={"method": "integrated-gradients", "ig_steps": 8},
            batch_format="pyarrow",
            batch_size=6,
            compute=ray.data.ActorPoolStrategy(size=2),
        )
        rows = sorted(explained.take_all(), key=lambda r: r["id"])
    finally:
        ray.shutdown()
    direct = rationale.Model.load(model_dir).explain(
        TEXTS, method="integrated-gradients", ig_steps=8
    )
    assert [r["id"] for r in rows] == list(range(len(TEXTS)))
    for r, e in zip(rows, direct):
        assert r["target"] == e.target
        assert list(r["words"]) == e.words
        assert [float(s) for s in r["scores"]] == pa.array(e.scores, pa.float32()).to_pylist()
