"""Export a bundle's network as two weight-free ONNX graphs for the app's ONNX Runtime engine.

    encoder.onnx   image (B,1,H,W) → the decoder's cross-attention keys and values
                   memory_k, memory_v (layers, B, heads, cells, head_dim); H and W are dynamic
    decoder.onnx   one decoding step with the self-attention cache as input and output:
                   token (B,), position (), past_k/past_v (layers, B, heads, T, head_dim),
                   memory_k/memory_v → logprobs (B, vocab), present_k/present_v (…, T+1, …)

The graphs hold no weights (ADR 0043): every parameter is an fp16 tensor stored as ONNX *external
data* whose offset points into the bundle's ``model.safetensors``, followed by a Cast to fp32.
ONNX Runtime reads the tensors from there and folds the casts when the session is created, so
the ~20 MB of weights exist once on disk and in git, and the graphs are a few hundred KB.

The decoder step re-implements x-transformers' attention (the part that cannot be traced with a
cache) with the same modules for everything else; keys are cached *rotated*, which is equal to
x-transformers re-rotating its unrotated cache every step, but cheaper.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor, nn

from latexsnip.bundle import load_bundle
from latexsnip.model import LatexOCR
from latexsnip.onnx_files import DECODER_FILE, ENCODER_FILE, GRAPH_FORMAT, WEIGHTS_FILE

OPSET = 17
# Graph constants that are not weights (rotary frequencies, the sin/cos position frequencies)
# stay inside the graph when they are this small.
MAX_EMBEDDED_BYTES = 64 * 1024


def _attention_layers(model: LatexOCR) -> tuple[list[nn.Module], list[nn.Module], list[nn.Module]]:
    """The decoder's (norm, block) pairs, split by kind: self-attention, cross-attention, FF."""
    layers = model.decoder.attn_layers
    kinds: dict[str, list] = {"a": [], "c": [], "f": []}
    for kind, layer in zip(layers.layer_types, layers.layers, strict=True):
        kinds[kind].append((layer[0][0], layer[1]))
    return kinds["a"], kinds["c"], kinds["f"]


def _heads(attn: nn.Module, x: Tensor, heads: int) -> Tensor:
    b, n, _ = x.shape
    return x.reshape(b, n, heads, -1).transpose(1, 2)  # (B, H, N, dh)


class EncoderGraph(nn.Module):
    """Image → per-layer cross-attention keys/values (the only use of the encoder output)."""

    def __init__(self, model: LatexOCR) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.cross = [block for _, block in _attention_layers(model)[1]]

    def position(self, h: Tensor, w: Tensor) -> Tensor:
        """``position_table`` rebuilt from traced sizes (flattened to (h·w, dim))."""
        enc = self.model.encoder
        pos = enc.pos[:, :, :h, :w].flatten(2).transpose(1, 2)
        if not self.cfg.fixed_position:
            return pos
        dim = self.cfg.dim
        quarter = dim // 4
        freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / max(1, quarter)))
        rows = torch.arange(h, dtype=torch.float32)[:, None] * freqs
        cols = torch.arange(w, dtype=torch.float32)[:, None] * freqs
        row_part = torch.cat([rows.sin(), rows.cos()], -1)[:, None, :].expand(-1, w, -1)
        col_part = torch.cat([cols.sin(), cols.cos()], -1)[None, :, :].expand(h, -1, -1)
        parts = [row_part, col_part]
        if dim > 4 * quarter:
            parts.append(torch.zeros(h, w, dim - 4 * quarter))
        table = torch.cat(parts, -1).reshape(-1, dim)
        return pos + table[None]

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        enc = self.model.encoder
        feats = enc.cells(image)
        h, w = feats.shape[-2], feats.shape[-1]
        seq = enc.feature_norm(feats.flatten(2).transpose(1, 2))
        context = enc.encoder(seq + self.position(h, w))
        heads = self.cfg.heads
        keys = [_heads(a, a.to_k(context), heads) for a in self.cross]
        values = [_heads(a, a.to_v(context), heads) for a in self.cross]
        return torch.stack(keys), torch.stack(values)


def rotation_swap(rot: int, head_dim: int) -> Tensor:
    """The constant R with ``x @ R`` = x-transformers' ``rotate_half`` on the first ``rot``
    dimensions (interleaved pairs (x0, x1) → (−x1, x0)) and zero on the rest."""
    swap = torch.zeros(head_dim, head_dim)
    for m in range(rot // 2):
        swap[2 * m + 1, 2 * m] = -1.0
        swap[2 * m, 2 * m + 1] = 1.0
    return swap


def rotation_matrix(freqs: Tensor, swap: Tensor) -> Tensor:
    """The rotary embedding of one position as a (head_dim, head_dim) matrix M: ``x @ M`` equals
    ``x * cos + rotate_half(x) * sin`` on the first ``len(freqs)`` dimensions and leaves the rest
    alone. One MatMul per query/key instead of the slices, splits and concatenations of the
    elementwise form: ORT spends as much per small node as per small matmul."""
    head_dim = swap.shape[-1]
    pad = head_dim - freqs.shape[-1]
    cos, sin = freqs.cos(), freqs.sin()
    if pad:
        cos = torch.cat([cos, torch.ones(pad)])
        sin = torch.cat([sin, torch.zeros(pad)])
    return torch.eye(head_dim) * cos + swap * sin  # column j: cos_j on the diagonal, ±sin_j


class DecoderStepGraph(nn.Module):
    def __init__(self, model: LatexOCR) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.cfg
        self.selfs, self.crosses, self.ffs = _attention_layers(model)
        self.types = list(model.decoder.attn_layers.layer_types)
        self.head_dim = decoder_geometry(model)[2]
        rotary = model.decoder.attn_layers.rotary_pos_emb
        self.register_buffer("inv_freq", rotary.inv_freq.detach().float().clone(), persistent=False)
        self.register_buffer("swap", rotation_swap(2 * len(rotary.inv_freq), self.head_dim),
                             persistent=False)

    def _step_heads(self, x: Tensor) -> Tensor:
        """(B, 1, D) → (B, H, 1, dh) with constant shapes (a step is always one position)."""
        return x.reshape(-1, 1, self.cfg.heads, self.head_dim).transpose(1, 2)

    @staticmethod
    def _attend(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1)
        out = torch.matmul(weights, v)  # (B, H, 1, dh)
        _, h, n, d = out.shape  # constants: heads, one position, head_dim
        return out.transpose(1, 2).reshape(-1, int(n), int(h) * int(d))

    def forward(
        self,
        token: Tensor,
        position: Tensor,
        past_k: Tensor,
        past_v: Tensor,
        memory_k: Tensor,
        memory_v: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        dec = self.model.decoder
        x = dec.token_emb(token[:, None])  # (B, 1, D)
        freqs = position.to(torch.float32) * self.inv_freq
        freqs = torch.stack((freqs, freqs), -1).reshape(-1)  # interleaved, like x-transformers
        rotation = rotation_matrix(freqs, self.swap)
        present_k, present_v = [], []
        counters = {"a": 0, "c": 0, "f": 0}
        for kind in self.types:
            i = counters[kind]
            counters[kind] += 1
            if kind == "a":
                norm, attn = self.selfs[i]
                h = norm(x)
                q = torch.matmul(self._step_heads(attn.to_q(h)), rotation)
                k = torch.matmul(self._step_heads(attn.to_k(h)), rotation)
                v = self._step_heads(attn.to_v(h))
                keys = torch.cat([past_k[i], k], 2)
                values = torch.cat([past_v[i], v], 2)
                present_k.append(keys)
                present_v.append(values)
                x = x + attn.to_out(self._attend(q, keys, values, attn.scale))
            elif kind == "c":
                norm, attn = self.crosses[i]
                q = self._step_heads(attn.to_q(norm(x)))
                x = x + attn.to_out(self._attend(q, memory_k[i], memory_v[i], attn.scale))
            else:
                norm, ff = self.ffs[i]
                x = x + ff(norm(x))
        x = dec.attn_layers.final_norm(x)
        logits = dec.to_logits(x)[:, 0]
        return torch.log_softmax(logits.float(), -1), torch.stack(present_k), torch.stack(present_v)


def decoder_geometry(model: LatexOCR) -> tuple[int, int, int]:
    """(self-attention layers, heads, head_dim) of the cache the decoder step reads and writes."""
    selfs, _, _ = _attention_layers(model)
    attn = selfs[0][1]
    head_dim = attn.to_k.out_features // model.cfg.heads
    return len(selfs), model.cfg.heads, head_dim


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]]) -> None:
    # The tracer warns about every Python branch on a shape in x-transformers and timm; the
    # tests compare the graphs with the torch model at other sizes instead.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, args, str(path), input_names=inputs, output_names=outputs,
            dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=False, dynamo=False,
        )


def _safetensors_layout(path: Path) -> tuple[int, dict[str, dict]]:
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    header.pop("__metadata__", None)
    return 8 + header_len, header


def externalise_weights(graph_path: Path, weights_path: Path, state: dict[str, Tensor]) -> None:
    """Replace every initializer that is a bundle tensor by an fp16 external-data reference into
    ``weights_path`` plus a Cast; tensors matched by name, or by value (the exporter renames some).
    """
    model = onnx.load(str(graph_path), load_external_data=False)
    base, layout = _safetensors_layout(weights_path)
    by_value: dict[tuple, str] = {}
    for name, tensor in state.items():
        arr = tensor.detach().cpu().float().numpy()
        by_value[(arr.shape, hashlib.sha1(arr.tobytes()).hexdigest())] = name
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        source = init.name if init.name in layout else by_value.get(
            (arr.shape, hashlib.sha1(arr.astype(np.float32).tobytes()).hexdigest())
        )
        if source is None or layout[source]["dtype"] != "F16":
            if arr.nbytes > MAX_EMBEDDED_BYTES:
                raise ValueError(f"graph constant {init.name} {arr.shape} is not a bundle weight")
            kept.append(init)
            continue
        entry = layout[source]
        if list(entry["shape"]) != list(arr.shape):
            raise ValueError(f"{init.name}: shape {arr.shape} vs {source} {entry['shape']}")
        start, end = entry["data_offsets"]
        ref = TensorProto(name=init.name + "::fp16", data_type=TensorProto.FLOAT16,
                          dims=list(arr.shape), data_location=TensorProto.EXTERNAL)
        for key, value in (("location", WEIGHTS_FILE), ("offset", str(base + start)),
                           ("length", str(end - start))):
            ref.external_data.add(key=key, value=value)
        kept.append(ref)
        casts.append(helper.make_node("Cast", [ref.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"cast::{init.name}"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(graph_path))


def export_graphs(bundle_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` for the bundle (into the bundle by default:
    the graphs point into its ``model.safetensors`` and must lie beside it)."""
    bundle_dir = Path(bundle_dir)
    out_dir = Path(out_dir) if out_dir else bundle_dir
    if out_dir.resolve() != bundle_dir.resolve():
        raise ValueError("the graphs must be written into the bundle they read their weights from")
    bundle = load_bundle(bundle_dir)
    model = bundle.build_model().float().eval()
    cfg = model.cfg
    layers, heads, head_dim = decoder_geometry(model)
    image = torch.zeros(1, 1, 2 * cfg.patch, 3 * cfg.patch)
    image[..., 5:20, 5:40] = 1.0
    enc_path, dec_path = out_dir / ENCODER_FILE, out_dir / DECODER_FILE
    _export(EncoderGraph(model), (image,), enc_path, ["image"], ["memory_k", "memory_v"],
            {"image": {0: "batch", 2: "height", 3: "width"},
             "memory_k": {1: "batch", 3: "cells"}, "memory_v": {1: "batch", 3: "cells"}})
    mem_k, mem_v = EncoderGraph(model)(image)
    past = torch.zeros(layers, 1, heads, 2, head_dim)
    args = (torch.tensor([cfg.bos_id]), torch.tensor(2), past, past.clone(), mem_k, mem_v)
    cache_axes = {1: "batch", 3: "past"}
    _export(DecoderStepGraph(model), args, dec_path,
            ["token", "position", "past_k", "past_v", "memory_k", "memory_v"],
            ["logprobs", "present_k", "present_v"],
            {"token": {0: "batch"}, "past_k": cache_axes, "past_v": cache_axes,
             "memory_k": {1: "batch", 3: "cells"}, "memory_v": {1: "batch", 3: "cells"},
             "logprobs": {0: "batch"}, "present_k": {1: "batch", 3: "next"},
             "present_v": {1: "batch", 3: "next"}})
    weights_sha = bundle.metadata.get("sha256", {}).get(WEIGHTS_FILE)
    for path in (enc_path, dec_path):
        externalise_weights(path, bundle_dir / WEIGHTS_FILE, bundle.state_dict)
        graph = onnx.load(str(path), load_external_data=False)
        meta = {"latexsnip_graph_format": str(GRAPH_FORMAT), "weights_sha256": str(weights_sha),
                "cache_layers": str(layers), "heads": str(heads), "head_dim": str(head_dim)}
        for key, value in meta.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(path))
    return [enc_path, dec_path]


def add_export_onnx_parser(sub) -> None:
    p = sub.add_parser("export-onnx", help="write a bundle's weight-free ONNX graphs (app engine)")
    p.add_argument("bundle", type=Path, help="bundle directory (the graphs are written into it)")
    p.set_defaults(func=run_export_onnx)


def run_export_onnx(args) -> int:
    paths = export_graphs(args.bundle)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KB" for p in paths)
    print(f"wrote {sizes} into {args.bundle}")
    return 0
