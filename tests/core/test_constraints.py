"""Balanced-brace decoding: the constraint's bookkeeping and its effect inside both searches."""

from __future__ import annotations

import numpy as np

from latexsnip.constraints import BraceConstraint
from latexsnip.search import beam_search, greedy_search

# ids: 0 BOS, 1 EOS, then pieces
PIECES = ["", "", " x", " {", " }", " } ^ {", " \\", "{", " \\{"]
BOS, EOS, X, OPEN, CLOSE, CLOSE_OPEN, BACKSLASH, BARE_OPEN, ESC_OPEN = range(9)


def constraint() -> BraceConstraint:
    return BraceConstraint(PIECES, eos_id=EOS, special_ids=[BOS, EOS])


def _state(ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    c = constraint()
    depth, esc = c.start(1)
    for tok in ids:
        depth, esc = c.advance(np.array([tok]), depth, esc)
    return depth, esc


def test_depth_counts_characters_and_skips_escaped_braces():
    assert _state([OPEN, X, CLOSE_OPEN])[0][0] == 1  # "{ x } ^ {"
    assert _state([ESC_OPEN])[0][0] == 0  # "\{" is a literal brace
    depth, esc = _state([BACKSLASH])
    assert depth[0] == 0 and esc[0]  # the next character is escaped, even in the next piece
    assert _state([BACKSLASH, BARE_OPEN])[0][0] == 0  # "\" + "{" = "\{"


def test_mask_forbids_closing_nothing_and_ending_open():
    c = constraint()
    logp = np.zeros((2, len(PIECES)), dtype=np.float32)
    depth = np.array([0, 1])
    masked = c.mask(logp, depth, np.array([False, False]))
    # row 0 (nothing open): no "}", no "} ^ {" (dips below zero first), EOS allowed
    assert np.isneginf(masked[0, [CLOSE, CLOSE_OPEN]]).all() and masked[0, EOS] == 0
    # row 1 (one open): may close, may not end
    assert masked[1, CLOSE] == 0 and masked[1, CLOSE_OPEN] == 0 and np.isneginf(masked[1, EOS])
    assert (logp == 0).all()  # the caller's array is untouched


class ScriptedDecoder:
    """Prefers, at every step, the tokens of ``wish`` in order: a model that wants to emit
    ``}`` first and end with a brace open."""

    def __init__(self, wish: list[list[int]], rows: int = 1) -> None:
        self.wish, self.t, self.rows = wish, 0, rows

    def step(self, tokens: np.ndarray) -> np.ndarray:
        prefs = self.wish[min(self.t, len(self.wish) - 1)]
        logp = np.full((len(tokens), len(PIECES)), -10.0, dtype=np.float32)
        for rank, tok in enumerate(prefs):
            logp[:, tok] = -0.1 * (rank + 1)
        self.t += 1
        return logp

    def select(self, rows: np.ndarray) -> None:
        pass


WISH = [[CLOSE, X], [OPEN, X], [EOS, X, CLOSE], [EOS, CLOSE]]


def test_greedy_with_and_without_the_constraint():
    free = greedy_search(ScriptedDecoder(WISH), 1, 10, BOS, EOS)[0]
    assert free.ids == [CLOSE, OPEN] and free.finished  # "} {": unbalanced both ways
    kept = greedy_search(ScriptedDecoder(WISH), 1, 10, BOS, EOS, constraint())[0]
    assert kept.ids == [X, OPEN, X, CLOSE] and kept.finished  # "x { x }"


def test_beam_search_returns_only_balanced_readings():
    for hyp in beam_search(ScriptedDecoder(WISH), 3, 10, BOS, EOS, constraint()):
        depth, esc = _state(hyp.ids)
        assert depth[0] == 0 and not esc[0]
