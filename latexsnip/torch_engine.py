"""The torch backend: the training model itself (x-transformers), the reference for the ONNX
engine and the way to use a CUDA GPU. Needs the ``train`` extra (torch, timm, x-transformers)."""

from __future__ import annotations

import numpy as np
import torch

from latexsnip.bundle import Bundle
from latexsnip.decoding import TorchStepDecoder
from latexsnip.errors import BundleError


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise BundleError("--device cuda was requested but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return torch.device(device)


class TorchBackend:
    name = "torch"

    def __init__(self, bundle: Bundle, device: str = "auto", threads: int | None = None) -> None:
        self._device = resolve_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.model = bundle.build_model().to(self._device)

    @property
    def device(self) -> str:
        return self._device.type

    @property
    def threads(self) -> int:
        return torch.get_num_threads()

    def encode(self, batch: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return self.model.encode(torch.from_numpy(batch).to(self._device))

    def decoder(self, memory: torch.Tensor, row: int | None = None) -> TorchStepDecoder:
        """A step decoder over every image of ``memory``, or over image ``row`` alone."""
        context = memory if row is None else memory[row : row + 1]
        return TorchStepDecoder(self.model, context)
