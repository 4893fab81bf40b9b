"""Type stubs of the compiled extension (the Rust side); use the functions of `rationale`."""

from typing import Any, Callable, Dict, List, Optional, Tuple

__version__: str

_Progress = Optional[Callable[[Dict[str, Any]], None]]

def score(
    data_dir: str,
    split: str,
    results: str,
    iou_thresholds: List[float],
    aopc_thresholds: List[float],
    auprc_no_gold: str,
    iou_matching: str,
    strict: bool,
    allow_missing: bool,
    score_file: Optional[str] = None,
    per_instance: Optional[str] = None,
) -> str: ...
def validate(data_dir: str, split: str, results: str) -> str: ...

class ArrowBatch:
    def __arrow_c_array__(self, requested_schema: Any = None) -> Tuple[Any, Any]: ...
    def __len__(self) -> int: ...

def per_instance_batch(
    data_dir: str,
    split: str,
    results: str,
    iou_thresholds: List[float],
    aopc_thresholds: List[float],
    auprc_no_gold: str,
    iou_matching: str,
    strict: bool,
    allow_missing: bool,
) -> ArrowBatch: ...
def render(
    data_dir: str,
    split: str,
    id: str,
    sources: List[Tuple[str, str]],
    context: Optional[int],
    signed: bool,
    width: float,
    per_row: bool,
) -> str: ...
def heatmap(
    tokens: List[str],
    rows: List[Tuple[str, List[float], Optional[List[bool]]]],
    gold: Optional[List[bool]],
    title: str,
    context: Optional[int],
    signed: bool,
    width: float,
    per_row: bool,
) -> str: ...
def svg_to_png(svg: str, scale: float) -> bytes: ...
def train_classifier(
    config: str, out: str, supervise: bool, resume: bool, progress: _Progress = None
) -> str: ...
def train_select(config: str, out: str, progress: _Progress = None) -> str: ...
def run(config: str, out: str, progress: _Progress = None) -> str: ...
def explain_split(
    model: str,
    data_dir: str,
    split: str,
    config: str,
    out: str,
    k: Optional[int] = None,
    limit: Optional[int] = None,
    progress: _Progress = None,
) -> int: ...

class Model:
    @staticmethod
    def load(path: str) -> "Model": ...
    @property
    def labels(self) -> List[str]: ...
    def predict(self, texts: List[str]) -> List[List[float]]: ...
    def explain(self, texts: List[str], config: str) -> str: ...
