"""Rationale extraction and explainability for NLP, from Python.

Score rationales exactly like the ERASER reference scorer, list what is wrong with a results
file, draw human-vs-model heatmaps, explain classifiers and train rationalizers. The work runs in
Rust (the `rationale` crate) with the interpreter released; errors arrive as ``FileNotFoundError``
or ``ValueError`` carrying the command line's messages (file, line, annotation id, what to do).

>>> import rationale
>>> scores = rationale.score("datasets/movies", "test", "datasets/movies/movies_union_human_perf.jsonl")
>>> scores["token_prf"]["instance_macro"]["f1"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _rationale

__version__: str = _rationale.__version__

PathLike = Union[str, "os.PathLike[str]"]
Progress = Optional[Callable[[Dict[str, Any]], None]]
"""A progress callback: called with one dict per event, ``{"kind": "start", "label", "total"}``,
``{"kind": "step", "status"}``, ``{"kind": "finish"}``, ``{"kind": "line", "text"}`` (an epoch's
losses, a finished stage) or ``{"kind": "warning", "text"}``."""

AOPC_THRESHOLDS = (0.01, 0.05, 0.1, 0.2, 0.5)

__all__ = [
    "AOPC_THRESHOLDS",
    "Explanation",
    "Figure",
    "Model",
    "explain_split",
    "heatmap",
    "per_instance",
    "render",
    "run",
    "score",
    "train_classifier",
    "train_select",
    "train_supervise",
    "validate",
]


def _path(p: PathLike) -> str:
    return os.fspath(p)


def _score_args(
    iou_thresholds: Sequence[float],
    aopc_thresholds: Sequence[float],
    auprc_no_gold: str,
    iou_matching: str,
    strict: bool,
    allow_missing: bool,
) -> tuple:
    return (
        [float(t) for t in iou_thresholds],
        [float(t) for t in aopc_thresholds],
        auprc_no_gold,
        iou_matching,
        bool(strict),
        bool(allow_missing),
    )


def score(
    data_dir: PathLike,
    split: str,
    results: PathLike,
    *,
    iou_thresholds: Sequence[float] = (0.5,),
    aopc_thresholds: Sequence[float] = AOPC_THRESHOLDS,
    auprc_no_gold: str = "nan",
    iou_matching: str = "reference",
    strict: bool = False,
    allow_missing: bool = False,
    score_file: Optional[PathLike] = None,
    per_instance: Optional[PathLike] = None,
) -> Dict[str, Any]:
    """Scores an ERASER results file against ``data_dir``'s ``split``, as ``rationale score``.

    Returns the reference scorer's score file as a dict (NaN as ``float("nan")``); with
    ``score_file`` it is also written there byte for byte as ``rationale score --score-file``
    writes it, and ``per_instance`` writes the per-instance table (``.parquet``, ``.arrow``,
    ``.jsonl``). Options are those of ``rationale score``: ``auprc_no_gold`` is ``"nan"`` (the
    reference), ``"half"`` or ``"skip"``; ``iou_matching`` ``"reference"`` or ``"one-to-one"``.
    Raises ``ValueError`` listing every error (file:line: …) when the file is not scorable.
    """
    text = _rationale.score(
        _path(data_dir),
        split,
        _path(results),
        *_score_args(
            iou_thresholds, aopc_thresholds, auprc_no_gold, iou_matching, strict, allow_missing
        ),
        score_file=None if score_file is None else _path(score_file),
        per_instance=None if per_instance is None else _path(per_instance),
    )
    return json.loads(text)


def validate(data_dir: PathLike, split: str, results: PathLike) -> List[Dict[str, Any]]:
    """Every problem of a results file, as ``rationale validate`` lists them.

    Each problem is a dict: ``file``, ``line`` (1-based, ``None`` for the whole file),
    ``severity`` (``"error"`` or ``"warning"``), ``annotation_id``, ``docid``, ``message``,
    ``fix`` (what to do) and ``text`` (the line the command line prints). An empty list: clean.
    """
    return json.loads(_rationale.validate(_path(data_dir), split, _path(results)))


def per_instance(
    data_dir: PathLike,
    split: str,
    results: PathLike,
    *,
    iou_thresholds: Sequence[float] = (0.5,),
    aopc_thresholds: Sequence[float] = AOPC_THRESHOLDS,
    auprc_no_gold: str = "nan",
    iou_matching: str = "reference",
    strict: bool = False,
    allow_missing: bool = False,
):
    """One row per (annotation, document) of a scored results file, as a ``pyarrow.Table``.

    The columns are those of ``rationale score --per-instance x.parquet``. The table crosses
    from Rust through the Arrow C data interface (no copy through Python objects);
    ``.to_pandas()`` gives a DataFrame. Needs ``pyarrow``.
    """
    import pyarrow as pa

    batch = _rationale.per_instance_batch(
        _path(data_dir),
        split,
        _path(results),
        *_score_args(
            iou_thresholds, aopc_thresholds, auprc_no_gold, iou_matching, strict, allow_missing
        ),
    )
    return pa.Table.from_batches([pa.record_batch(batch)])


class Figure:
    """An SVG figure: shown inline by Jupyter, saved as SVG or PNG."""

    def __init__(self, svg: str) -> None:
        self.svg: str = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def png(self, scale: float = 2.0) -> bytes:
        """The figure rasterised at ``scale`` × its size (pure Rust, bundled DejaVu Sans)."""
        return bytes(_rationale.svg_to_png(self.svg, float(scale)))

    def save(self, path: PathLike, scale: float = 2.0) -> None:
        """Writes the figure: PNG when ``path`` ends in ``.png``, else SVG."""
        path = _path(path)
        if path.lower().endswith(".png"):
            data = self.png(scale)
            with open(path, "wb") as f:
                f.write(data)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.svg)

    def __repr__(self) -> str:
        return f"Figure({len(self.svg)} bytes of SVG)"


def render(
    data_dir: PathLike,
    split: str,
    results: PathLike,
    id: str,
    compare: Optional[Sequence[PathLike]] = None,
    labels: Optional[Sequence[str]] = None,
    *,
    context: Optional[int] = None,
    signed: bool = False,
    width: float = 720.0,
    per_row: bool = False,
) -> Figure:
    """The heatmap ``rationale render`` draws for annotation ``id``: the human rationale
    underlined, one row per results file (``results`` first, then ``compare``) with its soft
    scores as colour and its hard rationale boxed.

    ``labels`` names the rows (default: the file names); ``context`` keeps that many tokens
    either side of rationale tokens; ``signed`` uses a diverging scale; ``per_row`` divides each
    row by its largest magnitude.
    """
    files = [_path(results)] + [_path(p) for p in (compare or [])]
    names = list(labels) if labels is not None else [os.path.basename(f) for f in files]
    if len(names) != len(files):
        raise ValueError(
            f"{len(names)} labels for {len(files)} results files; give one label per file"
        )
    svg = _rationale.render(
        _path(data_dir), split, id, list(zip(names, files)), context, signed, float(width), per_row
    )
    return Figure(svg)


def heatmap(
    tokens: Sequence[str],
    rows: Dict[str, Sequence[float]],
    *,
    gold: Optional[Sequence[bool]] = None,
    rationales: Optional[Dict[str, Sequence[bool]]] = None,
    title: str = "",
    context: Optional[int] = None,
    signed: bool = False,
    width: float = 720.0,
    per_row: bool = False,
) -> Figure:
    """A heatmap of any scores: one row per entry of ``rows`` (name → one score per token),
    ``gold`` tokens underlined, ``rationales[name]`` boxed."""
    rationales = rationales or {}
    unknown = set(rationales) - set(rows)
    if unknown:
        raise ValueError(f"rationales for rows that do not exist: {sorted(unknown)}")
    svg = _rationale.heatmap(
        list(tokens),
        [
            (
                name,
                [float(s) for s in scores],
                None if name not in rationales else [bool(b) for b in rationales[name]],
            )
            for name, scores in rows.items()
        ],
        None if gold is None else [bool(g) for g in gold],
        title,
        context,
        signed,
        float(width),
        per_row,
    )
    return Figure(svg)


@dataclass
class Explanation:
    """Why a model predicted ``target`` for a text: one score per whitespace-separated word."""

    text: str
    words: List[str]
    scores: List[float]
    target: str
    probs: Dict[str, float] = field(default_factory=dict)
    method: str = ""

    def figure(self, *, signed: bool = False, width: float = 720.0) -> Figure:
        """The explanation as a one-row heatmap."""
        return heatmap(
            self.words,
            {self.method or "scores": self.scores},
            title=f"predicted {self.target} ({self.probs.get(self.target, float('nan')):.3f})",
            signed=signed,
            width=width,
        )

    def _repr_svg_(self) -> str:
        return self.figure().svg


class Model:
    """A classifier loaded for prediction and post-hoc explanation: a checkpoint of
    ``rationale train classifier`` (or ``train supervise``), or a Hugging Face
    ``*ForSequenceClassification`` folder (BERT, RoBERTa, XLM-R, DistilBERT, ModernBERT)."""

    def __init__(self, inner: "_rationale.Model") -> None:
        self._inner = inner

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """Loads a checkpoint folder, a training output folder (its ``best/``), or a Hugging
        Face classifier folder (``config.json``, ``model.safetensors``, ``tokenizer.json``)."""
        return cls(_rationale.Model.load(_path(path)))

    @property
    def labels(self) -> List[str]:
        """The class labels, in output order."""
        return list(self._inner.labels)

    def predict(self, texts: Union[str, Sequence[str]]) -> List[Dict[str, Any]]:
        """Class probabilities of each text: ``{"text", "label", "probs": {label: p}}``.

        Texts are tokenised as the model's tokenizer tokenises the raw string."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        labels = self.labels
        out = []
        for text, probs in zip(texts, self._inner.predict(texts)):
            best = max(range(len(probs)), key=lambda i: (probs[i], -i))
            out.append(
                {"text": text, "label": labels[best], "probs": dict(zip(labels, probs))}
            )
        return out

    def explain(
        self, texts: Union[str, Sequence[str]], method: str = "gradient", **options: Any
    ) -> List[Explanation]:
        """Explains the predicted class of each text, one score per whitespace-separated word.

        ``method``: ``gradient``, ``grad-input``, ``integrated-gradients``, ``smoothgrad``,
        ``occlusion``, ``attention``, ``rollout``, ``lime``, ``kernel-shap`` or ``random``.
        ``options`` are those of ``rationale explain``: ``ig_steps``, ``occlusion_window``,
        ``lime_samples``, ``lime_kernel_width``, ``smoothgrad_samples``, ``smoothgrad_noise``,
        ``shap_samples``, ``layer``, ``heads``, ``query_row``, ``seed``.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        config = json.dumps({"method": method, **options})
        rows = json.loads(self._inner.explain(texts, config))
        return [
            Explanation(
                text=t,
                words=r["words"],
                scores=r["scores"],
                target=r["target"],
                probs=dict(r["probs"]),
                method=method,
            )
            for t, r in zip(texts, rows)
        ]

    def __repr__(self) -> str:
        return f"Model(labels={self.labels})"


def explain_split(
    model: PathLike,
    data_dir: PathLike,
    split: str,
    out: PathLike,
    method: str = "gradient",
    *,
    k: Optional[int] = None,
    limit: Optional[int] = None,
    progress: Progress = None,
    **options: Any,
) -> int:
    """``rationale explain --data-dir``: explains every annotation of ``split`` with the model,
    measures comprehensiveness / sufficiency / AOPC on it and writes the ERASER results file
    ``out`` (score it with :func:`score`). ``k``: hard rationale size in tokens (default: the
    mean human rationale length of the train split). Returns the number of records written."""
    config = json.dumps({"method": method, **options})
    return _rationale.explain_split(
        _path(model), _path(data_dir), split, config, _path(out), k, limit, progress
    )


def _config(config: Optional[Dict[str, Any]], overrides: Dict[str, Any]) -> str:
    merged = {**(config or {}), **overrides}
    return json.dumps(merged, default=os.fspath)


def train_classifier(
    config: Optional[Dict[str, Any]] = None,
    out: PathLike = "run",
    *,
    resume: bool = False,
    progress: Progress = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """``rationale train classifier``: the configuration is the ``classifier`` object of
    ``run.json`` (``data_dir``, ``encoder``, ``epochs``, ``lr``, …; keyword arguments override
    it). Writes checkpoints to ``out`` (``out/best`` is what :meth:`Model.load` reads) and
    returns the training report (per-epoch history, best epoch)."""
    return json.loads(
        _rationale.train_classifier(
            _config(config, overrides), _path(out), False, resume, progress
        )
    )


def train_supervise(
    config: Optional[Dict[str, Any]] = None,
    out: PathLike = "run",
    *,
    resume: bool = False,
    progress: Progress = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """``rationale train supervise``: a classifier whose attention is aligned with the human
    rationales; the configuration is that of :func:`train_classifier` plus ``align`` (``loss``,
    ``weight``, …; defaults fill what is not given)."""
    return json.loads(
        _rationale.train_classifier(
            _config(config, overrides), _path(out), True, resume, progress
        )
    )


def train_select(
    config: Optional[Dict[str, Any]] = None,
    out: PathLike = "run",
    *,
    progress: Progress = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """``rationale train select``: a selective rationalizer (generator → predictor, noise
    injection); the configuration is the ``select`` object of ``run.json``."""
    return json.loads(
        _rationale.train_select(_config(config, overrides), _path(out), progress)
    )


def run(
    config: Optional[Dict[str, Any]] = None,
    out: PathLike = "rationale-run",
    *,
    progress: Progress = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """``rationale run``, the main job, with a ``run.json`` configuration (keyword arguments
    override its top-level keys). Returns the comparison table's ``rows``, the ``files``
    written, ``stages`` (name, seconds) and ``seconds``."""
    return json.loads(_rationale.run(_config(config, overrides), _path(out), progress))
