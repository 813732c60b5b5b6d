"""Checkpoint bundle: one directory holding everything needed to run a model, and nothing that runs.

    bundle/
      config.json         ModelConfig
      tokenizer.json      HF tokenizers BPE
      model.safetensors   weights (fp16 or fp32; safetensors cannot execute code on load)
      metadata.json       training data, steps, metrics, date, package version, sha256 of the files
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError

from latexsnip import __version__
from latexsnip.config import ModelConfig
from latexsnip.errors import BundleError
from latexsnip.onnx_files import DECODER_FILE, ENCODER_FILE
from latexsnip.tokenizer import LatexTokenizer

if TYPE_CHECKING:  # torch is only needed for the weights (training, the torch engine)
    import torch

    from latexsnip.model import LatexOCR

FILES = ("config.json", "tokenizer.json", "model.safetensors", "metadata.json")
FORMAT_VERSION = 1


@dataclass
class Bundle:
    config: ModelConfig
    tokenizer: LatexTokenizer
    # None when loaded with ``weights=False`` (the ONNX engine reads them itself); loaded with
    # torch on first use then.
    state_dict: dict[str, torch.Tensor] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def weights(self) -> dict[str, torch.Tensor]:
        if self.state_dict is None:
            if self.path is None:
                raise BundleError("this bundle has neither weights nor a directory to read them")
            self.state_dict = _load_weights(self.path)
        return self.state_dict

    def build_model(self) -> LatexOCR:
        from latexsnip.model import LatexOCR

        self.check_weights_fit()  # before allocating: a wrong config may ask for gigabytes
        model = LatexOCR(self.config)
        state = {k: v.float() for k, v in self.weights().items()}
        model.load_state_dict(state, strict=True)
        return model.eval()

    def check_weights_fit(self) -> None:
        """``BundleError`` unless the weights have exactly the tensors and shapes the config
        implies. The model is built on torch's meta device: shapes only, no memory."""
        import torch

        from latexsnip.model import LatexOCR

        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in LatexOCR(self.config).state_dict().items()}
        actual = {k: tuple(v.shape) for k, v in self.weights().items()}
        # load_state_dict raises a bare RuntimeError on shape mismatches: report them ourselves.
        mismatched = [f"{k} {actual[k]} vs {expected[k]}" for k in actual
                      if k in expected and actual[k] != expected[k]]
        if mismatched:
            raise BundleError(
                f"weights do not fit the config in {self.path}: {len(mismatched)} tensors have "
                f"the wrong shape (weights vs config, e.g. {mismatched[:3]})"
            )
        missing = sorted(set(expected) - set(actual))
        unexpected = sorted(set(actual) - set(expected))
        if missing or unexpected:
            raise BundleError(
                f"weights do not fit the config in {self.path}: "
                f"{len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
            )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def save_bundle(
    path: str | Path,
    model: LatexOCR,
    tokenizer: LatexTokenizer,
    metadata: dict[str, Any] | None = None,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a bundle directory (files replaced atomically; the metadata, which vouches for the
    others through their sha256, is written last). ``dtype`` defaults to float16."""
    import torch
    from safetensors.torch import save_file

    dtype = dtype or torch.float16
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    if tokenizer.vocab_size != cfg.vocab_size:
        raise BundleError(f"tokenizer has {tokenizer.vocab_size} tokens, config {cfg.vocab_size}")
    _atomic_write_text(path / "config.json", json.dumps(cfg.to_dict(), indent=2))
    _atomic_write_text(path / "tokenizer.json", tokenizer.to_json())
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    # ONNX graphs point into the old weights file (ADR 0043): they are re-exported, never stale.
    for derived in (ENCODER_FILE, DECODER_FILE):
        (path / derived).unlink(missing_ok=True)
    tmp = path / "model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt", "dtype": str(dtype)})
    os.replace(tmp, path / "model.safetensors")
    meta = dict(metadata or {})
    meta.update(
        {
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "created": meta.get("created") or _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "parameters": sum(v.numel() for v in state.values()),
            "weights_dtype": str(dtype).replace("torch.", ""),
            "sha256": {name: sha256_file(path / name) for name in FILES[:3]},
        }
    )
    _atomic_write_text(path / "metadata.json", json.dumps(meta, indent=2, sort_keys=True))
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"cannot read {path.name} of bundle {path.parent}: {exc}") from exc
    except RecursionError as exc:
        raise BundleError(f"cannot read {path.name} of bundle {path.parent}: nested too "
                          "deeply") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return data


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path / "model.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"cannot read model.safetensors in {path}: {exc}") from exc


def load_bundle(path: str | Path, *, verify: bool = True, weights: bool = True) -> Bundle:
    """Load and check a bundle. Every failure is a ``BundleError`` that says what is wrong.

    ``weights=False`` skips reading the tensors (and importing torch): the ONNX engine maps them
    itself; ``Bundle.weights()`` still loads them on demand."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"model bundle not found: {path} is not a directory")
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(f"model bundle {path} is incomplete: missing {', '.join(missing)}")
    metadata = _read_json(path / "metadata.json")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle {path} has format {metadata.get('format_version')!r}, "
            f"this latexsnip reads format {FORMAT_VERSION}"
        )
    if verify:
        expected = metadata.get("sha256") or {}
        for name in FILES[:3]:
            actual = sha256_file(path / name)
            if expected.get(name) != actual:
                raise BundleError(
                    f"{name} in {path} does not match its sha256 in metadata.json "
                    "(truncated, corrupted or modified): re-install or re-export the bundle"
                )
    try:
        config = ModelConfig.from_dict(_read_json(path / "config.json"))
    except (TypeError, ValueError) as exc:
        raise BundleError(f"invalid config.json in {path}: {exc}") from exc
    try:
        tokenizer = LatexTokenizer.from_file(path / "tokenizer.json")
    except Exception as exc:  # tokenizers raises plain Exceptions on bad JSON
        raise BundleError(f"invalid tokenizer.json in {path}: {exc}") from exc
    if tokenizer.vocab_size != config.vocab_size:
        raise BundleError(
            f"tokenizer.json has {tokenizer.vocab_size} tokens but config.json says "
            f"{config.vocab_size}"
        )
    state = _load_weights(path) if weights else None
    return Bundle(config, tokenizer, state, metadata, path)
