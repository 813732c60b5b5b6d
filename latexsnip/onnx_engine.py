"""The ONNX Runtime backend: the app's default engine (no torch; ADR 0011).

The bundle holds two weight-free graphs written by ``latexsnip-train export-onnx``: the encoder
(image → the decoder's cross-attention keys/values) and one decoder step with the
self-attention cache as input and output. Their weights are read from ``model.safetensors``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from latexsnip.errors import BundleError
from latexsnip.onnx_files import DECODER_FILE, ENCODER_FILE, GRAPH_FORMAT, WEIGHTS_FILE

# Measured on 2 cores (docs/adr/0043-onnx-runtime-engine.md): a second thread buys ~30 %; beyond 4 these small matrices
# gain nothing and only compete with the GUI.
MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    return max(1, min(MAX_DEFAULT_THREADS, os.cpu_count() or 1))


def has_graphs(bundle_dir: Path | None) -> bool:
    return bundle_dir is not None and all(
        (bundle_dir / name).is_file() for name in (ENCODER_FILE, DECODER_FILE)
    )


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxStepDecoder:
    """One decoding session: the cache lives in numpy arrays between ONNX Runtime calls."""

    def __init__(self, session, memory_k: np.ndarray, memory_v: np.ndarray) -> None:
        self._session = session
        layers, rows, heads, _, head_dim = memory_k.shape
        self._base = (memory_k, memory_v)
        self._memory = self._base  # for the current rows
        self._shared = rows == 1  # one image (beam search): every row reads the same memory
        self._past_k = np.zeros((layers, rows, heads, 0, head_dim), dtype=np.float32)
        self._past_v = self._past_k
        self._position = 0

    def _memory_for(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        if self._memory[0].shape[1] != rows:  # a shared memory, repeated for the live beams
            k, v = self._base
            shape = (k.shape[0], rows, *k.shape[2:])
            self._memory = (np.ascontiguousarray(np.broadcast_to(k, shape)),
                            np.ascontiguousarray(np.broadcast_to(v, shape)))
        return self._memory

    def step(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens, dtype=np.int64)
        memory_k, memory_v = self._memory_for(len(tokens))
        logprobs, self._past_k, self._past_v = self._session.run(None, {
            "token": tokens,
            "position": np.array(self._position, dtype=np.int64),
            "past_k": self._past_k,
            "past_v": self._past_v,
            "memory_k": memory_k,
            "memory_v": memory_v,
        })
        self._position += 1
        return logprobs

    def select(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self._past_k = np.ascontiguousarray(self._past_k[:, rows])
        self._past_v = np.ascontiguousarray(self._past_v[:, rows])
        if not self._shared:
            k, v = self._memory
            self._memory = (np.ascontiguousarray(k[:, rows]), np.ascontiguousarray(v[:, rows]))


class OnnxBackend:
    name = "onnx"
    device = "cpu"

    def __init__(self, bundle_dir: Path, weights_sha256: str | None = None,
                 threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BundleError("the ONNX engine needs the onnxruntime package") from exc
        if not has_graphs(bundle_dir):
            raise BundleError(
                f"bundle {bundle_dir} has no ONNX graphs ({ENCODER_FILE}, {DECODER_FILE}): "
                f"write them with `latexsnip-train export-onnx {bundle_dir}`"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning workers burn the cores between calls and starve anything else in the process
        # (the GUI; torch when both engines run side by side in a benchmark).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        sessions = []
        for name in (ENCODER_FILE, DECODER_FILE):
            try:
                session = ort.InferenceSession(str(bundle_dir / name), options,
                                               providers=["CPUExecutionProvider"])
            except Exception as exc:  # ORT raises its own exception types for bad graphs
                raise BundleError(f"cannot load {name} of bundle {bundle_dir}: {exc}") from exc
            meta = session.get_modelmeta().custom_metadata_map
            if meta.get("latexsnip_graph_format") != str(GRAPH_FORMAT):
                raise BundleError(f"{name} in {bundle_dir} has graph format "
                                  f"{meta.get('latexsnip_graph_format')!r}, this latexsnip reads "
                                  f"{GRAPH_FORMAT}: re-export it")
            if weights_sha256 and meta.get("weights_sha256") != weights_sha256:
                raise BundleError(
                    f"{name} in {bundle_dir} was exported for other weights than its "
                    f"{WEIGHTS_FILE}: re-export it with `latexsnip-train export-onnx {bundle_dir}`"
                )
            sessions.append(session)
        self._encoder, self._decoder = sessions
        self.threads = options.intra_op_num_threads

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        memory_k, memory_v = self._encoder.run(None, {"image": batch})
        return memory_k, memory_v

    def decoder(self, memory: tuple[np.ndarray, np.ndarray], row: int | None = None
                ) -> OnnxStepDecoder:
        memory_k, memory_v = memory
        if row is not None:
            memory_k, memory_v = memory_k[:, row : row + 1], memory_v[:, row : row + 1]
        return OnnxStepDecoder(self._decoder, np.ascontiguousarray(memory_k),
                               np.ascontiguousarray(memory_v))
