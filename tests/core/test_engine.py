"""The recognition engine and its decoders, checked against slow but obviously correct references."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import torch

from latexsnip.config import ModelConfig
from latexsnip.decoding import (
    BUDGET_BASE_TOKENS,
    BUDGET_TOKENS_PER_PATCH,
    Hypothesis,
    beam_decode,
    greedy_decode,
    length_budget,
)
from latexsnip.engine import Engine
from latexsnip.errors import BundleError, ImageError
from latexsnip.prediction import Prediction
from latexsnip.preprocess import inference_batch, prepare

TEXTS = ["a+b", "x^2 + y^2 = z^2", "E = mc^2", "\\sum i = n(n+1)/2"]


@pytest.fixture(scope="module")
def images(kit):
    """Formulas of different sizes, plus one repeated (same padded size as another)."""
    imgs = [kit.formula(t) for t in TEXTS]
    return [*imgs, kit.formula(TEXTS[0], font_size=24)]


@pytest.fixture(scope="module")
def model(tiny_engine):
    return tiny_engine.model


def _contexts(model, seed: int = 0) -> list[torch.Tensor]:
    """Encoder outputs of random "images" of a few sizes."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(32, 64), (48, 160), (16, 32)]
    with torch.inference_mode():
        return [model.encode(torch.rand(1, 1, h, w, generator=gen)) for h, w in shapes]


class EosAfter:
    """Wraps a model so that row ``i`` of a batch is pushed to emit EOS at step ``steps[i]``.

    Random weights never emit EOS by themselves; this exercises the "finished" bookkeeping
    (rows finishing at different times) while keeping every other logit as the model made it.
    """

    def __init__(self, model, steps: list[int]) -> None:
        self.cfg = model.cfg
        self._decoder = model.decoder
        self.steps = steps

    def decoder(self, tokens, **kwargs):
        out = self._decoder(tokens, **kwargs)
        logits = out[0] if isinstance(out, tuple) else out
        logits = logits.clone()
        for pos in range(logits.shape[1]):
            absolute = tokens.shape[1] - logits.shape[1] + pos + 1  # tokens seen so far
            for row in range(logits.shape[0]):
                step = self.steps[min(row, len(self.steps) - 1)]
                if absolute >= step:
                    logits[row, pos, self.cfg.eos_id] += 50.0
        return (logits, out[1]) if isinstance(out, tuple) else logits


def reference_greedy(model, context: torch.Tensor, max_tokens: int | None = None) -> Hypothesis:
    """No cache: re-run the decoder on the whole prefix every step, take the argmax."""
    cfg = model.cfg
    max_tokens = max_tokens or cfg.max_tokens
    tokens = torch.tensor([[cfg.bos_id]])
    hyp = Hypothesis([], [], False)
    with torch.inference_mode():
        for _ in range(max_tokens - 1):
            logp = model.decoder(tokens, context=context)[0, -1].float().log_softmax(-1)
            tok = int(logp.argmax())
            hyp.logprobs.append(float(logp[tok]))
            if tok == cfg.eos_id:
                hyp.finished = True
                break
            hyp.ids.append(tok)
            tokens = torch.cat([tokens, torch.tensor([[tok]])], dim=1)
    return hyp


def teacher_forced_logprobs(model, context: torch.Tensor, hyp: Hypothesis) -> list[float]:
    """Log-probabilities of ``hyp``'s tokens from one full, cache-free forward pass."""
    cfg = model.cfg
    targets = hyp.ids + ([cfg.eos_id] if hyp.finished else [])
    tokens = torch.tensor([[cfg.bos_id, *hyp.ids]])
    with torch.inference_mode():
        logp = model.decoder(tokens, context=context)[0].float().log_softmax(-1)
    return [float(logp[i, t]) for i, t in enumerate(targets)]


def _same(a: Hypothesis, b: Hypothesis) -> None:
    assert a.ids == b.ids
    assert a.finished == b.finished
    assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_kv_cache_greedy_equals_reference(model, seed):
    for context in _contexts(model, seed):
        _same(greedy_decode(model, context)[0], reference_greedy(model, context))


def test_kv_cache_greedy_with_eos(model):
    """Batched rows that finish at different steps decode exactly as each row alone."""
    contexts = _contexts(model)[:1] * 3
    batch = torch.cat(contexts)
    wrapped = EosAfter(model, [4, 9, 2])
    hyps = greedy_decode(wrapped, batch)
    assert [len(h.ids) for h in hyps] == [3, 8, 1]
    for row, hyp in enumerate(hyps):
        assert hyp.finished
        alone = EosAfter(model, [wrapped.steps[row]])
        _same(hyp, reference_greedy(alone, contexts[row]))


def test_max_tokens_caps_greedy(model):
    context = _contexts(model)[0]
    (hyp,) = greedy_decode(model, context, max_tokens=6)
    assert len(hyp.ids) == 5 and not hyp.finished
    _same(hyp, reference_greedy(model, context, max_tokens=6))


@pytest.mark.parametrize("eos_step", [None, 5])
def test_beam_1_equals_greedy(model, eos_step):
    net = model if eos_step is None else EosAfter(model, [eos_step])
    for context in _contexts(model):
        (greedy,) = greedy_decode(net, context)
        beam = beam_decode(net, context, beam=1)
        assert len(beam) == 1
        _same(beam[0], greedy)


@pytest.mark.parametrize("eos_step", [None, 6])
def test_beam_hypotheses_are_consistent(model, eos_step):
    """Each beam hypothesis' log-probs equal a cache-free teacher-forced pass: the cache is
    reordered correctly when beams are pruned and re-parented."""
    net = model if eos_step is None else EosAfter(model, [eos_step])
    for context in _contexts(model)[:2]:
        hyps = beam_decode(net, context, beam=4, max_tokens=12)
        assert 1 <= len(hyps) <= 4
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.ids) for h in hyps}) == len(hyps), "duplicate hypotheses"
        for hyp in hyps:
            assert hyp.finished == (eos_step is not None)
            ref = teacher_forced_logprobs(model, context, hyp)
            if eos_step is not None:  # the wrapper's EOS boost is not in the plain model
                ref = ref[:-1]
            assert hyp.logprobs[: len(ref)] == pytest.approx(ref, abs=1e-4)


def test_greedy_hypothesis_is_consistent(model):
    context = _contexts(model)[1]
    (hyp,) = greedy_decode(model, context)
    assert hyp.logprobs == pytest.approx(teacher_forced_logprobs(model, context, hyp), abs=1e-4)


# --------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------


def test_prediction_fields(tiny_engine, images):
    pred = tiny_engine.predict(images[1])
    assert isinstance(pred, Prediction)
    assert 0.0 <= pred.confidence <= 1.0
    assert all(lp <= 0.0 for lp in pred.token_logprobs)
    assert set(pred.timings) == {"preprocess", "encode", "decode", "total"}
    assert all(v >= 0 for v in pred.timings.values())
    t = pred.timings
    assert t["total"] >= t["encode"] + t["decode"] - 1e-6
    assert pred.alternatives == []
    # Random weights never emit EOS: every step emits one token, up to the image's budget.
    cfg = tiny_engine.config
    h, w = prepare(_load(images[1]), cfg).array.shape
    assert len(pred.tokens) == len(pred.token_logprobs) == length_budget(cfg, h, w) - 1
    assert pred.to_dict()["latex"] == pred.latex


def test_engine_matches_reference(tiny_engine, images):
    """Image in → the same ids the cache-free reference decodes from the same encoder output."""
    arr = prepare(_load(images[2]), tiny_engine.config).array
    with torch.inference_mode():
        batch = inference_batch([arr], tiny_engine.config)
        context = tiny_engine.model.encode(torch.from_numpy(batch))
    ref = reference_greedy(tiny_engine.model, context, length_budget(tiny_engine.config, *arr.shape))
    pred = tiny_engine.predict(images[2], balanced=False)  # the reference is unconstrained
    assert pred.latex == tiny_engine.tokenizer.to_latex(ref.ids)
    assert pred.token_logprobs == pytest.approx(ref.logprobs, abs=1e-4)


def _load(img):
    from latexsnip.imageio import load_image

    return load_image(img)


def test_max_tokens_keyword(tiny_engine, images):
    pred = tiny_engine.predict(images[0], max_tokens=8)
    assert len(pred.token_logprobs) == 7
    (batched,) = tiny_engine.predict_batch([images[0]], max_tokens=8, beam=2)
    assert len(batched.token_logprobs) == 7


def test_beam_n_best(tiny_engine, images):
    pred = tiny_engine.predict(images[0], beam=4, n_best=3, max_tokens=12, balanced=False)
    assert 1 <= len(pred.alternatives) <= 3
    assert pred.alternatives[0].latex == pred.latex
    assert pred.alternatives[0].confidence == pytest.approx(pred.confidence)
    # Merged duplicates add up their probability, so the first is at least the top hypothesis's.
    assert pred.alternatives[0].logprob >= sum(pred.token_logprobs) - 1e-6
    for alt in pred.alternatives:
        assert 0.0 <= alt.confidence <= 1.0 and alt.logprob <= 0.0
    assert len({a.latex for a in pred.alternatives}) == len(pred.alternatives)
    # Same order as beam_decode's (unconstrained, sorted by length-normalised score), merged.
    batch = inference_batch([prepare(_load(images[0]), tiny_engine.config).array],
                            tiny_engine.config)
    with torch.inference_mode():
        context = tiny_engine.model.encode(torch.from_numpy(batch))
    hyps = beam_decode(tiny_engine.model, context, beam=4, max_tokens=12)
    texts = [tiny_engine.tokenizer.to_latex(h.ids) for h in hyps[:3]]
    assert [a.latex for a in pred.alternatives] == list(dict.fromkeys(texts))
    # n_best beyond the beam: as many as the beam has.
    assert 1 < len(tiny_engine.predict(images[0], beam=2, n_best=5, max_tokens=8).alternatives) <= 2


def test_batch_equals_one_by_one(tiny_engine, images):
    single = [tiny_engine.predict(img) for img in images]
    batch = tiny_engine.predict_batch(images)
    assert [p.latex for p in batch] == [p.latex for p in single]
    for b, s in zip(batch, single, strict=True):
        assert b.token_logprobs == pytest.approx(s.token_logprobs, abs=1e-4)
    beam = tiny_engine.predict_batch(images[:2], beam=2, max_tokens=10)
    assert [p.latex for p in beam] == [
        tiny_engine.predict(img, beam=2, max_tokens=10).latex for img in images[:2]
    ]


def test_batch_with_a_bad_image_raises(tiny_engine, images):
    with pytest.raises(ImageError, match="empty"):
        tiny_engine.predict_batch([images[0], b""])
    assert tiny_engine.predict_batch([]) == []


def test_thread_safety(tiny_engine, images):
    """4 threads, released together, each predicting every image: same results as sequential."""
    sequential = [tiny_engine.predict(img, max_tokens=16).latex for img in images]
    start = threading.Barrier(4)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait(timeout=30)
            order = images[worker:] + images[:worker]  # different images at the same moment
            got = [tiny_engine.predict(img, max_tokens=16).latex for img in order]
            results[worker] = got[-worker:] + got[:-worker] if worker else got
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert [results[i] for i in range(4)] == [sequential] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:  # batches from several threads too
        batched = list(pool.map(lambda _: tiny_engine.predict_batch(images, max_tokens=16), range(4)))
    assert all([p.latex for p in b] == sequential for b in batched)


def test_cuda_without_gpu(tiny_bundle):
    from latexsnip.bundle import load_bundle

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(BundleError, match="no CUDA GPU is available"):
        Engine(load_bundle(tiny_bundle), device="cuda")
    with pytest.raises(ValueError, match="unknown device"):
        Engine(load_bundle(tiny_bundle), device="tpu")


def test_load_default_bundle_from_env(tiny_bundle, monkeypatch):
    monkeypatch.setenv("LATEXSNIP_BUNDLE", str(tiny_bundle))
    engine = Engine.load(device="cpu")
    assert engine.device == "cpu"
    assert engine.metadata["note"].startswith("random weights")
    monkeypatch.setenv("LATEXSNIP_BUNDLE", str(tiny_bundle.parent / "absent"))
    with pytest.raises(BundleError, match="not found"):
        Engine.load()


def test_confidence_bounds():
    from latexsnip.prediction import confidence_from_logprobs

    assert confidence_from_logprobs([]) == 0.0
    assert confidence_from_logprobs([0.0, 0.0]) == 1.0
    assert 0.0 <= confidence_from_logprobs([-1e9, -0.1]) <= 1.0
    assert confidence_from_logprobs([-0.1, -0.1]) > confidence_from_logprobs([-0.1, -3.0])


def test_fake_model_namespace_is_enough():
    """greedy_decode only needs ``cfg`` and ``decoder``: the wrapper above is a faithful stand-in."""
    fake = SimpleNamespace(cfg=SimpleNamespace(max_tokens=3, bos_id=1, eos_id=2))

    def decoder(tokens, **kwargs):
        logits = torch.zeros(tokens.shape[0], tokens.shape[1], 5)
        logits[..., 4] = 1.0
        return logits, kwargs.get("cache")

    fake.decoder = decoder
    (hyp,) = greedy_decode(fake, torch.zeros(1, 2, 4))
    assert hyp.ids == [4, 4] and not hyp.finished


def test_length_budget_grows_with_the_image_and_respects_the_model_cap():
    cfg = ModelConfig(max_tokens=200)
    small = length_budget(cfg, 16, 32)  # 2 patches
    assert small == BUDGET_BASE_TOKENS + int(2 * BUDGET_TOKENS_PER_PATCH)
    assert length_budget(cfg, 32, 320) > small
    assert length_budget(cfg, cfg.max_height, cfg.max_width) == cfg.max_tokens
    # A partial patch counts as a whole one (the stem sees the padded grid).
    assert length_budget(cfg, 17, 32) == length_budget(cfg, 32, 32)


def test_engine_stops_a_looping_model_at_the_budget(tiny_engine, images):
    """Random weights never emit EOS; a small image stops long before the model's max_tokens."""
    cfg = tiny_engine.config
    arr = prepare(_load(images[0]), cfg).array
    budget = length_budget(cfg, *arr.shape)  # the image's own patches, not the blank margin
    assert budget < cfg.max_tokens
    for beam in (1, 2):
        pred = tiny_engine.predict(images[0], beam=beam)
        assert len(pred.token_logprobs) == budget - 1
    # An explicit, smaller max_tokens still wins.
    assert len(tiny_engine.predict(images[0], max_tokens=5).token_logprobs) == 4
