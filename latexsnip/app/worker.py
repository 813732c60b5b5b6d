"""Background work: model loading, recognition and preview rendering never run on the GUI thread.

Results come back as queued Qt signals, so callbacks always run on the GUI thread. Any exception
in a worker becomes an error *message* for the user; the app keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from latexsnip.errors import LatexsnipError

log = logging.getLogger(__name__)


def error_message(exc: BaseException) -> str:
    """User-facing text: our own errors are written for users; others get their type name."""
    if isinstance(exc, LatexsnipError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Call(QObject):
    finished = Signal(object)
    failed = Signal(str)


class Runner(QObject):
    """Runs callables on a thread pool and delivers ``on_ok(result)`` / ``on_err(message)`` on the
    GUI thread. Keeps each call's signal object alive until it has delivered."""

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._alive: set[_Call] = set()

    def submit(self, fn: Callable[[], Any], on_ok: Callable[[Any], None],
               on_err: Callable[[str], None]) -> None:
        call = _Call()
        self._alive.add(call)

        def deliver_ok(result: object) -> None:
            self._alive.discard(call)
            on_ok(result)

        def deliver_err(message: str) -> None:
            self._alive.discard(call)
            on_err(message)

        call.finished.connect(deliver_ok)
        call.failed.connect(deliver_err)

        def job() -> None:
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - a worker must never take the app down
                log.exception("background task failed")
                call.failed.emit(error_message(exc))
            else:
                call.finished.emit(result)

        self.pool.start(job)

    def pending(self) -> int:
        return len(self._alive)


EngineFactory = Callable[[str], Any]  # device -> object with .predict(image, beam=, n_best=)


class EngineService(QObject):
    """Loads the engine in the background at start-up; requests made while loading are queued."""

    state_changed = Signal(str, str)  # state ("loading"|"ready"|"failed"), detail

    def __init__(self, factory: EngineFactory, device: str = "auto",
                 runner: Runner | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.factory = factory
        self.device = device
        self.runner = runner or Runner(parent=self)
        self.engine: Any = None
        self.state = "idle"
        self.error = ""
        self._queue: list[tuple[Any, dict, Callable, Callable]] = []

    def start(self) -> None:
        self.state = "loading"
        self.state_changed.emit("loading", "")
        self.runner.submit(lambda: self.factory(self.device), self._loaded, self._load_failed)

    def _loaded(self, engine: Any) -> None:
        self.engine, self.state = engine, "ready"
        self.state_changed.emit("ready", str(getattr(engine, "device", "")))
        queue, self._queue = self._queue, []
        for image, kwargs, on_ok, on_err in queue:
            self._submit(image, kwargs, on_ok, on_err)

    def _load_failed(self, message: str) -> None:
        self.state, self.error = "failed", message
        self.state_changed.emit("failed", message)
        queue, self._queue = self._queue, []
        for _image, _kwargs, _on_ok, on_err in queue:
            on_err(f"the model could not be loaded: {message}")

    def recognize(self, image: Any, on_ok: Callable[[Any], None], on_err: Callable[[str], None],
                  *, beam: int = 1, n_best: int = 1) -> None:
        kwargs = {"beam": beam, "n_best": n_best}
        if self.state == "ready":
            self._submit(image, kwargs, on_ok, on_err)
        elif self.state == "failed":
            on_err(f"the model could not be loaded: {self.error}")
        else:
            self._queue.append((image, kwargs, on_ok, on_err))

    def queued(self) -> int:
        return len(self._queue)

    def _submit(self, image: Any, kwargs: dict, on_ok: Callable, on_err: Callable) -> None:
        engine = self.engine
        self.runner.submit(lambda: engine.predict(image, **kwargs), on_ok, on_err)
