"""The preview's fallback renderers, in a process of their own (``python -m`` this module).

One JSON request per line on stdin, one JSON answer per line on stdout. The parent
(``preview._WorkerProcess``) kills this process when a render overruns its time limit: pure-Python
renderers cannot be interrupted from another thread.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Callable


def _ziamath(latex: str, kind: str, options: dict) -> bytes:
    import ziamath

    ziamath.config.svg2 = False  # QSvgRenderer only understands SVG 1.1/Tiny
    return ziamath.Latex(latex, size=float(options.get("size", 28))).svg().encode("utf-8")


def _mathtext(latex: str, kind: str, options: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.mathtext import math_to_image

    if "$" in latex:
        raise ValueError("'$' inside the formula")
    out = io.BytesIO()
    math_to_image(f"${latex}$", out, dpi=int(options.get("dpi", 160)), format=kind)
    return out.getvalue()


RENDERERS: dict[str, Callable[[str, str, dict], bytes]] = {
    "ziamath": _ziamath, "mathtext": _mathtext}


def handle(request: dict) -> dict:
    try:
        render = RENDERERS[request["renderer"]]
        data = render(str(request["latex"]), str(request.get("kind", "png")), request)
    except Exception as exc:  # noqa: BLE001 - every library error becomes a message
        text = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
        return {"ok": False, "error": f"{type(exc).__name__} {text}".strip()}
    return {"ok": True, "data": base64.b64encode(data).decode("ascii")}


def main() -> int:
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
        except ValueError:
            answer = {"ok": False, "error": "bad request"}
        else:
            answer = handle(request) if isinstance(request, dict) else {"ok": False,
                                                                        "error": "bad request"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
