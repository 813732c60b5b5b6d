"""Static pre-filter and sandbox settings for rendering UNTRUSTED formulas with TeX.

Defence in depth: (1) this filter rejects control sequences that read/write files, run code,
(re)define macros, change catcodes or leak state into the next formula of a batch; (2) pdflatex
runs with shell escape off, in paranoid file mode, inside a fresh temporary directory, with a
wall-clock timeout (see ``tex.py``). The filter is a blacklist over control words, so it is
conservative: a handful of legitimate but exotic formulas are rejected too.
"""

from __future__ import annotations

import os
import re

MAX_FORMULA_CHARS = 4000

# Exact control words that are never needed in a formula and are dangerous or break the batch.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FORBIDDEN_WORDS: frozenset[str] = _words(
    """
    input include includeonly InputIfFileExists IfFileExists endinput
    openin openout closein closeout read readline write immediate message typeout
    errmessage errhelp special shipout output dump stop batchmode nonstopmode
    scrollmode errorstopmode interactionmode
    def edef gdef xdef let futurelet global globaldefs long outer protected
    catcode csname ifcsname endcsname scantokens lowercase uppercase
    loop repeat directlua latelua luaexec luadirect luacode
    usepackage RequirePackage documentclass documentstyle LoadClass PassOptionsToPackage
    makeatletter makeatother jobname mag fontdimen hyphenchar skewchar font nullfont
    aftergroup afterassignment expandafter noexpand
    clearpage cleardoublepage pagebreak enlargethispage onecolumn twocolumn vadjust
    insert mark marginpar pagestyle thispagestyle
    box copy unhbox unhcopy unvbox unvcopy usebox setbox sbox savebox lrbox wd ht dp
    DocumentMetadata ExplSyntaxOn ExplSyntaxOff
    """
)

# Families of control words, matched by prefix (e.g. \pdfshellescape, \newcommand, \everymath).
FORBIDDEN_PREFIXES: tuple[str, ...] = (
    "pdf",  # pdfTeX primitives: \pdffiledump, \pdfximage, \pdfshellescape, \pdfprimitive ...
    "every",  # \everymath, \everypar, \everyeof ... would inject tokens into later formulas
    "tracing",  # huge logs
    "show",  # \show, \showbox, \showthe ...
    "new",  # \newcommand, \newenvironment, \newwrite, \newread ...
    "renew",
    "provide",
    "Declare",
    "New",
    "Renew",
    "Provide",
    "AtBegin",
    "AtEnd",
    "AddTo",
    "Add",
    "Use",  # \UseHook ...
    "Input",
    "openout",
)

# Environments that would break the page structure of the batch or write files.
FORBIDDEN_ENVS: frozenset[str] = frozenset({"document", "preview", "filecontents", "filecontents*"})

_CTRL_WORD = re.compile(r"\\([A-Za-z@]+)")
_ENV = re.compile(r"\\(?:begin|end)\s*\{\s*([^}]*)\}")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _brace_depth_ok(formula: str) -> bool:
    """True when unescaped braces balance and never close more than they opened.

    An unmatched ``}`` would close our wrapper group and leak into the surrounding document.
    """
    depth = 0
    i, n = 0, len(formula)
    while i < n:
        c = formula[i]
        if c == "\\":
            i += 2  # skip the escaped char (\{ \} \\ ...); control words need no special care
            continue
        if c == "%":
            # a comment hides the rest of the line from TeX, braces included
            nl = formula.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def check_formula(formula: str, max_chars: int = MAX_FORMULA_CHARS) -> str | None:
    """Return a human-readable rejection reason, or None when the formula may be rendered."""
    if not formula.strip():
        return "empty formula"
    if len(formula) > max_chars:
        return f"too long ({len(formula)} > {max_chars} chars)"
    if "^^" in formula:
        return "forbidden: ^^ character escape"
    if _BAD_CHARS.search(formula):
        return "forbidden: control character"
    for m in _CTRL_WORD.finditer(formula):
        word = m.group(1)
        if "@" in word:
            return f"forbidden: internal control sequence \\{word}"
        if word in FORBIDDEN_WORDS:
            return f"forbidden control sequence \\{word}"
        for prefix in FORBIDDEN_PREFIXES:
            if word.startswith(prefix):
                return f"forbidden control sequence \\{word}"
    for m in _ENV.finditer(formula):
        if m.group(1).strip() in FORBIDDEN_ENVS:
            return f"forbidden environment {{{m.group(1).strip()}}}"
    if re.search(r"(?<!\\)(?:\\\\)*%", formula):
        # a comment hides the rest of the formula: the image would not match the label
        return "unescaped % (TeX comment)"
    if not _brace_depth_ok(formula):
        return "unbalanced braces"
    return None


def sandbox_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the pdflatex subprocess: TeX's paranoid file access, no shell escape."""
    env = dict(os.environ if base is None else base)
    env.pop("TEXMFOUTPUT", None)  # paranoid mode would allow writes under TEXMFOUTPUT
    env.update(
        openout_any="p",  # no writing outside cwd, no dotfiles, no absolute paths
        openin_any="p",  # same for reading (\input{/etc/passwd} fails even if it slipped by)
        shell_escape="f",
        shell_escape_commands="",
        max_print_line="100000",  # don't wrap log lines: our markers must stay on one line
        error_line="254",
        half_error_line="238",
        LC_ALL="C",
    )
    return env
