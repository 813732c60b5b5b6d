"""The recognition core: image in, ``Prediction`` out. No Qt, no clipboard, no cwd changes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import torch

from latexsnip.bundle import Bundle, load_bundle
from latexsnip.decoding import Hypothesis, beam_decode, greedy_decode, length_budget
from latexsnip.errors import BundleError
from latexsnip.imageio import ImageSource, load_image
from latexsnip.prediction import Alternative, Prediction, confidence_from_logprobs
from latexsnip.preprocess import collate, prepare

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE_NAME = "latexsnip-base"


def default_bundle_path() -> Path:
    """The shipped bundle: ``$LATEXSNIP_BUNDLE``, else ``resources/model/latexsnip-base``."""
    env = os.environ.get("LATEXSNIP_BUNDLE")
    if env:
        return Path(env)
    return REPO_ROOT / "resources" / "model" / DEFAULT_BUNDLE_NAME


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BundleError("--device cuda was requested but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return torch.device(device)


class Engine:
    """Thread-safe: one lock serialises forward passes (torch already uses all cores for one)."""

    def __init__(self, bundle: Bundle, device: str = "auto") -> None:
        self.bundle = bundle
        self.config = bundle.config
        self.tokenizer = bundle.tokenizer
        self._device = resolve_device(device)
        self.model = bundle.build_model().to(self._device)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, bundle: str | Path | None = None, device: str = "auto") -> Engine:
        return cls(load_bundle(bundle or default_bundle_path()), device=device)

    @property
    def device(self) -> str:
        return self._device.type

    @property
    def metadata(self) -> dict:
        return self.bundle.metadata

    def predict(
        self, image: ImageSource, *, beam: int = 1, n_best: int = 1, max_tokens: int | None = None
    ) -> Prediction:
        return self.predict_batch([image], beam=beam, n_best=n_best, max_tokens=max_tokens)[0]

    def predict_batch(
        self,
        images: list[ImageSource],
        *,
        beam: int = 1,
        n_best: int = 1,
        max_tokens: int | None = None,
    ) -> list[Prediction]:
        """Recognise several images; raises ``ImageError`` if any of them is unusable.

        Greedy decoding batches images of the same padded size; beam search decodes them one at a
        time. Images of different sizes are never padded into one batch: the stem's GroupNorm and
        the attention would see the padding, and results would depend on the batch's make-up.
        ``max_tokens`` caps the decoded length (BOS/EOS included; default: the model's); an image
        never decodes past its ``length_budget`` either, so a looping model stops early.
        """
        if not images:
            return []
        t0 = time.perf_counter()
        arrays = [prepare(load_image(img), self.config).array for img in images]
        t1 = time.perf_counter()
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, arr in enumerate(arrays):
            groups.setdefault(arr.shape, []).append(i)
        results: list[list[Hypothesis]] = [[] for _ in arrays]
        encode_s = decode_s = 0.0
        with self._lock:
            for members in groups.values():
                ta = time.perf_counter()
                batch = torch.from_numpy(collate([arrays[i] for i in members])).to(self._device)
                with torch.inference_mode():
                    context = self.model.encode(batch)
                tb = time.perf_counter()
                cap = min(max_tokens or self.config.max_tokens,
                          length_budget(self.config, *batch.shape[-2:]))
                if beam <= 1:
                    hyps = [[h] for h in greedy_decode(self.model, context, cap)]
                else:
                    hyps = [
                        beam_decode(self.model, context[j : j + 1], beam, cap)
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
        alternatives = [
            Alternative(
                self.tokenizer.to_latex(h.ids), confidence_from_logprobs(h.logprobs), sum(h.logprobs)
            )
            for h in hyps[: max(1, n_best)]
        ]
        return Prediction(
            latex=self.tokenizer.to_latex(best.ids),
            confidence=confidence_from_logprobs(best.logprobs),
            token_logprobs=list(best.logprobs),
            tokens=[self.tokenizer.piece(i) for i in best.ids],
            timings=dict(timings),
            alternatives=alternatives if n_best > 1 else [],
        )
