"""The PySide6 6.12 / CPython < 3.12 reference-count work-around is applied only there."""

from __future__ import annotations


def test_refcount_guard_only_where_needed():
    from latexsnip.app.compat import needs_refcount_guard

    assert needs_refcount_guard("6.12.0", (3, 11), "CPython")
    assert not needs_refcount_guard("6.12.0", (3, 12), "CPython")
    assert not needs_refcount_guard("6.11.3", (3, 11), "CPython")
    assert not needs_refcount_guard("6.12.0", (3, 11), "PyPy")
