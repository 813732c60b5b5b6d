"""``latexsnip-train extract FILES… -o OUT``: the formulas of your own ``.tex`` files, one a line.

What is taken: display environments (``equation``, ``align``, ``gather``, ``multline``,
``flalign``, ``alignat``, ``eqnarray``, ``displaymath``, their starred forms), ``\\[…\\]``,
``$$…$$``, and inline ``$…$`` / ``\\(…\\)`` of at least ``--min-inline-tokens`` canonical tokens.
``align``-like bodies become the math-mode environment that typesets them (``aligned``,
``gathered``, ``alignedat``, ``array``) and, with two or more rows, each row is also a formula of
its own (people snip single lines as often as whole blocks).

The document's own macros are expanded by text substitution only — nothing is ever executed:
zero-argument shorthands (``\\newcommand{\\R}{\\mathbb{R}}``, ``\\def\\be{\\begin{equation}}``,
``\\newenvironment`` without arguments), ``\\DeclareMathOperator``, ``\\DeclarePairedDelimiter``
and macros with arguments (``#1``…``#9``, an optional first argument's default), with a limit on
depth and size so a recursive definition ends in a dropped formula rather than a hang. Macros
that text substitution cannot reproduce (delimited ``\\def`` parameters, ``xparse`` argument
types other than ``m``) drop the formulas that use them. ``\\label``, ``\\tag``,
``\\nonumber``/``\\notag`` are removed.

Every formula is checked with ``normalize_latex`` and the renderer's allow-list
(``latexsnip.latex_safety``); the rest are dropped with the reason. The report (printed, and
written next to OUT as ``OUT.report.tsv``) says what was kept and why the others were not.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from latexsnip.latex_safety import check_latex
from latexsnip_train.normalize import NormalizationError, normalize_latex

# Display environments: name -> the math-mode environment its body becomes ("" = unwrap).
DISPLAY_ENVS: dict[str, str] = {
    "equation": "", "displaymath": "", "math": "", "dmath": "",
    "align": "aligned", "flalign": "aligned", "alignat": "alignedat",
    "gather": "gathered", "multline": "gathered", "eqnarray": "array",
}
MULTI_ROW = frozenset({"aligned", "alignedat", "gathered", "array"})
VERBATIM_ENVS = ("verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "comment")
# Inside a formula: dropped with their argument, or alone.
DROP_WITH_ARG = ("\\label", "\\tag*", "\\tag")
DROP_ALONE = ("\\nonumber", "\\notag", "\\qedhere", "\\displaybreak", "\\allowdisplaybreaks",
              "\\xspace")
UNWRAP = ("\\ensuremath",)  # \ensuremath{X} is X in math
CROSS_REFS = frozenset({"\\ref", "\\eqref", "\\cite", "\\pageref", "\\cref", "\\Cref",
                        "\\autoref", "\\citep", "\\citet", "\\hyperref"})
MAX_EXPANSION_PASSES = 32  # nesting depth of macros inside macros
MAX_GROWTH = 20  # an expanded formula may be this many times its source (and >= 4,000 chars)

_CS = re.compile(r"\\([A-Za-z@]+\*?|.)", re.DOTALL)


class ExtractError(ValueError):
    """A formula that cannot be extracted faithfully; ``reason`` goes into the report."""


@dataclass
class Macro:
    name: str  # with the backslash: "\\R"
    nargs: int = 0
    default: str | None = None  # the optional first argument's default (\newcommand[n][dflt])
    body: str = ""
    expandable: bool = True  # False: text substitution cannot reproduce it (drop its uses)
    why_not: str = ""
    # \DeclarePairedDelimiter: (left, right); \abs{x}, \abs*{x} (\left…\right), \abs[\big]{x}
    delims: tuple[str, str] | None = None

    @property
    def structural(self) -> bool:
        """A zero-argument shorthand for document structure (``\\be`` → ``\\begin{equation}``):
        expanded over the whole text before math is looked for."""
        return (self.expandable and self.nargs == 0
                and any(s in self.body for s in ("\\begin", "\\end", "\\[", "\\]", "$",
                                                 "\\nonumber", "\\notag", "\\label")))


@dataclass
class Environment:
    name: str
    begin: str
    end: str


@dataclass
class Macros:
    commands: dict[str, Macro] = field(default_factory=dict)
    environments: dict[str, Environment] = field(default_factory=dict)
    unexpandable_envs: dict[str, str] = field(default_factory=dict)


@dataclass
class Candidate:
    latex: str
    kind: str  # "equation", "align", "align row", "\\[", "$$", "$", "\\("
    file: str
    line: int

    @property
    def inline(self) -> bool:
        return self.kind in ("$", "\\(", "math")


@dataclass
class Outcome:
    candidate: Candidate
    latex: str  # as written to OUT (empty when dropped)
    reason: str  # "" when kept


@dataclass
class ExtractReport:
    files: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    macros: Macros = field(default_factory=Macros)

    @property
    def kept(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.reason]

    @property
    def dropped(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.reason]

    def summary(self) -> str:
        kinds = Counter(o.candidate.kind for o in self.kept)
        lines = [f"kept {len(self.kept)} formulas from {len(self.files)} file(s): "
                 + (", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none")]
        reasons = Counter(_reason_key(o.reason) for o in self.dropped)
        if reasons:
            lines.append(f"dropped {len(self.dropped)}:")
            for reason, n in reasons.most_common():
                ex = next(o for o in self.dropped if _reason_key(o.reason) == reason)
                lines.append(f"  {n:>5}  {reason}  (e.g. {ex.candidate.file}:{ex.candidate.line} "
                             f"{_short(ex.candidate.latex)})")
        cmds = self.macros.commands.values()
        shorthands = sum(1 for m in cmds if m.expandable and m.nargs == 0)
        with_args = sum(1 for m in cmds if m.expandable and m.nargs > 0)
        refused = sorted(m.name for m in cmds if not m.expandable)
        envs = len(self.macros.environments)
        line = (f"macros: {shorthands} zero-argument shorthands, {with_args} with arguments, "
                f"{envs} environment shorthands expanded")
        if refused or self.macros.unexpandable_envs:
            names = refused + sorted(self.macros.unexpandable_envs)
            line += f"; not expandable (formulas using them dropped): {', '.join(names[:10])}"
        lines.append(line)
        return "\n".join(lines)


def _reason_key(reason: str) -> str:
    """The reason without its details (``normaliser: unbalanced: …`` → ``normaliser``)."""
    if reason.startswith(("normaliser", "the renderer refuses")):
        return ": ".join(reason.split(": ")[:2 if reason.startswith("the renderer") else 1])
    return reason


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --------------------------------------------------------------------------------------------
# Reading TeX source as text
# --------------------------------------------------------------------------------------------


def _blank(text: str, start: int, end: int) -> str:
    """Replace a span by spaces, keeping its newlines (so line numbers stay right)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def strip_verbatim_and_comments(text: str) -> str:
    """Blank verbatim-like environments, ``\\verb``, ``\\iffalse…\\fi`` and ``%`` comments."""
    for env in VERBATIM_ENVS:
        pattern = re.compile(r"\\begin\{" + re.escape(env) + r"\}.*?\\end\{" + re.escape(env)
                             + r"\}", re.DOTALL)
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    text = re.sub(r"\\verb\*?([^A-Za-z\s])(.*?)\1", lambda m: " " * len(m.group(0)), text)
    out = []
    for line in text.split("\n"):
        i, cut = 0, len(line)
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == "%":
                cut = i
                break
            i += 1
        out.append(line[:cut])
    text = "\n".join(out)
    return re.sub(r"\\iffalse\b.*?\\fi\b", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text,
                  flags=re.DOTALL)


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def read_group(s: str, i: int, open_: str = "{", close: str = "}") -> tuple[str, int]:
    """The balanced group starting at ``s[i] == open_``: (its content, the index after it).
    Braces nest; a ``]`` inside braces does not close an optional argument."""
    if i >= len(s) or s[i] != open_:
        raise ExtractError(f"expected {open_}")
    depth = 1 if open_ == "{" else 0
    j = i + 1
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if open_ == "{" and depth == 0:
                return s[i + 1: j], j + 1
            if depth < 0:
                break
        elif c == close and open_ != "{" and depth == 0:
            return s[i + 1: j], j + 1
        j += 1
    raise ExtractError(f"unbalanced {open_}")


def read_argument(s: str, i: int) -> tuple[str, int]:
    """One undelimited TeX argument: a braced group (braces stripped) or a single token."""
    i = _skip_ws(s, i)
    if i >= len(s) or s[i] in "}&":
        raise ExtractError("missing argument")
    if s[i] == "{":
        return read_group(s, i)
    if s[i] == "\\":
        m = _CS.match(s, i)
        assert m is not None
        return m.group(0), m.end()
    return s[i], i + 1


def _read_name(s: str, i: int) -> tuple[str, int]:
    r"""The macro name after ``\newcommand``: ``{\name}`` or ``\name``."""
    i = _skip_ws(s, i)
    if i < len(s) and s[i] == "{":
        inner, j = read_group(s, i)
        name = inner.strip()
        if not re.fullmatch(r"\\([A-Za-z@]+|.)", name):
            raise ExtractError("bad macro name")
        return name, j
    m = _CS.match(s, i)
    if m is None:
        raise ExtractError("bad macro name")
    return m.group(0), m.end()


def _read_optional(s: str, i: int) -> tuple[str | None, int]:
    j = _skip_ws(s, i)
    if j < len(s) and s[j] == "[":
        return read_group(s, j, "[", "]")
    return None, i


# --------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------

_DEFINERS = re.compile(
    r"\\(newcommand|renewcommand|providecommand|DeclareRobustCommand|NewDocumentCommand"
    r"|RenewDocumentCommand|DeclareMathOperator|DeclarePairedDelimiter|newenvironment"
    r"|renewenvironment|def|gdef|edef"
    r"|xdef|let)(?![A-Za-z@])(\*?)")


def collect_macros(text: str, macros: Macros | None = None) -> tuple[Macros, str]:
    """Read the definitions of ``text`` into ``macros``; returns them and ``text`` without the
    definitions (blanked, line numbers kept). Later definitions win, as in TeX."""
    macros = macros if macros is not None else Macros()
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _DEFINERS.search(text, pos)) is not None:
        kind, star = m.group(1), m.group(2)
        try:
            end = _parse_definition(text, m.end(), kind, star, macros)
        except ExtractError:
            pos = m.end()
            continue
        spans.append((m.start(), end))
        pos = end
    for start, end in reversed(spans):
        text = _blank(text, start, end)
    return macros, text


def _parse_definition(s: str, i: int, kind: str, star: str, macros: Macros) -> int:
    if kind in ("newenvironment", "renewenvironment"):
        i = _skip_ws(s, i)
        name, i = read_group(s, i)
        nargs, i = _read_optional(s, i)
        default, i = _read_optional(s, i)
        begin, i = read_group(s, _skip_ws(s, i))
        end, i = read_group(s, _skip_ws(s, i))
        if nargs and nargs.strip() not in ("", "0"):
            macros.unexpandable_envs[name.strip()] = "environment with arguments"
        else:
            macros.environments[name.strip()] = Environment(name.strip(), begin, end)
        return i
    if kind == "let":
        name, i = _read_name(s, i)
        i = _skip_ws(s, i)
        if i < len(s) and s[i] == "=":
            i = _skip_ws(s, i + 1)
        target, i = read_argument(s, i)
        known = macros.commands.get(target)
        macros.commands[name] = (Macro(name, known.nargs, known.default, known.body,
                                       known.expandable, known.why_not)
                                 if known else Macro(name, body=target))
        return i
    name, i = _read_name(s, i)
    if kind == "DeclarePairedDelimiter":
        left, i = read_argument(s, i)
        right, i = read_argument(s, i)
        macros.commands[name] = Macro(name, 1, delims=(left, right))
        return i
    if kind == "DeclareMathOperator":
        body, i = read_group(s, _skip_ws(s, i))
        op = "\\operatorname*" if star else "\\operatorname"
        macros.commands[name] = Macro(name, body=f"{op}{{{body}}}")
        return i
    if kind in ("NewDocumentCommand", "RenewDocumentCommand"):
        spec, i = read_group(s, _skip_ws(s, i))
        body, i = read_group(s, _skip_ws(s, i))
        kinds = spec.split()
        if all(k == "m" for k in kinds):
            macros.commands[name] = Macro(name, len(kinds), body=body)
        else:
            macros.commands[name] = Macro(name, expandable=False,
                                          why_not=f"argument types {spec.strip()}")
        return i
    if kind in ("def", "gdef", "edef", "xdef"):
        j = i
        while j < len(s) and s[j] != "{":
            j += 1
        params = s[i:j].replace(" ", "")
        body, end = read_group(s, j)
        if re.fullmatch(r"(#[1-9])*", params) and params == "".join(
                f"#{k}" for k in range(1, len(params) // 2 + 1)):
            macros.commands[name] = Macro(name, len(params) // 2, body=body)
        else:
            macros.commands[name] = Macro(name, expandable=False,
                                          why_not=f"delimited parameters {params}")
        return end
    # \newcommand & co.: [nargs][default]{body}
    nargs_text, i = _read_optional(s, i)
    default, i = _read_optional(s, i)
    body, i = read_group(s, _skip_ws(s, i))
    nargs = int(nargs_text.strip()) if nargs_text and nargs_text.strip().isdigit() else 0
    if kind == "providecommand" and name in macros.commands:
        return i
    macros.commands[name] = Macro(name, min(nargs, 9), default if nargs else None, body)
    return i


# --------------------------------------------------------------------------------------------
# Expansion (text substitution only)
# --------------------------------------------------------------------------------------------


def _substitute(body: str, args: list[str]) -> str:
    def arg(m: re.Match[str]) -> str:
        if m.group(0) == "##":
            return "#"
        k = int(m.group(1))
        return args[k - 1] if k <= len(args) else m.group(0)

    return re.sub(r"##|#([1-9])", arg, body)


def _glue(before: str, text: str, after: str) -> str:
    """``text`` between ``before`` and ``after`` with a space where a control word would
    otherwise swallow the letters next to it (``\\alpha`` + ``x`` is not ``\\alphax``)."""
    lead = " " if re.search(r"\\[A-Za-z@]+$", before) and text[:1].isalpha() else ""
    trail = " " if re.search(r"\\[A-Za-z@]+$", text) and after[:1].isalpha() else ""
    return lead + text + trail


def _last(pieces: list[str]) -> str:
    return next((p for p in reversed(pieces) if p), "")


def _expand_once(text: str, macros: Macros, only_structural: bool) -> tuple[str, bool]:
    out: list[str] = []
    i, changed = 0, False
    while i < len(text):
        j = text.find("\\", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        m = _CS.match(text, j)
        assert m is not None
        name = m.group(0)
        if name.startswith(("\\begin", "\\end")) and macros.environments:
            env_text, end = _expand_environment(text, j, macros)
            if env_text is not None:
                out.append(_glue(_last(out), env_text, text[end:end + 1]))
                i, changed = end, True
                continue
        macro = macros.commands.get(name) or macros.commands.get(name.rstrip("*"))
        if macro is None or (only_structural and not macro.structural):
            out.append(name)
            i = m.end()
            continue
        if name not in macros.commands:  # "\foo*" where only "\foo" is defined: "*" is text
            name = name.rstrip("*")
        if not macro.expandable:
            raise ExtractError(f"author macro {macro.name} ({macro.why_not}) cannot be expanded")
        k = j + len(name)
        if macro.delims is not None:
            replacement, k = _paired(text, k, macro)
            out.append(_glue(_last(out), replacement, text[k:k + 1]))
            i, changed = k, True
            continue
        args: list[str] = []
        if macro.default is not None:
            opt, k = _read_optional(text, k)
            args.append(macro.default if opt is None else opt)
        try:
            while len(args) < macro.nargs:
                arg, k = read_argument(text, k)
                args.append(arg)
        except ExtractError as exc:
            raise ExtractError(f"author macro {macro.name} lacks an argument") from exc
        out.append(_glue(_last(out), _substitute(macro.body, args), text[k:k + 1]))
        i, changed = k, True
    return "".join(out), changed


def _paired(text: str, k: int, macro: Macro) -> tuple[str, int]:
    """A ``\\DeclarePairedDelimiter`` use at ``k`` (after the name): its text and its end."""
    assert macro.delims is not None
    left, right = macro.delims
    try:
        if text[k:k + 1] == "*":
            arg, end = read_argument(text, k + 1)
            return f"\\left{left} {arg} \\right{right}", end
        size, k = _read_optional(text, k)
        arg, end = read_argument(text, k)
    except ExtractError as exc:
        raise ExtractError(f"author macro {macro.name} lacks an argument") from exc
    if size and size.strip():
        return f"{size.strip()}l{left} {arg} {size.strip()}r{right}", end
    return f"{left} {arg} {right}", end


def _expand_environment(text: str, j: int, macros: Macros) -> tuple[str | None, int]:
    m = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}").match(text, j)
    if m is None or m.group(2) not in macros.environments:
        return None, j
    env = macros.environments[m.group(2)]
    return (env.begin if m.group(1) == "begin" else env.end), m.end()


def expand_macros(text: str, macros: Macros, *, only_structural: bool = False) -> str:
    """Expand the document's macros in ``text`` until none is left (or the limits are hit)."""
    limit = max(4000, MAX_GROWTH * len(text))
    for _ in range(MAX_EXPANSION_PASSES):
        text, changed = _expand_once(text, macros, only_structural)
        if len(text) > limit:
            raise ExtractError("macro expansion grows without end (recursive definition?)")
        if not changed:
            return text
    raise ExtractError("macro expansion nests too deep (recursive definition?)")


# --------------------------------------------------------------------------------------------
# Finding formulas
# --------------------------------------------------------------------------------------------

_BEGIN = re.compile(r"\\begin\s*\{([^{}]*)\}")


def _env_base(name: str) -> str:
    return name[:-1] if name.endswith("*") else name


def _find_end(s: str, i: int, name: str) -> int:
    """Index of the ``\\end{name}`` closing an environment whose body starts at ``i``."""
    pattern = re.compile(r"\\(begin|end)\s*\{" + re.escape(name) + r"\}")
    depth = 1
    for m in pattern.finditer(s, i):
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            return m.start()
    return -1


def _find_closing(s: str, i: int, closer: str) -> int:
    """Index of ``closer`` (``$``, ``$$``, ``\\]``, ``\\)``) after ``i``, skipping escaped
    characters; -1 if none (inline math may not cross a blank line)."""
    j = i
    while j < len(s):
        if s.startswith(closer, j):
            return j
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if closer in ("$", "\\)") and c == "\n" and s[j + 1:].lstrip(" \t").startswith("\n"):
            return -1
        j += 1
    return -1


@dataclass
class Found:
    latex: str
    kind: str
    offset: int
    error: str = ""  # why this span cannot be a formula


def find_formulas(text: str) -> Iterator[Found]:
    """Each math span of ``text`` (already without comments and preamble)."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            m = _BEGIN.match(text, i)
            if m is not None:
                name = m.group(1).strip()
                target = DISPLAY_ENVS.get(_env_base(name))
                if target is None:  # not math (figure, theorem…): look inside it
                    i = m.end()
                    continue
                end = _find_end(text, m.end(), name)
                if end < 0:
                    yield Found(text[m.end(): m.end() + 80], _env_base(name), i,
                                f"\\begin{{{name}}} never ends")
                    i = m.end()
                    continue
                try:
                    latex = _wrap(text[m.end(): end], name, target)
                except ExtractError as exc:
                    yield Found(text[m.end(): end], _env_base(name), i, str(exc))
                else:
                    yield Found(latex, _env_base(name), i)
                i = end + len(f"\\end{{{name}}}")
                continue
            if text.startswith(("\\[", "\\("), i):
                kind = text[i: i + 2]
                end = _find_closing(text, i + 2, "\\]" if kind == "\\[" else "\\)")
                if end < 0:
                    yield Found(text[i + 2: i + 82], kind, i, f"{kind} never closed")
                    i += 2
                    continue
                yield Found(text[i + 2: end], kind, i)
                i = end + 2
                continue
            i += 2
            continue
        if c == "$":
            closer = "$$" if text.startswith("$$", i) else "$"
            start = i + len(closer)
            end = _find_closing(text, start, closer)
            if end < 0:
                yield Found(text[start: start + 80], closer, i, f"{closer} never closed")
                i = start
                continue
            yield Found(text[start:end], closer, i)
            i = end + len(closer)
            continue
        i += 1


def _wrap(body: str, name: str, target: str) -> str:
    """The math-mode form of a display environment's body."""
    if not target:
        return body
    base = _env_base(name)
    if base == "alignat":  # keeps its {n} argument
        spec, rest = read_group(body, _skip_ws(body, 0))
        return f"\\begin{{alignedat}}{{{spec}}}{rest}\\end{{alignedat}}"
    if base == "eqnarray":
        return f"\\begin{{array}}{{rcl}}{body}\\end{{array}}"
    return f"\\begin{{{target}}}{body}\\end{{{target}}}"


def split_rows(latex: str) -> list[str]:
    r"""The rows of a single top-level multi-row environment (``\\`` at depth 0, ``&`` removed);
    [] when ``latex`` is not one."""
    m = re.fullmatch(r"\s*\\begin\{(aligned|alignedat|gathered|array)\}(.*)\\end\{\1\}\s*",
                     latex, re.DOTALL)
    if m is None:
        return []
    body = m.group(2)
    if m.group(1) in ("alignedat", "array"):  # the column spec is not a row's content
        try:
            _, k = read_group(body, _skip_ws(body, 0))
        except ExtractError:
            return []
        body = body[k:]
    rows, start, depth, i = [], 0, 0, 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if body.startswith("\\\\", i) and depth == 0:
                rows.append(body[start:i])
                i += 2
                opt = re.match(r"\s*\[[^\]]*\]", body[i:])
                if opt:
                    i += opt.end()
                start = i
                continue
            if body.startswith("\\begin", i):
                depth += 1
            elif body.startswith("\\end", i):
                depth -= 1
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    rows.append(body[start:])
    out = []
    for row in rows:
        # `&` at depth 0 only: the ones inside a matrix or cases belong there.
        flat, d = [], 0
        k = 0
        while k < len(row):
            ch = row[k]
            if ch == "\\":
                if row.startswith("\\begin", k):
                    d += 1
                elif row.startswith("\\end", k):
                    d -= 1
                flat.append(row[k: k + 2])
                k += 2
                continue
            d += (ch == "{") - (ch == "}")
            flat.append(" " if ch == "&" and d == 0 else ch)
            k += 1
        text = " ".join("".join(flat).split())
        if text:
            out.append(text)
    return out if len(out) >= 2 else []


# --------------------------------------------------------------------------------------------
# Cleaning one formula
# --------------------------------------------------------------------------------------------


def clean_formula(latex: str) -> str:
    """Drop labels, tags and numbering switches; one line, single spaces."""
    for cmd in DROP_WITH_ARG:
        while (k := _find_command(latex, cmd)) >= 0:
            end = k + len(cmd)
            with contextlib.suppress(ExtractError):  # \label at the very end: drop it alone
                _, end = read_argument(latex, end)
            latex = latex[:k] + " " + latex[end:]
    for cmd in DROP_ALONE:
        latex = re.sub(re.escape(cmd) + r"(?![A-Za-z@])", " ", latex)
    for cmd in UNWRAP:
        while (k := _find_command(latex, cmd)) >= 0:
            try:
                inner, end = read_argument(latex, k + len(cmd))
            except ExtractError:
                inner, end = "", k + len(cmd)
            latex = latex[:k] + " " + inner + " " + latex[end:]
    latex = re.sub(r"\\intertext\s*\{[^{}]*\}", r"\\\\", latex)
    # split only works inside a display environment; aligned typesets the same anywhere.
    latex = re.sub(r"\\(begin|end)\s*\{split\}", r"\\\1{aligned}", latex)
    text = " ".join(latex.split())
    text = re.sub(r"(\\\\\s*)+(\\end\{[a-z]+\})$", r"\2", text)  # a last empty row
    return re.sub(r"^\s*\\\\|\\\\\s*$", "", text).strip()


def _find_command(text: str, cmd: str) -> int:
    for m in _CS.finditer(text):
        if m.group(0) == cmd:
            return m.start()
    return -1


def _cross_reference(text: str) -> str | None:
    for m in _CS.finditer(text):
        if m.group(0) in CROSS_REFS:
            return m.group(0)
    return None


# --------------------------------------------------------------------------------------------
# The whole extraction
# --------------------------------------------------------------------------------------------


DEFINITIONS_ONLY = (".sty", ".cls")  # read for their macros; their text is not a document


def tex_files(paths: Iterable[Path]) -> list[Path]:
    """The given files, and the ``.tex`` and ``.sty`` files under the given directories (sorted;
    packages first, so their definitions are known to every document)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = [q for q in p.rglob("*") if q.suffix in (".tex", *DEFINITIONS_ONLY)]
            out += sorted((q for q in found if q.is_file()),
                          key=lambda q: (q.suffix not in DEFINITIONS_ONLY, q))
        else:
            out.append(p)
    return out


def extract(paths: Sequence[Path], *, min_inline_tokens: int = 8, max_tokens: int = 150,
            rows: bool = True) -> ExtractReport:
    """Formulas of ``paths`` (definitions of every file apply to all of them, as when a paper's
    preamble file inputs its sections)."""
    report = ExtractReport(files=[str(p) for p in paths])
    texts: list[tuple[str, str]] = []
    for path in paths:
        text = strip_verbatim_and_comments(path.read_text(encoding="utf-8", errors="replace"))
        _, text = collect_macros(text, report.macros)
        if path.suffix not in DEFINITIONS_ONLY:
            texts.append((str(path), text))
    seen: set[str] = set()
    for name, text in texts:
        body_at = text.find("\\begin{document}")
        if body_at >= 0:
            text = _blank(text, 0, body_at + len("\\begin{document}"))
        with contextlib.suppress(ExtractError):  # else its formulas fail one by one below
            text = expand_macros(text, report.macros, only_structural=True)
        for found in find_formulas(text):
            line = text.count("\n", 0, found.offset) + 1
            candidate = Candidate(" ".join(found.latex.split()), found.kind, name, line)
            if found.error:
                report.outcomes.append(Outcome(candidate, "", found.error))
                continue
            for c in _with_rows(candidate, report.macros, rows):
                report.outcomes.append(_judge(c, report.macros, seen, min_inline_tokens,
                                              max_tokens))
    return report


def _with_rows(candidate: Candidate, macros: Macros, rows: bool) -> list[Candidate]:
    out = [candidate]
    if rows and not candidate.inline:
        try:
            expanded = clean_formula(expand_macros(candidate.latex, macros))
        except ExtractError:
            return out
        out += [Candidate(r, f"{candidate.kind} row", candidate.file, candidate.line)
                for r in split_rows(expanded)]
    return out


def _judge(c: Candidate, macros: Macros, seen: set[str], min_inline: int,
           max_tokens: int) -> Outcome:
    try:
        latex = clean_formula(expand_macros(c.latex, macros))
    except ExtractError as exc:
        return Outcome(c, "", str(exc))
    if not latex:
        return Outcome(c, "", "empty")
    if (ref := _cross_reference(latex)) is not None:
        return Outcome(c, "", f"cross-reference {ref} (its text depends on the document)")
    if (unsafe := check_latex(latex)) is not None:
        # What the training renderer would refuse: mostly a macro defined outside the .tex files.
        return Outcome(c, "", f"the renderer refuses it: {unsafe}")
    try:
        canon = normalize_latex(latex)
    except NormalizationError as exc:
        return Outcome(c, "", f"normaliser: {exc.reason}: {exc}")
    except RecursionError:
        return Outcome(c, "", "normaliser: too_deep")
    n = len(canon.split(" "))
    if c.inline and n < min_inline:
        return Outcome(c, "", f"inline math shorter than {min_inline} tokens")
    if n > max_tokens:
        return Outcome(c, "", f"longer than {max_tokens} tokens")
    if canon in seen:
        return Outcome(c, "", "duplicate")
    seen.add(canon)
    return Outcome(c, latex, "")


def write_report(report: ExtractReport, path: Path) -> None:
    """Every candidate: kept or the reason it was dropped (TSV, one row each)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("status\tkind\tplace\treason\tlatex\n")
        for o in report.outcomes:
            c = o.candidate
            fields = ["kept" if not o.reason else "dropped", c.kind, f"{c.file}:{c.line}",
                      o.reason, o.latex or c.latex]
            fh.write("\t".join(f.replace("\t", " ") for f in fields) + "\n")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_extract_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="pull the formulas out of your own .tex files",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path,
                   help=".tex files (and .sty files with your macros), or directories to "
                        "search for both (\\input is not followed: give every file; "
                        "definitions apply to all of them)")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="formula file to write, one a line (then: corpus --sources OUT)")
    p.add_argument("--min-inline-tokens", type=int, default=8,
                   help="inline $…$ shorter than this many canonical tokens is dropped (8)")
    p.add_argument("--max-tokens", type=int, default=150)
    p.add_argument("--no-rows", action="store_true",
                   help="do not add the rows of multi-row environments as formulas of their own")
    p.set_defaults(func=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    files = tex_files(args.files)
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        print(f"extract: no such file: {', '.join(missing)} (give .tex files or directories)",
              file=sys.stderr)
        return 2
    if not files:
        print("extract: no .tex files found in the given directories", file=sys.stderr)
        return 2
    report = extract(files, min_inline_tokens=args.min_inline_tokens,
                     max_tokens=args.max_tokens, rows=not args.no_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(o.latex + "\n" for o in report.kept), encoding="utf-8")
    report_path = args.out.with_name(args.out.name + ".report.tsv")
    write_report(report, report_path)
    print(report.summary())
    print(f"wrote {args.out}; every formula and why it was kept or dropped: {report_path}")
    return 0 if report.kept else 1
