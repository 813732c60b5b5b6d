"""Background engine loading, queuing while loading, and errors that never kill the app."""

from __future__ import annotations

import threading

from latexsnip.app.worker import EngineService, Runner, error_message
from latexsnip.errors import ImageError
from latexsnip.prediction import Prediction


class Engine:
    device = "cpu"

    def __init__(self, fail: Exception | None = None):
        self.fail = fail
        self.threads: list[str] = []

    def predict(self, image, *, beam=1, n_best=1):
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise self.fail
        return Prediction(latex=f"img{image}-beam{beam}", confidence=0.9)


def collect():
    ok, err = [], []
    return ok, err, ok.append, err.append


def test_snip_while_loading_is_queued_not_lost(qtbot):
    gate = threading.Event()
    engine = Engine()

    def factory(device):
        gate.wait(5)
        return engine

    svc = EngineService(factory, "cpu")
    states = []
    svc.state_changed.connect(lambda s, d: states.append((s, d)))
    svc.start()
    ok, err, on_ok, on_err = collect()
    svc.recognize(1, on_ok, on_err)
    svc.recognize(2, on_ok, on_err, beam=5)
    assert svc.queued() == 2 and not ok
    gate.set()
    qtbot.waitUntil(lambda: len(ok) == 2, timeout=5000)
    assert sorted(p.latex for p in ok) == ["img1-beam1", "img2-beam5"]
    assert states == [("loading", ""), ("ready", "cpu")]
    assert threading.main_thread().name not in engine.threads  # never on the GUI thread


def test_load_failure_fails_queued_and_later_requests(qtbot):
    def factory(device):
        raise ImageError("bundle missing")  # any LatexsnipError keeps its message

    svc = EngineService(factory)
    ok, err, on_ok, on_err = collect()
    svc.start()
    svc.recognize(1, on_ok, on_err)
    qtbot.waitUntil(lambda: svc.state == "failed", timeout=5000)
    svc.recognize(2, on_ok, on_err)
    assert err == ["the model could not be loaded: bundle missing"] * 2


def test_predict_exception_becomes_message_and_service_survives(qtbot):
    engine = Engine(fail=RuntimeError("CUDA out of memory"))
    svc = EngineService(lambda d: engine)
    svc.start()
    qtbot.waitUntil(lambda: svc.state == "ready", timeout=5000)
    ok, err, on_ok, on_err = collect()
    svc.recognize(1, on_ok, on_err)
    qtbot.waitUntil(lambda: bool(err), timeout=5000)
    assert err == ["RuntimeError: CUDA out of memory"]
    engine.fail = None
    svc.recognize(2, on_ok, on_err)
    qtbot.waitUntil(lambda: bool(ok), timeout=5000)


def test_runner_delivers_on_gui_thread(qtbot):
    runner = Runner()
    seen = []
    runner.submit(lambda: threading.current_thread() is threading.main_thread(),
                  lambda r: seen.append((r, threading.current_thread() is threading.main_thread())),
                  seen.append)
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [(False, True)]
    assert runner.pending() == 0


def test_error_message_forms():
    assert error_message(ImageError("bad image")) == "bad image"
    assert error_message(ValueError()) == "ValueError"
