"""Split LaTeX into tokens and join tokens back into compact, valid LaTeX.

The model, the normaliser and the metrics all work on the same token sequence: control words
(``\\frac``), control symbols (``\\,`` ``\\{`` ``\\\\``), and single characters. Whitespace is not
a token in math mode; inside text groups (``\\text{...}`` and friends) a run of spaces becomes the
token ``~`` (which LaTeX renders as the same space) so that the canonical spelling can keep tokens
separated by single spaces.
"""

from __future__ import annotations

import re

TEXT_COMMANDS = frozenset(
    {
        r"\text", r"\mbox", r"\textrm", r"\textbf", r"\textit", r"\textsf", r"\texttt", r"\hbox",
        r"\textnormal", r"\textup", r"\textsl", r"\emph",
    }
)

_TOKEN_RE = re.compile(
    r"""
    (?P<env>\\(?:begin|end)\s*\{\s*[a-zA-Z]+\*?\s*\})  # \begin{array}: one token, as in Deng's data
  | (?P<word>\\[a-zA-Z]+\*?)        # control word, optional star (\operatorname*)
  | (?P<symbol>\\[^a-zA-Z])          # control symbol: \, \{ \\ \  ...
  | (?P<space>\s+)
  | (?P<char>.)                      # any single character
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize_latex(latex: str) -> list[str]:
    """Return the LaTeX tokens of ``latex``.

    >>> tokenize_latex(r"\\frac{a}{\\alpha x}")
    ['\\\\frac', '{', 'a', '}', '{', '\\\\alpha', 'x', '}']
    """
    tokens: list[str] = []
    # Stack of brace depths at which a text group was opened, to keep spaces inside it.
    text_depths: list[int] = []
    depth = 0
    pending_text_group = False
    for match in _TOKEN_RE.finditer(latex):
        kind = match.lastgroup
        tok = match.group()
        if kind == "space":
            if text_depths and text_depths[-1] == depth and tokens and tokens[-1] not in ("{", "~"):
                tokens.append("~")
            continue
        if kind == "env":
            tok = re.sub(r"\s+", "", tok)
        if kind == "symbol" and tok[1].isspace():
            tok = "\\ "  # any backslash-whitespace is a control space
        if tok == "{":
            depth += 1
            if pending_text_group:
                text_depths.append(depth)
                pending_text_group = False
        elif tok == "}":
            if text_depths and text_depths[-1] == depth:
                text_depths.pop()
                if tokens and tokens[-1] == "~":
                    tokens.pop()  # trailing space inside a text group is invisible
            depth = max(0, depth - 1)
        pending_text_group = tok in TEXT_COMMANDS
        tokens.append(tok)
    return tokens


def split_spaced(canonical: str) -> list[str]:
    """Tokens of a canonical, space-separated string (``\\ `` stays one token).

    A backslash-space is a control space only at the start of a token: in ``\\\\ c`` the
    space separates the newline token ``\\\\`` from ``c``.
    """
    out: list[str] = []
    i, n = 0, len(canonical)
    while i < n:
        if canonical[i] == " ":
            i += 1
        elif canonical.startswith("\\ ", i):
            out.append("\\ ")
            i += 2
        else:
            end = canonical.find(" ", i)
            end = n if end < 0 else end
            out.append(canonical[i:end])
            i = end
    return out


def to_spaced(tokens: list[str]) -> str:
    """Canonical form: tokens separated by single spaces (the form the model learns)."""
    return " ".join(tokens)


def compact_latex(tokens: list[str]) -> str:
    """Join tokens into the shortest LaTeX that tokenises back to the same tokens.

    A space is needed only after a control word followed by a letter (``\\alpha x``), or by a ``*``
    when the word has no star of its own (``\\sigma *``, else it would read as ``\\sigma*``).
    ``~`` inside a text group becomes a plain space again so the user sees ``\\text{if x}``.
    """
    parts: list[str] = []
    text_depths: list[int] = []
    depth = 0
    pending_text_group = False
    prev = ""
    for tok in tokens:
        if tok == "{":
            depth += 1
            if pending_text_group:
                text_depths.append(depth)
        elif tok == "}":
            if text_depths and text_depths[-1] == depth:
                text_depths.pop()
            depth = max(0, depth - 1)
        pending_text_group = tok in TEXT_COMMANDS
        out = tok
        if tok == "~" and text_depths and text_depths[-1] == depth:
            out = " "
        if prev and re.fullmatch(r"\\[a-zA-Z]+\*?", prev) and (
            re.match(r"[a-zA-Z]", out) or (out.startswith("*") and not prev.endswith("*"))
        ):
            parts.append(" ")
        parts.append(out)
        prev = out
    return "".join(parts)


def canonical_from_latex(latex: str) -> str:
    """Tokenise and re-join with single spaces (no normalisation beyond that)."""
    return to_spaced(tokenize_latex(latex))


def tex_source(canonical: str) -> str:
    """LaTeX to *typeset* a canonical string.

    The spaced canonical form cannot be fed to TeX as is: inside text groups (``\\text { a n d }``)
    spaces are typeset, so "and" would come out letter-spaced.
    """
    return compact_latex(split_spaced(canonical))
