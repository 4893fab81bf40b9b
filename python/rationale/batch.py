"""Per-batch work for distributed engines: the engine schedules, ``rationale`` explains.

An :class:`Explainer` turns an Arrow table with a text column into the same table with the
explanation columns added. Ray Data runs it over a Parquet corpus on every core or node it has,
each worker loading the model once::

    import ray
    from rationale.batch import Explainer

    ds = ray.data.read_parquet("corpus/")                   # Parquet files with a "text" column
    explained = ds.map_batches(
        Explainer,
        fn_constructor_args=("runs/cls",),
        fn_constructor_kwargs={"method": "integrated-gradients", "ig_steps": 32},
        batch_format="pyarrow",
        batch_size=64,
        compute=ray.data.ActorPoolStrategy(size=4),        # workers, each with its own model
    )
    explained.write_parquet("explained/")

The same callable serves any engine that hands out Arrow batches (Spark's ``mapInArrow`` with a
generator over ``pyarrow.RecordBatch``es, Dask, a plain loop over ``pyarrow.dataset``).
"""

from __future__ import annotations

from typing import Any

from . import Model, PathLike


class Explainer:
    """Adds ``target`` (predicted label), ``probability`` (its probability), ``words`` and
    ``scores`` (one per word) to a ``pyarrow.Table`` with a ``text_column``."""

    def __init__(
        self,
        model: PathLike,
        method: str = "gradient",
        text_column: str = "text",
        **options: Any,
    ) -> None:
        self.model = Model.load(model)
        self.method = method
        self.text_column = text_column
        self.options = options

    def __call__(self, batch):
        import pyarrow as pa

        if self.text_column not in batch.column_names:
            raise ValueError(
                f"the batch has no {self.text_column!r} column (columns: {batch.column_names}); "
                "pass text_column="
            )
        texts = batch.column(self.text_column).to_pylist()
        out = self.model.explain(texts, self.method, **self.options)
        columns = {
            "target": pa.array([e.target for e in out], pa.string()),
            "probability": pa.array([e.probs[e.target] for e in out], pa.float64()),
            "words": pa.array([e.words for e in out], pa.list_(pa.string())),
            "scores": pa.array([e.scores for e in out], pa.list_(pa.float32())),
        }
        for name, column in columns.items():
            batch = batch.append_column(name, column)
        return batch
