"""The recognition core: image in, ``Prediction`` out. No Qt, no clipboard, no cwd changes.

Two backends run the same network (ADR 0043): ONNX Runtime (default; no torch needed) and torch
(the training model itself: the reference, and the way to use a CUDA GPU). Both hand a
``StepDecoder`` to the one greedy/beam search in ``latexsnip.search``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from latexsnip.bundle import Bundle, load_bundle
from latexsnip.config import MAX_BEAM
from latexsnip.constraints import BraceConstraint
from latexsnip.errors import BundleError
from latexsnip.imageio import ImageSource, load_image
from latexsnip.onnx_engine import OnnxBackend, has_graphs, onnxruntime_available
from latexsnip.prediction import Alternative, Prediction, confidence_from_logprobs
from latexsnip.preprocess import inference_batch, locate_formula, prepare
from latexsnip.rerank import merge_duplicates
from latexsnip.search import Hypothesis, beam_search, greedy_search, length_budget
from latexsnip.shipped import DEFAULT_BUNDLE_NAME, default_bundle_path  # noqa: F401

BACKENDS = ("auto", "onnx", "torch")


def choose_backend(bundle_dir: Path | None, backend: str = "auto", device: str = "auto") -> str:
    """``auto``: ONNX Runtime when the bundle has its graphs and the device is not a GPU."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    if backend == "onnx" and device == "cuda":
        raise BundleError("the ONNX engine runs on the CPU: use --backend torch for --device cuda")
    if backend != "auto":
        return backend
    if device != "cuda" and has_graphs(bundle_dir) and onnxruntime_available():
        return "onnx"
    return "torch"


def _torch_backend(bundle: Bundle, device: str, threads: int | None) -> Any:
    try:
        from latexsnip.torch_engine import TorchBackend
    except ImportError as exc:
        raise BundleError(
            f"the torch engine needs the training extra (pip install 'latexsnip[train]'): {exc}"
            + ("" if has_graphs(bundle.path) else
               f"; or write this bundle's ONNX graphs: latexsnip-train export-onnx {bundle.path}")
        ) from exc
    return TorchBackend(bundle, device=device, threads=threads)


class Engine:
    """Thread-safe: one lock serialises forward passes (one already uses all cores it may)."""

    def __init__(self, bundle: Bundle, device: str = "auto", backend: str = "auto",
                 threads: int | None = None) -> None:
        self.bundle = bundle
        self.config = bundle.config
        self.tokenizer = bundle.tokenizer
        self.backend_name = choose_backend(bundle.path, backend, device)
        if self.backend_name == "onnx":
            if device not in ("auto", "cpu"):
                raise ValueError(f"unknown device {device!r} (use auto, cpu or cuda)")
            sha = (bundle.metadata.get("sha256") or {}).get("model.safetensors")
            self._backend = OnnxBackend(bundle.path, sha, threads)
        else:
            self._backend = _torch_backend(bundle, device, threads)
        self._braces = BraceConstraint.from_tokenizer(self.tokenizer)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, bundle: str | Path | None = None, device: str = "auto", backend: str = "auto",
             threads: int | None = None) -> Engine:
        path = Path(bundle) if bundle else default_bundle_path()
        choice = choose_backend(path if path.is_dir() else None, backend, device)
        # Weights are read by the backend: ONNX Runtime maps them itself (no torch import, no
        # second copy in memory); the torch backend loads them when it builds the model.
        loaded = load_bundle(path, weights=False)
        return cls(loaded, device=device, backend=choice, threads=threads)

    @property
    def device(self) -> str:
        return self._backend.device

    @property
    def threads(self) -> int:
        """CPU threads the engine computes with (ONNX Runtime's pool or torch's)."""
        return self._backend.threads

    @property
    def model(self):
        """The torch module (torch backend only: the reference and training-side tools)."""
        if self.backend_name != "torch":
            raise AttributeError("the ONNX engine has no torch model (use backend='torch')")
        return self._backend.model

    @property
    def metadata(self) -> dict:
        return self.bundle.metadata

    def predict(
        self, image: ImageSource, *, beam: int = 1, n_best: int = 1, max_tokens: int | None = None,
        balanced: bool = True,
    ) -> Prediction:
        return self.predict_batch([image], beam=beam, n_best=n_best, max_tokens=max_tokens,
                                  balanced=balanced)[0]

    def predict_batch(
        self,
        images: list[ImageSource],
        *,
        beam: int = 1,
        n_best: int = 1,
        max_tokens: int | None = None,
        balanced: bool = True,
    ) -> list[Prediction]:
        """Recognise several images; raises ``ImageError`` if any of them is unusable.

        Greedy decoding batches images of the same padded size; beam search decodes them one at a
        time. Images of different sizes are never padded into one batch: the stem's GroupNorm and
        the attention would see the padding, and results would depend on the batch's make-up.
        ``max_tokens`` caps the decoded length (BOS/EOS included; default: the model's); an image
        never decodes past its ``length_budget`` either, so a looping model stops early.
        ``balanced`` (default) decodes only readings whose braces balance
        (:mod:`latexsnip.constraints`); ``False`` gives the network's unconstrained choice.
        """
        if not images:
            return []
        if not 1 <= beam <= MAX_BEAM:
            raise ValueError(f"beam must be between 1 and {MAX_BEAM}, got {beam}")
        if max_tokens is not None and max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2 (BOS and EOS), got {max_tokens}")
        cfg = self.config
        # Pre-processing holds the lock too: a GUI that submits several snips at once must not
        # hold several large images in float form at the same time.
        with self._lock:
            t0 = time.perf_counter()
            arrays = [prepare(locate_formula(load_image(img), cfg), cfg).array for img in images]
            t1 = time.perf_counter()
        constraint = self._braces if balanced else None
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, arr in enumerate(arrays):
            groups.setdefault(arr.shape, []).append(i)
        results: list[list[Hypothesis]] = [[] for _ in arrays]
        encode_s = decode_s = 0.0
        with self._lock:
            for members in groups.values():
                ta = time.perf_counter()
                batch = inference_batch([arrays[i] for i in members], cfg)
                memory = self._backend.encode(batch)
                tb = time.perf_counter()
                # the budget counts the image's own patches, not the blank margin
                cap = min(max_tokens or cfg.max_tokens, length_budget(cfg, *arrays[members[0]].shape))
                if beam <= 1:
                    decoder = self._backend.decoder(memory)
                    hyps = [[h] for h in greedy_search(decoder, len(members), cap, cfg.bos_id,
                                                       cfg.eos_id, constraint)]
                else:
                    hyps = [
                        beam_search(self._backend.decoder(memory, j), beam, cap, cfg.bos_id,
                                    cfg.eos_id, constraint)
                        for j in range(len(members))
                    ]
                tc = time.perf_counter()
                encode_s += tb - ta
                decode_s += tc - tb
                for i, h in zip(members, hyps, strict=True):
                    results[i] = h
            t3 = time.perf_counter()
        n = len(arrays)
        timings = {
            "preprocess": (t1 - t0) * 1000 / n,
            "encode": encode_s * 1000 / n,
            "decode": decode_s * 1000 / n,
            "total": (t3 - t0) * 1000 / n,
        }
        return [self._to_prediction(hyps, n_best, timings) for hyps in results]

    def _to_prediction(
        self, hyps: list[Hypothesis], n_best: int, timings: dict[str, float]
    ) -> Prediction:
        best = hyps[0]
        # The same text reached through different BPE segmentations is one reading, listed once.
        alternatives = merge_duplicates([
            Alternative(
                self.tokenizer.to_latex(h.ids), confidence_from_logprobs(h.logprobs), sum(h.logprobs)
            )
            for h in hyps[: max(1, n_best)]
        ])
        return Prediction(
            latex=self.tokenizer.to_latex(best.ids),
            confidence=confidence_from_logprobs(best.logprobs),
            token_logprobs=list(best.logprobs),
            tokens=[self.tokenizer.piece(i) for i in best.ids],
            timings=dict(timings),
            alternatives=alternatives if n_best > 1 else [],
        )
