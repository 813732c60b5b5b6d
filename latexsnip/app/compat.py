"""Work-arounds for bugs in the Qt bindings we run on.

PySide6 6.12.0 on CPython < 3.12 drops a reference to ``None`` on every call of a method that
returns nothing (and loses references to ``True``/``False`` in some calls); it seems to assume the
immortal singletons of Python 3.12. A long-running GUI makes millions of such calls (every paint
event), so ``None``'s count reaches zero and the interpreter aborts ("none_dealloc"). Until the
dependency excludes that combination we give the three singletons a huge reference count — what
Python 3.12 does for them anyway ("immortal" objects).
"""

from __future__ import annotations

import ctypes
import platform
import sys

_BOOST = 1 << 40
_done = False


def needs_refcount_guard(pyside_version: str, version_info: tuple[int, ...] = sys.version_info,
                         implementation: str = platform.python_implementation()) -> bool:
    return (implementation == "CPython" and tuple(version_info[:2]) < (3, 12)
            and pyside_version.startswith("6.12.")
            and not hasattr(sys, "gettotalrefcount"))  # debug builds lay objects out differently


def guard_pyside_refcount_bug() -> bool:
    """Apply the work-around once where it's needed; returns whether it did."""
    global _done
    try:
        import PySide6
    except ImportError:
        return False

    if _done or not needs_refcount_guard(PySide6.__version__):
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object, at id(obj).
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    _done = True
    return True
