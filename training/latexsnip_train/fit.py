"""``latexsnip-train fit``: one readable training loop (nanoGPT-style), CPU or GPU, resumable.

Resume order: ``RUN_DIR/state.pt`` (full state: model, optimiser, step, RNG) if present, else
``--init RUN_DIR`` (a finished leg's full state: optimiser kept, warm-up restarted; with the WSD
schedule ``--init RUN_DIR/stable``, the leg's state where its decay began), else
``--init BUNDLE`` (weights only, fresh optimiser: the state may be lost between sessions, the
committed bundle is not), else random initialisation (optionally with a pre-trained stem,
``--init-stem``, see ``pretrain.py``). The data stream is seeded with the step count, so a resumed
run reads a fresh shuffle instead of repeating the samples it started with.

Distributed: ``torchrun --nproc_per_node=N -m latexsnip_train.cli fit ...`` (gloo on CPU, NCCL on
GPUs). Rank 0 logs, validates and checkpoints; every rank stops at the same step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from latexsnip.bundle import load_bundle, save_bundle
from latexsnip.config import ModelConfig
from latexsnip.decoding import greedy_decode, length_budget
from latexsnip.imageio import load_image
from latexsnip.model import LatexOCR, count_parameters
from latexsnip.preprocess import collate, prepare
from latexsnip.tokenizer import LatexTokenizer
from latexsnip_train.dataset import BucketedShardDataset, LoaderConfig
from latexsnip_train.paths import resolve_path
from latexsnip_train.schedule import warmup_cosine

# Consecutive non-finite steps after which a run is declared diverged (isolated ones are skipped).
MAX_BAD_STREAK = 20


@dataclass
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 1000
    total_steps: int = 60_000  # cosine decay length; later steps keep the floor
    min_lr_frac: float = 0.05
    label_smoothing: float = 0.05
    # Share of the decoder's input tokens (after BOS) replaced by random ones while training, so
    # the next token must come from the image rather than from a memorised formula's prefix.
    token_corruption: float = 0.0
    grad_clip: float = 1.0
    accum: int = 1
    # True: warm-up and cosine both restart at the step a run was initialised from (--init), so
    # each short fine-tuning leg (a CPU leg, a GPU lease) gets a whole schedule of total_steps.
    restart_schedule: bool = False
    # True (with --max-minutes): the cosine follows the leg's clock, not total_steps, so a leg
    # anneals fully whatever its throughput turns out to be (a GPU lease's loader, a busy CPU).
    # The clock is per invocation: a leg resumed from state.pt starts a new cosine.
    anneal_by_time: bool = False
    # "cosine": decay over the whole leg. "wsd" (warm-up, stable, decay): the peak lr holds until
    # the last ``decay_fraction`` of the leg, then a cosine to the floor. Where the decay begins,
    # fit saves RUN_DIR/stable/state.pt, and the next leg continues from there (``--init
    # RUN_DIR/stable``): the main line never anneals, so no leg pays a re-warming bump (ADR 0008).
    schedule: str = "cosine"
    decay_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"optim.schedule must be 'cosine' or 'wsd', not {self.schedule!r}")
        if not 0.0 < self.decay_fraction <= 1.0:
            raise ValueError("optim.decay_fraction must be in (0, 1]")
        if not 0.0 <= self.token_corruption < 1.0:
            raise ValueError("optim.token_corruption must be in [0, 1)")


@dataclass
class RunConfig:
    eval_every: int = 1000
    eval_limit: int = 200  # 0: the whole validation part
    # Which slice of the validation labels the in-training evals (and best/) use: "" = the
    # selection slice of the shared im2latex_val, never its report set (ADR 0011), and all of a
    # config's own val_dir; or "selection" / "report" / "all" explicitly.
    eval_part: str = ""
    checkpoint_minutes: float = 10.0
    log_every: int = 20
    num_workers: int = 1
    threads: int = 0  # 0: torch default
    compile: bool = False
    bf16: bool = False  # autocast: ~2x samples/s on CPUs with avx512_bf16 (ADR 0007), and GPUs
    seed: int = 0


@dataclass
class TrainConfig:
    shards: str = "data/shards"
    tokenizer: str = "data/tokenizer.json"
    val_dir: str = ""  # default: ../shared/data/im2latex_val (relative: to the config's folder)
    # > 0: validate on this share of the run's own shards instead (fine-tuning on your formulas);
    # the formulas held out (by a hash of the label, ``dataset.held_out``) are never trained on.
    val_split: float = 0.0
    model: ModelConfig = field(default_factory=ModelConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def from_file(cls, path: Path) -> TrainConfig:
        raw = json.loads(path.read_text())
        base = Path(path).resolve().parent
        cfg = cls(
            shards=raw.get("shards", cls.shards),
            tokenizer=raw.get("tokenizer") or cls.tokenizer,
            val_dir=raw.get("val_dir", ""),
            val_split=float(raw.get("val_split", 0.0)),
            model=ModelConfig.from_dict(raw.get("model", {})),
            loader=LoaderConfig(**raw.get("loader", {})),
            optim=OptimConfig(**{k: tuple(v) if isinstance(v, list) else v
                                 for k, v in raw.get("optim", {}).items()}),
            run=RunConfig(**raw.get("run", {})),
        )
        cfg.base_dir = base  # type: ignore[attr-defined]
        # A config without "tokenizer"/"model" (training/configs/fine-tune.json) takes them from
        # `--init BUNDLE` (or the run being resumed); the defaults are only a fall-back.
        cfg.tokenizer_given = bool(raw.get("tokenizer"))  # type: ignore[attr-defined]
        cfg.inherit_model = "model" not in raw  # type: ignore[attr-defined]
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {
            "shards": self.shards, "tokenizer": self.tokenizer, "val_dir": self.val_dir,
            "val_split": self.val_split, "model": self.model.to_dict(), "loader": asdict(self.loader),
            "optim": asdict(self.optim), "run": asdict(self.run),
        }


def schedule_progress(step: int, cfg: OptimConfig, warmup_from: int = 0,
                      progress: float | None = None) -> float:
    """How far through its schedule (0..1) the run is: ``progress`` when the caller measures it
    (by time), else by steps over ``total_steps``."""
    if progress is None:
        since = step - warmup_from
        progress = (since if cfg.restart_schedule else step) / max(1, cfg.total_steps)
    return min(1.0, max(0.0, progress))


def in_decay(progress: float, cfg: OptimConfig) -> bool:
    """True once a WSD schedule has left its stable phase (never for a plain cosine)."""
    return cfg.schedule == "wsd" and progress >= 1.0 - cfg.decay_fraction


def lr_at(step: int, cfg: OptimConfig, warmup_from: int = 0,
          progress: float | None = None) -> float:
    """Linear warm-up (restarting at ``warmup_from`` after a fresh-optimiser resume), then a
    cosine to the floor over the schedule (``schedule_progress``) or, for WSD, over its last
    ``decay_fraction`` only."""
    progress = schedule_progress(step, cfg, warmup_from, progress)
    if cfg.schedule == "wsd":
        start = 1.0 - cfg.decay_fraction
        progress = max(0.0, progress - start) / cfg.decay_fraction
    return cfg.lr * warmup_cosine(step - warmup_from, cfg.warmup_steps, progress, cfg.min_lr_frac)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def corrupt_inputs(inputs: torch.Tensor, rate: float, vocab_size: int, pad_id: int,
                   special: int = 3) -> torch.Tensor:
    """Replace about ``rate`` of the decoder inputs after the first (BOS) with random tokens.

    Padding and the BOS column stay; replacements are drawn from the ordinary vocabulary (ids
    from ``special`` on: pad/BOS/EOS are never injected). The targets are left alone.
    """
    if rate <= 0:
        return inputs
    hit = torch.rand(inputs.shape, device=inputs.device) < rate
    hit[:, 0] = False
    hit &= inputs != pad_id
    noise = torch.randint(special, vocab_size, inputs.shape, device=inputs.device)
    return torch.where(hit, noise, inputs)


def _dist_info() -> tuple[int, int, int]:
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


@torch.inference_mode()
def quick_validate(model: LatexOCR, tokenizer: LatexTokenizer, items: list[tuple[Any, str]],
                   device: torch.device, batch_size: int = 16) -> dict[str, float]:
    """Greedy decoding on a fixed val subset; returns BLEU/ED/exact over normalised tokens."""
    from latexsnip_train.metrics import evaluate_pairs

    model.eval()
    prepared = [(prepare(img, model.cfg).array, ref) for img, ref in items]
    order = sorted(range(len(prepared)), key=lambda i: prepared[i][0].shape[::-1])
    hyps: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = torch.from_numpy(collate([prepared[i][0] for i in idx])).to(device)
        out = greedy_decode(model, model.encode(batch), length_budget(model.cfg, *batch.shape[-2:]))
        for i, hyp in zip(idx, out, strict=True):
            hyps[i] = tokenizer.decode(hyp.ids)
    val_loss = teacher_forced_nll(model, tokenizer, prepared, device)
    model.train()
    report = evaluate_pairs([ref for _, ref in prepared], [hyps[i] for i in range(len(prepared))])
    return {"val_bleu": report.bleu, "val_ed": report.edit_distance, "val_exact": report.exact_match,
            "val_loss": val_loss, "val_bleu_raw": report.bleu_raw}


def target_ids(tokenizer: LatexTokenizer, cfg: ModelConfig, ref: str) -> list[int] | None:
    """BOS + the normalised label's ids (cut to fit) + EOS; None if the label cannot be normalised."""
    from latexsnip_train.normalize import NormalizationError, normalize_latex

    try:
        ids = tokenizer.encode(normalize_latex(ref))
    except NormalizationError:
        return None
    return [cfg.bos_id, *ids[: cfg.max_tokens - 2], cfg.eos_id]


def teacher_forced_nll(model: LatexOCR, tokenizer: LatexTokenizer, prepared: list[tuple[Any, str]],
                       device: torch.device, shuffle: torch.Generator | None = None) -> float:
    """Mean NLL per target token of the true labels (no smoothing), one image at a time.

    While greedy outputs are still mostly wrong, BLEU on a small subset moves by noise; this
    number moves with what the model has learnt (``benchmarks/val_nll.py`` reports it too).
    With ``shuffle``, each image's encoder cells are put in a random order first: the difference
    is what position is worth to the model (ADR 0006).
    """
    total, n_tokens = 0.0, 0
    for array, ref in prepared:
        ids = target_ids(tokenizer, model.cfg, ref)
        if ids is None:
            continue
        cells = model.encoder.cells(torch.from_numpy(collate([array])).to(device))
        if shuffle is not None:
            flat = cells.flatten(2)
            order = torch.randperm(flat.shape[-1], generator=shuffle).to(device)
            cells = flat[:, :, order].view_as(cells)
        tokens = torch.tensor([ids], device=device)
        logits = model.decoder(tokens[:, :-1], context=model.encoder.encode_cells(cells))
        total += float(nn.functional.cross_entropy(logits[0], tokens[0, 1:])) * (len(ids) - 1)
        n_tokens += len(ids) - 1
    return total / max(1, n_tokens)


def load_val_items(val_dir: Path, limit: int, seed: int = 0,
                   part: str = "selection") -> list[tuple[Any, str]]:
    """A seeded ``limit`` (0: all) of the ``part`` slice of ``val_dir``, images loaded."""
    from latexsnip_train.evaluate import read_labels, subsample, val_part

    items = subsample(val_part(read_labels(val_dir), part), limit or None, seed)
    return [(load_image(val_dir / "images" / it.file), it.latex) for it in items]


def bf16_autocast_pays(device: torch.device) -> bool:
    """Whether bf16 autocast is fast here: on GPUs, and on CPUs with native bf16 dot products.

    Without `avx512_bf16`/AMX oneDNN emulates bf16 and a step is ~30x *slower* than fp32
    (measured on a Zen 3 machine, leg cpu-small-34: 100 s against 4 s per step; ADR 0007).
    """
    if device.type != "cpu":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN: assume emulated
        return False


def fit(cfg: TrainConfig, run_dir: Path, *, init: Path | None = None, max_minutes: float = 0,
        max_steps: int | None = None, init_stem: Path | None = None) -> dict[str, Any]:
    """Train; ``max_steps`` counts the steps of this call (0: load, save and export only)."""
    rank, world, local_rank = _dist_info()
    distributed = world > 1
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    master = rank == 0
    use_bf16 = cfg.run.bf16 and bf16_autocast_pays(device)
    if cfg.run.bf16 and not use_bf16 and master:
        print("bf16 autocast requested, but this CPU has no native bf16 (avx512_bf16/AMX): "
              "training in fp32, which is far faster here", file=sys.stderr)
    base = getattr(cfg, "base_dir", Path.cwd())
    state_path = run_dir / "state.pt"
    resuming = state_path.exists()
    bundle = None
    if not resuming and init is not None and not (init / "state.pt").is_file():
        bundle = load_bundle(init)  # --init BUNDLE: its weights, tokenizer and (maybe) shape
    tokenizer, model_cfg, vocab_note = _vocabulary(cfg, run_dir, init, bundle, base)
    shard_source = resolve_path(cfg.shards, base)
    _check_shards(shard_source)
    val_dir, val_key, val_missing = _validation_source(cfg, base, shard_source)
    run_dir.mkdir(parents=True, exist_ok=True)
    if master:
        # The run's own vocabulary and shape: a resumed or continued run reads them back, so it
        # never pairs these weights with another tokenizer (ids would silently mean other tokens).
        (run_dir / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
        (run_dir / "model.json").write_text(json.dumps(model_cfg.to_dict(), indent=2))
        if vocab_note:
            print(vocab_note)
    torch.manual_seed(cfg.run.seed + rank)
    model = LatexOCR(model_cfg).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "pos" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.optim.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.optim.lr, betas=cfg.optim.betas)
    step, samples, warmup_from, best_bleu, elapsed_before = 0, 0, 0, -1.0, 0.0
    history: list[str] = []
    # `--init RUN_DIR`: a finished leg's state.pt loads like our own, but starts a new leg: the
    # optimiser moments are kept (a fresh AdamW costs ~500 steps of recovery per leg) and the
    # learning rate warms up again.
    new_leg = not state_path.exists() and init is not None and (init / "state.pt").is_file()
    load_path = init / "state.pt" if new_leg and init is not None else state_path
    if load_path.exists():
        state = torch.load(load_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, samples, warmup_from = state["step"], state["samples"], state["warmup_from"]
        best_bleu, elapsed_before = state["best_bleu"], state["elapsed_s"]
        history = state.get("history", [])
        if state.get("val_set", val_key) != val_key:
            best_bleu = -1.0  # "best" of another validation set says nothing about this one
            print("best val BLEU starts afresh: the state was validated on another set")
        if new_leg:
            warmup_from = step
            history = [*history, f"continued from {init} (optimiser kept)"]
            print(f"continued full state of {init} at step {step}, optimiser kept, warming up again")
        else:
            torch.set_rng_state(state["torch_rng"].cpu())  # map_location may have moved it
            print(f"resumed full state from {state_path} at step {step} ({samples} samples)")
    elif bundle is not None:
        # The config may add modules the bundle lacks (e.g. model.feature_norm): they start fresh.
        # Anything the bundle has that the model does not is an error (a different architecture).
        missing, unexpected = model.load_state_dict(
            {k: v.float() for k, v in bundle.state_dict.items()}, strict=False)
        if unexpected:
            raise ValueError(f"{init} has weights this model config lacks: {unexpected[:5]}")
        step = int(bundle.metadata.get("steps", 0))
        samples = int(bundle.metadata.get("samples_seen", 0))
        bundle_bleu = float(bundle.metadata.get("metrics", {}).get("val_bleu", -1.0))
        if bundle.metadata.get("val_set") == val_key:
            best_bleu = bundle_bleu
        elif bundle_bleu >= 0:
            print(f"best val BLEU starts afresh: the bundle's {bundle_bleu:.3f} was measured on "
                  "another validation set")
        elapsed_before = float(bundle.metadata.get("train_seconds", 0.0))
        history = list(bundle.metadata.get("history", []))
        if missing:
            history.append(f"new, freshly initialised: {', '.join(missing)}")
            print(f"freshly initialised (not in {init}): {', '.join(missing)}")
        warmup_from = step  # fresh optimiser: warm up again, continue the schedule where it was
        print(f"initialised weights from {init} (step {step}, fresh optimiser)")
    elif init_stem is not None:
        from latexsnip_train.stem_weights import load_stem

        load_stem(model, init_stem)
        history.append(f"stem initialised from {init_stem}")
        print(f"initialised the stem from {init_stem}")
    history.append(f"{time.strftime('%Y-%m-%d %H:%M')} start step {step} on {device}")
    if master:
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        print(f"model: {count_parameters(model) / 1e6:.1f} M parameters, vocab {tokenizer.vocab_size}")
    train_model: nn.Module = model
    if distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None)
    if cfg.run.compile:
        train_model = torch.compile(train_model)

    loader_cfg = cfg.loader
    if loader_cfg.mathtext_formulas:
        loader_cfg = replace(loader_cfg,
                             mathtext_formulas=str(resolve_path(loader_cfg.mathtext_formulas, base)))
    dataset = BucketedShardDataset(shard_source, tokenizer, model_cfg, loader_cfg,
                                   seed=cfg.run.seed + step, rank=rank, world_size=world,
                                   holdout=cfg.val_split)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=cfg.run.num_workers,
                                         pin_memory=device.type == "cuda",
                                         persistent_workers=cfg.run.num_workers > 0)
    val_items: list[tuple[Any, str]] = []
    if master and cfg.val_split > 0:
        val_items = load_split_items(shard_source, cfg.val_split, cfg.run.eval_limit)
        print(f"validating on {len(val_items)} formulas held out of {shard_source} "
              f"(--val-split {cfg.val_split:g}; never trained on)")
    elif master and val_dir is not None:
        val_items = load_val_items(val_dir, cfg.run.eval_limit, part=_eval_part(cfg))
    if master and not val_items:
        _warn_no_validation(val_missing or f"no formula of {shard_source} fell into the "
                            f"{cfg.val_split:g} split")
    metrics_path = run_dir / "metrics.jsonl"
    t_start = time.time()
    last_ckpt = time.time()
    loss_ema = None
    tokens_seen = 0
    last_metrics: dict[str, float] = {}
    last_eval_step = -1

    def log(record: dict[str, Any]) -> None:
        if master:
            with metrics_path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")

    def save_state(path: Path = state_path) -> None:
        if not master:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_torch_save({
            "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
            "samples": samples, "warmup_from": warmup_from, "best_bleu": best_bleu,
            "elapsed_s": elapsed_before + time.time() - t_start,
            "torch_rng": torch.get_rng_state(), "history": history, "val_set": val_key,
        }, path)

    def export(path: Path, metrics: dict[str, float]) -> None:
        save_bundle(path, model, tokenizer, {
            "steps": step, "samples_seen": samples, "metrics": metrics,
            "train_seconds": round(elapsed_before + time.time() - t_start),
            "hardware": f"{device.type} x{world}, {torch.get_num_threads()} threads, "
                        f"{'bf16 autocast' if use_bf16 else 'fp32'}",
            "data": {"shards": str(cfg.shards)}, "train_config": cfg.to_dict(),
            "history": history, "val_set": val_key,
        })

    model.train()
    first_step = step  # --max-steps counts the steps of this invocation, wherever it starts
    bar = tqdm(total=max_steps, disable=not master, dynamic_ncols=True, unit="step")
    data_iter = iter(loader)
    stop_reason = "max_steps"
    stable_saved = False  # per invocation: a resumed leg runs (and saves) its own schedule
    skipped_steps = bad_streak = 0
    while True:
        if max_steps is not None and step - first_step >= max_steps:
            break
        by_time = None
        if max_minutes:
            budget_used = _slowest_clock(time.time() - t_start, distributed, device) / (
                max_minutes * 60)
            if budget_used >= 1.0:
                stop_reason = "max_minutes"
                break
            by_time = budget_used if cfg.optim.anneal_by_time else None
        progress = schedule_progress(step, cfg.optim, warmup_from, by_time)
        lr = lr_at(step, cfg.optim, warmup_from, progress)
        if not stable_saved and in_decay(progress, cfg.optim):
            # The weights and moments at the peak lr: where the next leg continues (ADR 0008).
            history.append(f"stable phase ends at step {step}; decay to the floor")
            save_state(run_dir / "stable" / "state.pt")
            stable_saved = True
            tqdm.write(f"step {step}: decay begins; saved {run_dir / 'stable' / 'state.pt'}")
        for group in opt.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for micro in range(cfg.optim.accum):
            images, tokens = next(data_iter)
            images, tokens = images.to(device, non_blocking=True), tokens.to(device)
            # DDP: all-reduce the gradients once per step, on the last micro-batch only.
            sync = not distributed or micro == cfg.optim.accum - 1
            with contextlib.nullcontext() if sync else train_model.no_sync():
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    inputs = corrupt_inputs(tokens[:, :-1], cfg.optim.token_corruption,
                                            model_cfg.vocab_size, model_cfg.pad_id,
                                            special=max(model_cfg.pad_id, model_cfg.bos_id,
                                                        model_cfg.eos_id) + 1)
                    logits = train_model(images, inputs)
                    loss = nn.functional.cross_entropy(
                        logits.float().reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                        ignore_index=model_cfg.pad_id, label_smoothing=cfg.optim.label_smoothing)
                (loss / cfg.optim.accum).backward()
            loss_sum += loss.item() / cfg.optim.accum
            samples += images.shape[0] * world
            tokens_seen += int((tokens[:, 1:] != model_cfg.pad_id).sum())
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        # One non-finite gradient (one bad batch) would turn every weight into NaN through
        # AdamW; skip that update instead, and stop if it keeps happening (ADR 0009). The norm
        # is of the all-reduced gradients, so under DDP every rank makes the same choice.
        if bool(torch.isfinite(grad_norm)):
            opt.step()
            bad_streak = 0
        else:
            skipped_steps += 1
            bad_streak += 1
            tqdm.write(f"step {step}: non-finite gradient norm (loss {loss_sum:.4f}); update skipped")
            if bad_streak >= MAX_BAD_STREAK:
                raise RuntimeError(f"{bad_streak} non-finite steps in a row at step {step}: "
                                   "the run diverged; lower the learning rate or resume")
        opt.zero_grad(set_to_none=True)
        step += 1
        if math.isfinite(loss_sum):
            loss_ema = loss_sum if loss_ema is None else 0.98 * loss_ema + 0.02 * loss_sum
        wall = time.time() - t_start
        bar.update(1)
        if step % cfg.run.log_every == 0:
            postfix = {"loss": "nan" if loss_ema is None else f"{loss_ema:.3f}", "lr": f"{lr:.2e}",
                       "tok_s": f"{tokens_seen / max(wall, 1e-6):.0f}"}
            if max_minutes:  # a time-bounded run has no step total, so tqdm shows no ETA
                postfix["left"] = _minutes_left(max_minutes, wall)
            bar.set_postfix(postfix)
            log({"step": step, "samples": samples, "time_s": round(elapsed_before + wall, 1),
                 "train_loss": round(loss_sum, 4), "lr": lr, "skipped_steps": skipped_steps})
        if master and val_items and step % cfg.run.eval_every == 0:
            metrics = quick_validate(model, tokenizer, val_items, device)
            last_metrics, last_eval_step = metrics, step
            log({"step": step, "samples": samples, "time_s": round(elapsed_before + wall, 1),
                 **metrics})
            tqdm.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            export(run_dir / "last", metrics)
            if metrics["val_bleu"] > best_bleu:
                best_bleu = metrics["val_bleu"]
                export(run_dir / "best", metrics)
                tqdm.write(f"new best val BLEU {best_bleu:.4f}: exported {run_dir / 'best'}")
        if time.time() - last_ckpt >= cfg.run.checkpoint_minutes * 60:
            save_state()
            last_ckpt = time.time()
    bar.close()
    save_state()
    if master:
        # The weights as the run ends (a finished cosine's are usually the best), validated on
        # the same subset as the periodic evals so "final" and "best" compare directly.
        final_metrics = last_metrics
        if val_items and last_eval_step != step:
            final_metrics = quick_validate(model, tokenizer, val_items, device)
            log({"step": step, "samples": samples,
                 "time_s": round(elapsed_before + time.time() - t_start, 1), **final_metrics})
        export(run_dir / "final", final_metrics)
        if final_metrics and final_metrics["val_bleu"] > best_bleu:
            # The end beats every periodic eval (or there was none, as in a short fine-tune).
            best_bleu = final_metrics["val_bleu"]
            export(run_dir / "best", final_metrics)
        # stderr: stdout carries only each rank's JSON result (torchrun interleaves the ranks).
        tqdm.write(f"final step {step}: exported {run_dir / 'final'} {final_metrics}",
                   file=sys.stderr)
    if distributed:
        torch.distributed.destroy_process_group()
    return {"step": step, "samples": samples, "stop": stop_reason, "best_bleu": best_bleu,
            "skipped_steps": skipped_steps}


class FitInputError(ValueError):
    """An input of ``fit`` is missing or does not fit the others; the message says what to do."""


def same_tokenizer(a: LatexTokenizer, b: LatexTokenizer) -> bool:
    """Whether two tokenizers give every text the same ids (same vocabulary and merges)."""
    return json.loads(a.to_json()).get("model") == json.loads(b.to_json()).get("model")


def _run_files(directory: Path) -> tuple[Path | None, Path | None]:
    """A run directory's own tokenizer.json and model.json (``RUN/stable`` reads its run's)."""
    d = directory.parent if directory.name == "stable" else directory
    tok, shape = d / "tokenizer.json", d / "model.json"
    return (tok if tok.is_file() else None), (shape if shape.is_file() else None)


def _vocabulary(cfg: TrainConfig, run_dir: Path, init: Path | None, bundle: Any,
                base: Path) -> tuple[LatexTokenizer, ModelConfig, str]:
    """The tokenizer and model shape of this run, and a line saying where they came from.

    The weights decide: a run being resumed, ``--init RUN_DIR`` and ``--init BUNDLE`` bring the
    tokenizer their weights were trained with. A different tokenizer named in the config is
    refused (same vocabulary size, other ids: the model would read garbage without a warning).
    Without any of those, the config's tokenizer is used and must exist.
    """
    given_path = resolve_path(cfg.tokenizer, base)
    given = LatexTokenizer.from_file(given_path) if given_path.is_file() else None
    explicit = getattr(cfg, "tokenizer_given", True)
    inherit = getattr(cfg, "inherit_model", False)
    own: LatexTokenizer | None = None
    shape: ModelConfig | None = None
    origin = ""
    source = run_dir if (run_dir / "state.pt").exists() else init
    if bundle is not None:
        own, origin = bundle.tokenizer, f"the bundle {init}"
        shape = bundle.config if inherit else None
    elif source is not None:
        tok_path, shape_path = _run_files(source)
        if tok_path is not None:
            own, origin = LatexTokenizer.from_file(tok_path), f"the run {tok_path.parent}"
            if inherit and shape_path is not None:
                shape = ModelConfig.from_dict(json.loads(shape_path.read_text()))
    note = ""
    if own is None:
        if given is None:
            raise FitInputError(
                f"tokenizer not found: {given_path} — build one with `latexsnip-train tokenizer "
                "CORPUS OUT.json`, or fine-tune the shipped model with `--init "
                "resources/model/latexsnip-base` (which brings its own)")
        tokenizer = given
    else:
        if explicit and given is not None and not same_tokenizer(own, given):
            raise FitInputError(
                f"the config's tokenizer {given_path} is not the one {origin} was trained with "
                f"({given.vocab_size} and {own.vocab_size} tokens, different ids: the weights "
                "would read the wrong tokens); drop \"tokenizer\" from the config to use "
                f"{origin}'s own (training/configs/fine-tune.json has none), or train from "
                "scratch without --init")
        tokenizer = own
        if not (explicit and given is not None):
            note = f"tokenizer: {origin}'s own ({own.vocab_size} tokens)"
    if shape is None:
        shape = ModelConfig.from_dict({**cfg.model.to_dict(), "vocab_size": tokenizer.vocab_size})
    if shape.vocab_size != tokenizer.vocab_size:
        raise FitInputError(f"{origin}: model.json says {shape.vocab_size} tokens, its "
                            f"tokenizer has {tokenizer.vocab_size}")
    cfg.model = replace(shape)  # config.json of the run records the shape actually trained
    return tokenizer, shape, note


def _check_shards(source: Path) -> None:
    from latexsnip_train.shards import find_shards, shards_in_progress

    if find_shards(source):
        return
    if "*" not in str(source) and shards_in_progress(source):
        raise FitInputError(f"no finished shards yet in {source}: `render` is still writing the "
                            "first one (a shard counts once it is closed); start fit when it is")
    raise FitInputError(
        f"no shards in {source} — render your formulas first (`latexsnip-train render FORMULAS "
        "OUT --shards`), then give `--shards OUT/shards` or \"shards\" in the config")


def _validation_source(cfg: TrainConfig, base: Path,
                       shard_source: Path) -> tuple[Path | None, str, str]:
    """(val_dir or None, a key naming the validation set, why there is none if there is none).

    ``val_dir`` resolves like the other paths (relative to the config's folder); a ``val_dir``
    that is named but missing is an error, the default one (shared data) may be absent."""
    limit = cfg.run.eval_limit
    if cfg.val_split > 0:
        return None, f"split {cfg.val_split:g} of {shard_source.name}, first {limit}", ""
    if cfg.val_dir:
        val_dir = resolve_path(cfg.val_dir, base)
        if not (val_dir / "labels.tsv").is_file():
            raise FitInputError(f"val_dir {val_dir} has no labels.tsv (a folder with labels.tsv "
                                "and images/); or validate on part of your own render with "
                                "--val-split 0.1")
    else:
        val_dir = _default_val_dir()
        if not (val_dir / "labels.tsv").is_file():
            return None, "", f"the default validation set {val_dir} is not here"
    size = (val_dir / "labels.tsv").stat().st_size
    return (val_dir, f"{val_dir.name}/labels.tsv {size} bytes, {_eval_part(cfg)} part, "
                     f"{limit or 'all'}", "")


def _eval_part(cfg: TrainConfig) -> str:
    return cfg.run.eval_part or ("all" if cfg.val_dir else "selection")


def load_split_items(shard_source: Path, fraction: float, limit: int,
                     screen_dpi: float = 120.0) -> list[tuple[Any, str]]:
    """Up to ``limit`` distinct formulas of the shards that ``held_out`` puts into the
    validation split, each as one clean render brought to a screen's resolution."""
    from PIL import Image

    from latexsnip_train.dataset import held_out
    from latexsnip_train.shards import find_shards, iter_shards

    items: dict[str, Any] = {}
    for sample in iter_shards(find_shards(shard_source)):
        latex = sample.meta["latex"]
        if latex in items or not held_out(latex, fraction):
            continue
        f = screen_dpi / float(sample.meta.get("dpi", 240))
        img = sample.image
        items[latex] = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))),
                                  Image.Resampling.LANCZOS)
        if limit and len(items) >= limit:
            break
    return [(img, latex) for latex, img in items.items()]


def _warn_no_validation(why: str) -> None:
    bar = "!" * 78
    print(f"{bar}\nNO VALIDATION SET: {why}.\nNothing will measure this run: no val BLEU, no "
          "best/ (export takes final/). Hold out part\nof your own render with --val-split 0.1, "
          f"or set \"val_dir\" (labels.tsv + images/) in the config.\n{bar}", file=sys.stderr)


def _minutes_left(max_minutes: float, elapsed_s: float) -> str:
    """The time budget still left, as H:MM (the ETA of a ``--max-minutes`` run)."""
    left = max(0, round(max_minutes * 60 - elapsed_s) // 60)
    return f"{left // 60}:{left % 60:02d}"


def _slowest_clock(elapsed: float, distributed: bool, device: torch.device) -> float:
    """The largest elapsed time over ranks. Every rank then stops at the same step (one leaving
    the loop alone would leave the others waiting in the next gradient all-reduce) and uses the
    same time-based learning rate (different ones would let the replicas drift apart)."""
    if not distributed:
        return elapsed
    t = torch.tensor([elapsed], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return float(t.item())


def _default_val_dir() -> Path:
    from latexsnip_train.evaluate import default_val_dir

    return default_val_dir()


def add_fit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="train a model (resumable)")
    p.add_argument("--config", type=Path, required=True, help="training config JSON")
    p.add_argument("--run-dir", type=Path, required=True, help="where state/metrics/bundles go")
    p.add_argument("--init", type=Path,
                   help="start from a bundle's weights (fresh optimiser) or from a finished run "
                        "dir's state.pt (optimiser kept, warm-up restarted)")
    p.add_argument("--init-stem", type=Path,
                   help="fresh runs only: stem weights from `pretrain-encoder` (safetensors)")
    p.add_argument("--shards", type=Path,
                   help="train on these shards instead of the config's (a fresh render draw "
                        "needs no new config file); a quoted glob takes several draws")
    p.add_argument("--val-split", type=float, default=None, metavar="FRACTION",
                   help="validate on this share of the shards' formulas (never trained on) "
                        "instead of the config's val_dir: fine-tuning on your own formulas")
    p.add_argument("--max-minutes", type=float, default=0, help="stop cleanly after this long")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps of this invocation (a resumed or --init run "
                        "counts from where it starts)")
    p.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from latexsnip.errors import BundleError

    random.seed(0)
    if not args.config.is_file():
        raise SystemExit(f"latexsnip-train fit: config not found: {args.config} (fine-tuning the "
                         "shipped model: training/configs/fine-tune.json)")
    cfg = TrainConfig.from_file(args.config)
    if args.shards:
        if "*" in str(args.shards):  # several draws at once, e.g. 'data/render29*/shards'
            from latexsnip_train.shards import find_shards

            if not find_shards(args.shards):
                raise SystemExit(f"--shards: no shards match {args.shards}")
            cfg.shards = str(args.shards.absolute())
        elif not args.shards.is_dir():
            raise SystemExit(f"--shards: no such directory: {args.shards}")
        else:
            cfg.shards = str(args.shards.resolve())  # absolute: not resolved against the config
    if args.val_split is not None:
        if not 0.0 <= args.val_split < 1.0:
            raise SystemExit("--val-split: a fraction in [0, 1), e.g. 0.1")
        cfg.val_split = args.val_split
    try:
        result = fit(cfg, args.run_dir, init=args.init, max_minutes=args.max_minutes,
                     max_steps=args.max_steps, init_stem=args.init_stem)
    except (FitInputError, BundleError) as exc:
        raise SystemExit(f"latexsnip-train fit: {exc}") from None
    # One write call per line: under DDP every rank shares stdout, and print()'s separate
    # newline write (PYTHONUNBUFFERED) lets another rank's line land in between.
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0
