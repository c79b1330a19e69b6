"""The encoder's tokens -> pooled-features function as an ONNX Runtime graph (fp32, or int8 with
dynamic quantization), stored next to the checkpoint it serves.

Exported whole from :meth:`model.backbone.Encoder.forward_tokens` as the checkpoint's
BackboneInfo builds it, so pooling, layer selection and a kept score head are in the graph as
they are in torch. A ``backbone.onnx.json`` beside the graphs records that BackboneInfo; a graph
whose record differs from the encoder's is refused (:class:`GraphError`), as a checkpoint is (a record from before
the weights digest is compared on its other fields).

Optional dependency: ``pip install -e ".[onnx]"`` (onnxruntime; the exporter also needs onnx and
onnxscript). Nothing here is imported unless a graph is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from model.backbone import Encoder
from model.backbone_weights import same_backbone

Backend = Literal["torch", "onnx", "onnx-int8"]
GRAPH_FILES: dict[str, str] = {"onnx": "backbone.onnx", "onnx-int8": "backbone.int8.onnx"}
RECORD_FILE = "backbone.onnx.json"  # the BackboneInfo record and input names the graphs were exported with


class GraphError(RuntimeError):
    """A graph is missing, unreadable or was exported from another backbone."""


class _TokensToFeatures(torch.nn.Module):
    """Encoder.forward_tokens with positional tensors, as the exporter wants a module."""

    def __init__(self, encoder: Encoder, names: Sequence[str]) -> None:
        super().__init__()
        self.encoder, self.names = encoder, list(names)
        self.backbone = encoder.model  # registered, so the exporter sees the weights as parameters

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.encoder.forward_tokens(dict(zip(self.names, tensors))).float()  # (B, d)


def input_names(encoder: Encoder) -> list[str]:
    """The tokenizer outputs the encoder reads, in the tokenizer's order."""
    return list(encoder.tokenize(["a b", "a"]).keys())


def export_graph(encoder: Encoder, directory: Path) -> Path:
    """Write the fp32 graph (dynamic batch and token axes) and its record into ``directory``."""
    names = input_names(encoder)
    example = encoder.tokenize(["an example text of a few words", "a shorter one"])  # B=2, T>2: nothing specialised
    axes = {name: {0: torch.export.Dim("batch"), 1: torch.export.Dim("tokens")} for name in names}
    path = Path(directory) / GRAPH_FILES["onnx"]
    module = _TokensToFeatures(encoder, names).eval()
    torch.onnx.export(module, tuple(example[n] for n in names), str(path), input_names=names,
                      output_names=["features"], dynamic_shapes=(tuple(axes[n] for n in names),), dynamo=True,
                      external_data=False, verbose=False)
    record = {"backbone": encoder.info.record(), "inputs": names}
    (Path(directory) / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return path


def quantize_graph(directory: Path) -> Path:
    """The int8 graph from the fp32 one: MatMul weights int8 per output channel, activations
    quantized on the fly; the down-projections (weight rows > columns: the FFN's output, whose
    inputs carry the GELU's outliers) stay fp32. Measured on MiniLM (60 validation texts):
    per-tensor weights cosine 0.91 against fp32, per channel 0.987, per channel without the
    down-projections 0.996."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, target = Path(directory) / GRAPH_FILES["onnx"], Path(directory) / GRAPH_FILES["onnx-int8"]
    graph = onnx.load(str(source)).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    down = [node.name for node in graph.node if node.op_type == "MatMul"
            and len(shapes.get(node.input[1], ())) == 2 and shapes[node.input[1]][0] > shapes[node.input[1]][1]]
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=down)
    return target


class OnnxForward:
    """A graph in an ONNX Runtime session: tokenized (B, T) tensors -> (B, d) float32 on cpu."""

    def __init__(self, path: Path, names: Sequence[str], threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path, self.names = path, list(names)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        feeds = {name: batch[name].numpy() for name in self.names}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def load_graph(directory: Path, backend: Backend, encoder: Encoder, threads: int) -> OnnxForward:
    """The ``backend`` graph of ``directory``, checked against the encoder's BackboneInfo."""
    if backend not in GRAPH_FILES:
        raise GraphError(f"no graph for backend {backend!r} (one of {sorted(GRAPH_FILES)})")
    path, record_path = Path(directory) / GRAPH_FILES[backend], Path(directory) / RECORD_FILE
    if not path.is_file() or not record_path.is_file():
        raise GraphError(f"no {GRAPH_FILES[backend]} in {directory}: run `python -m model.export_onnx --checkpoint "
                         f"{directory}` (needs the onnx extra: pip install -e '.[onnx]')")
    record = json.loads(record_path.read_text())
    if not same_backbone(record.get("backbone") or {}, encoder.info.record()):
        raise GraphError(f"{path} was exported from backbone {record.get('backbone')}, not {encoder.info.record()}: "
                         "export it again")
    try:
        return OnnxForward(path, record["inputs"], threads)
    except ImportError as exc:
        raise GraphError("MICRO_BACKEND=onnx needs onnxruntime: pip install -e '.[onnx]'") from exc
