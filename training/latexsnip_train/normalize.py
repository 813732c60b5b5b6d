"""Normalise LaTeX formulas to the canonical token spelling the model learns.

``normalize_latex`` maps *visually identical* spellings to one form, so that training text from
different sources (raw author LaTeX, Deng/im2latex tokenisation, KaTeX-normalised pix2tex text)
agrees, and so that evaluation does not penalise a prediction that renders like the truth.

Pipeline: tokenise (``latexsnip.latex_tokens``) -> parse into a small tree (groups, commands with
their arguments, environments, ``\\left..\\right`` pairs, scripts) -> rewrite -> serialise as
tokens separated by single spaces.  Design decisions (see also ``docs/corpus.md``):

* Obsolete switches become commands: ``{\\rm x}`` / ``\\rm x`` -> ``\\mathrm { x }`` (also ``\\bf
  \\it \\sf \\tt \\cal \\sl``), ``a \\over b`` -> ``\\frac``, ``\\choose`` -> ``\\binom``, ``\\atop`` ->
  ``\\genfrac { } { } { 0 p t } { }``.
* ``\\dfrac \\tfrac \\cfrac`` -> ``\\frac`` and ``\\dbinom \\tbinom`` -> ``\\binom``: display vs text
  style is a size difference a snip cannot reliably show.
* Every argument and every script is braced (``x^2`` -> ``x ^ { 2 }``); subscript before superscript;
  ``'`` -> ``^ { \\prime }``.  Braces that are not arguments are dropped unless they carry a script
  over several atoms (``{ a b } ^ { 2 }``) or are empty (``{ } _ { a }``).
* Alphabet commands (``\\mathrm \\mathbf \\mathcal`` ...) wrap only letters (and digits, except
  for ``\\mathrm`` whose digits look like plain ones): ``\\mathrm { d x = 2 }`` ->
  ``\\mathrm { d x } = 2``; ``\\mathrm``/``\\operatorname`` of a standard operator name -> ``\\sin``...
* Synonyms: ``\\le`` -> ``\\leq``, ``\\to`` -> ``\\rightarrow``, ``\\lbrace`` -> ``\\{``, ``\\vert`` ->
  ``|``, ``\\Vert`` -> ``\\|``, ``\\bigl`` -> ``\\big`` ... (see ``SYNONYMS``).
* Spacing: ``\\,`` (thin) is kept; the medium/thick/word spaces ``\\: \\> \\; \\ ~`` all become ``\\;``
  (5 vs 4 vs 6 mu is not recognisable in a screenshot); ``\\quad \\qquad`` kept; ``\\!`` dropped;
  ``\\hspace`` mapped to the closest of those by width; spacing at either end of the formula is
  invisible and dropped.
* Dropped: ``\\displaystyle`` & co., size switches, ``\\limits \\nolimits``, ``\\label \\nonumber
  \\notag``, ``\\color``, ``\\vphantom``, kerns.
* Environments keep their tokens, ``\\begin{name}`` is one token; ``align``-like bodies become
  ``aligned``, ``gather`` -> ``gathered``, ``eqnarray`` -> ``array { r c l }``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from latexsnip.latex_tokens import tokenize_latex


class NormalizationError(ValueError):
    """The input cannot be a single, safe formula. ``reason`` is a short machine-usable tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FORBIDDEN = _words(r"""\input \include \includeonly \openin \openout \closein \closeout \write \immediate \read
    \readline \def \edef \gdef \xdef \let \futurelet \newcommand \renewcommand \providecommand
    \DeclareMathOperator \DeclareRobustCommand \newenvironment \renewenvironment \catcode \csname
    \endcsname \special \usepackage \documentclass \makeatletter \makeatother \expandafter
    \noexpand \loop \uppercase \lowercase \jobname \global \outer \long \afterassignment
    \directlua \latelua \string \scantokens \everymath \everypar \output \shipout \newread
    \newwrite \input@path \pdfprimitive \primitive \endinput \end@document \dump \batchmode
    \errorstopmode \nonstopmode \scrollmode \message \errmessage \typeout \href \url""")

# One spelling per glyph.  Applied to math-mode tokens (never inside \text{...}).
SYNONYMS: dict[str, str] = {
    r"\lbrace": r"\{", r"\rbrace": r"\}", r"\lbrack": "[", r"\rbrack": "]",
    r"\vert": "|", r"\lvert": "|", r"\rvert": "|",
    r"\Vert": r"\|", r"\lVert": r"\|", r"\rVert": r"\|",
    r"\le": r"\leq", r"\ge": r"\geq", r"\ne": r"\neq", r"\lt": "<", r"\gt": ">",
    r"\to": r"\rightarrow", r"\gets": r"\leftarrow",
    r"\land": r"\wedge", r"\lor": r"\vee", r"\lnot": r"\neg", r"\owns": r"\ni",
    r"\dag": r"\dagger", r"\ddag": r"\ddagger", r"\ast": "*", r"\cdotp": r"\cdot",
    r"\ldotp": ".", r"\colon": ":", r"\sp": "^", r"\sb": "_",
    r"\dotsb": r"\cdots", r"\dotsm": r"\cdots", r"\dotsi": r"\cdots", r"\dotsc": r"\ldots",
    r"\dotso": r"\ldots", r"\hdots": r"\cdots", r"\mathellipsis": r"\ldots",
    r"\bigl": r"\big", r"\bigr": r"\big", r"\bigm": r"\big",
    r"\Bigl": r"\Big", r"\Bigr": r"\Big", r"\Bigm": r"\Big",
    r"\biggl": r"\bigg", r"\biggr": r"\bigg", r"\biggm": r"\bigg",
    r"\Biggl": r"\Bigg", r"\Biggr": r"\Bigg", r"\Biggm": r"\Bigg",
    r"\dfrac": r"\frac", r"\tfrac": r"\frac", r"\cfrac": r"\frac",
    r"\dbinom": r"\binom", r"\tbinom": r"\binom",
    r"\bm": r"\boldsymbol", r"\pmb": r"\boldsymbol", r"\Bbb": r"\mathbb",
    r"\thinspace": r"\,", r"\medspace": r"\;", r"\thickspace": r"\;", r"\:": r"\;",
    r"\>": r"\;", "\\ ": r"\;", "~": r"\;", r"\enspace": r"\;", r"\space": r"\;",
    r"\cr": r"\\", r"\newline": r"\\", r"\textbackslash": r"\backslash",
    r"\mbox": r"\text", r"\hbox": r"\text", r"\textrm": r"\text", r"\textnormal": r"\text",
    r"\textup": r"\text", r"\emph": r"\textit", r"\textsl": r"\textit", r"\fbox": r"\boxed",
}
# Delimiters after \left \right \middle \big..: extra synonyms that only hold there.
DELIM_SYNONYMS = {"<": r"\langle", ">": r"\rangle"}

DROP = _words(r"""\displaystyle \textstyle \scriptstyle \scriptscriptstyle \limits \nolimits \nonumber
    \notag \boldmath \unboldmath \mit \protect
    \tiny \scriptsize \footnotesize \small \normalsize \large \Large \LARGE \huge \Huge
    \strut \mathstrut \hfill \hfil \relax \nobreak \allowbreak \mathversion \/""")
# Negative spaces are dropped, but only after script attachment: ``x^a \! ^b`` has an empty base.
NEG_SPACES = _words(r"\! \negthinspace \negmedspace \negthickspace")
# Commands dropped together with their (braced or single-token) arguments.
DROP_WITH_ARGS = {r"\label": 1, r"\vphantom": 1, r"\vspace": 1, r"\vspace*": 1, r"\color": 1}
# Commands followed by a TeX dimension (``\kern -3mu``), dropped with it.
KERNS = frozenset({r"\kern", r"\mkern", r"\hskip", r"\mskip", r"\hspace*", r"\hspace"})

FONT_SWITCHES = {
    r"\rm": r"\mathrm", r"\bf": r"\mathbf", r"\it": r"\mathit", r"\sf": r"\mathsf",
    r"\tt": r"\mathtt", r"\cal": r"\mathcal", r"\sl": r"\mathit", r"\frak": r"\mathfrak",
}
# Alphabet commands: they change letters only, so other tokens can move outside.
ALPHABETS = _words(r"\mathrm \mathbf \mathit \mathsf \mathtt \mathcal \mathbb \mathfrak \mathscr")
# Alphabets whose digits look different from plain digits (\mathcal/\mathbb digits are junk).
DIGIT_ALPHABETS = _words(r"\mathbf \mathit \mathsf \mathtt")
OPNAMES = _words("""arccos arcsin arctan arg cos cosh cot coth csc deg det dim exp gcd hom inf ker lg lim
    liminf limsup ln log max min Pr sec sin sinh sup tan tanh""")
TEXT_CMDS = _words(r"\text \textbf \textit \textsf \texttt")

_ACCENTS = r"""\hat \widehat \tilde \widetilde \bar \overline \underline \vec \dot \ddot \dddot
    \ddddot \check \breve \acute \grave \mathring \overrightarrow \overleftarrow
    \overleftrightarrow \underrightarrow \underleftarrow \underleftrightarrow \overbrace
    \underbrace \boxed \phantom \hphantom \cancel \bcancel \xcancel \pmod \pod \substack \tag
    \tag* \mathnormal \boldsymbol \operatorname \operatorname* \mathop \mathbin \mathrel \mathord
    \mathopen \mathclose \mathpunct \mathinner \underset \overset \stackrel \frac \binom \sqrt
    \genfrac \sideset \textcolor \smash \matrix \pmatrix \bmatrix \cases \xrightarrow
    \xleftarrow \xleftrightarrow \xRightarrow \xLeftarrow \xLeftrightarrow \xmapsto
    \xhookrightarrow \xhookleftarrow \hspace \hspace* \lefteqn \rlap \llap"""
ARITY: dict[str, int] = {name: 1 for name in _ACCENTS.split()}
ARITY.update({name: 1 for name in ALPHABETS})
ARITY.update(
    {
        r"\frac": 2, r"\binom": 2, r"\genfrac": 6, r"\underset": 2, r"\overset": 2,
        r"\stackrel": 2, r"\sideset": 2, r"\textcolor": 2,
    }
)
ARITY.update(DROP_WITH_ARGS)
# Commands taking an optional [..] argument before the mandatory ones.
OPTIONAL_ARG = _words(r"""\sqrt \smash \xrightarrow \xleftarrow \xleftrightarrow \xRightarrow \xLeftarrow
    \xLeftrightarrow \xmapsto \xhookrightarrow \xhookleftarrow""")
BIG = _words(r"\big \Big \bigg \Bigg")

KEEP_ENVS = _words("""matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix cases aligned gathered array
    subarray alignedat""")
ENV_MAP = {
    "align": "aligned", "align*": "aligned", "split": "aligned", "flalign": "aligned",
    "flalign*": "aligned", "alignat": "alignedat", "alignat*": "alignedat",
    "gather": "gathered", "gather*": "gathered", "multline": "gathered", "multline*": "gathered",
    "dcases": "cases",
}
UNWRAP_ENVS = frozenset({"equation", "equation*", "displaymath", "math"})
ENV_SPEC = frozenset({"array", "subarray", "alignedat"})  # take one braced spec argument
PLAIN_MATRIX = {r"\matrix": "matrix", r"\pmatrix": "pmatrix", r"\bmatrix": "bmatrix",
                r"\cases": "cases"}

SPACES = frozenset({r"\,", r"\;", r"\quad", r"\qquad"})
# Tokens after which amsmath's \dots becomes \cdots (binary operators and relations).
CDOTS_CONTEXT = _words(r"""+ - = < > * \cdot \times \pm \mp \leq \geq \neq \equiv \approx \sim \simeq \otimes
    \oplus \wedge \vee \cup \cap \subset \subseteq \supset \supseteq \in \rightarrow
    \leftarrow \Rightarrow""")
_UNIT_PT = {"pt": 1.0, "mm": 2.845, "cm": 28.45, "in": 72.27, "em": 10.0, "ex": 4.3,
            "mu": 10.0 / 18, "bp": 1.00375, "pc": 12.0, "dd": 1.07, "cc": 12.84, "sp": 0.0}

# --------------------------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------------------------


@dataclass
class Group:
    children: list[Node]


@dataclass
class Cmd:
    name: str
    args: list[list[Node]]
    opt: list[Node] | None = None


@dataclass
class Text:
    name: str
    tokens: list[str]  # raw text-mode tokens, kept verbatim


@dataclass
class Env:
    name: str
    spec: list[str] | None
    body: list[Node]


@dataclass
class LeftRight:
    left: str
    body: list[Node]
    right: str


@dataclass
class Script:
    kind: str  # "^", "_" or "'"
    arg: list[Node] = field(default_factory=list)


@dataclass
class Scripted:
    base: Node
    sub: list[Node] | None = None
    sup: list[Node] | None = None
    primes: int = 0


Node = str | Group | Cmd | Text | Env | LeftRight | Script | Scripted


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------

_DIM_CHARS = frozenset("0123456789.,-+")


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> str:
        tok = self.peek()
        if tok is None:
            raise NormalizationError("truncated", "unexpected end of formula")
        self.i += 1
        return tok

    def parse_seq(self, stop: str | None) -> list[Node]:
        """Parse nodes until ``stop`` (consumed) or the end (only allowed when stop is None)."""
        out: list[Node] = []
        while True:
            tok = self.peek()
            if tok is None:
                if stop is not None:
                    raise NormalizationError("unbalanced", f"missing {stop}")
                return out
            if tok == stop:
                self.i += 1
                return out
            if tok in ("}", r"\right", r"\end") or tok.startswith(r"\end{"):
                raise NormalizationError("unbalanced", f"unexpected {tok}")
            out.extend(self.parse_item())

    def parse_item(self) -> list[Node]:
        tok = self.next()
        if tok in FORBIDDEN:
            raise NormalizationError("forbidden", tok)
        if tok in ("$", "#", "%") or tok in (r"\(", r"\)", r"\[", r"\]"):
            raise NormalizationError("not_math", tok)
        if tok == "{":
            return [Group(self.parse_seq("}"))]
        if tok in ("^", "_", r"\sp", r"\sb"):
            return [Script(SYNONYMS.get(tok, tok), self.parse_arg())]
        if tok == "'":
            return [Script("'")]
        if tok == r"\begin" or tok.startswith(r"\begin{"):
            return self.parse_env(tok)
        if tok == r"\left":
            return [self.parse_left_right()]
        if tok in DROP:
            return []
        if tok in NEG_SPACES:
            return [r"\!"]
        if tok in KERNS:
            return self.parse_kern(tok)
        if tok in DROP_WITH_ARGS:
            for _ in range(DROP_WITH_ARGS[tok]):
                self.parse_arg()
            return []
        tok = SYNONYMS.get(tok, tok)
        if tok in TEXT_CMDS:
            return [self.parse_text(tok)]
        if tok in BIG or tok == r"\middle":
            return [tok, _delim(self.next())]
        if tok == r"\not":
            return self.parse_not()
        if tok == r"\\":
            self.skip_dimension_opt()
            return [tok]
        if tok in ARITY:
            return [self.parse_cmd(tok)]
        return [tok]

    def parse_arg(self) -> list[Node]:
        tok = self.peek()
        if tok is None or tok in ("}", "&", r"\\", "^", "_"):
            raise NormalizationError("missing_argument", "command without argument")
        if tok == "{":
            self.i += 1
            return self.parse_seq("}")
        if (syn := SYNONYMS.get(tok, tok)) in ARITY or syn in TEXT_CMDS:
            return self.parse_item()
        self.i += 1
        if tok in FORBIDDEN:
            raise NormalizationError("forbidden", tok)
        return [SYNONYMS.get(tok, tok)]

    def parse_cmd(self, name: str) -> Cmd:
        opt = None
        if name in OPTIONAL_ARG and self.peek() == "[":
            self.i += 1
            opt = self.parse_seq("]")
        args = [self.parse_arg() for _ in range(ARITY[name])]
        return Cmd(name, args, opt)

    def parse_text(self, name: str) -> Text:
        if self.peek() != "{":
            return Text(name, [self.next()])
        self.i += 1
        depth, raw = 1, []
        while True:
            tok = self.next()
            if tok in FORBIDDEN:
                raise NormalizationError("forbidden", tok)
            depth += (tok == "{") - (tok == "}")
            if depth == 0:
                return Text(name, raw)
            raw.append(tok)

    def read_name(self) -> str:
        """Environment name after ``\\begin``/``\\end`` spelled as separate tokens."""
        if self.next() != "{":
            raise NormalizationError("bad_environment", "missing name")
        name = ""
        while (tok := self.next()) != "}":
            name += tok
        return name

    def parse_env(self, tok: str) -> list[Node]:
        name = tok[7:-1] if tok != r"\begin" else self.read_name()
        if self.peek() == "[":  # position argument [t] of array/aligned: invisible
            self.parse_seq_skip("]")
        spec = None
        if name in ENV_SPEC:
            if self.next() != "{":
                raise NormalizationError("bad_environment", "missing column spec")
            spec = self.raw_group()
        body = self.parse_seq_env(name)
        if name in UNWRAP_ENVS:
            return [Group(body)]
        if name in ("eqnarray", "eqnarray*"):
            return [Env("array", ["{", "r", "c", "l", "}"], body)]
        name = ENV_MAP.get(name, name)
        if name not in KEEP_ENVS:
            raise NormalizationError("unknown_environment", name)
        return [Env(name, spec, body)]

    def parse_seq_env(self, name: str) -> list[Node]:
        out: list[Node] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise NormalizationError("unbalanced", rf"\begin{{{name}}} without \end")
            if tok == r"\end" or tok.startswith(r"\end{"):
                self.i += 1
                end = tok[5:-1] if tok != r"\end" else self.read_name()
                if end != name:
                    raise NormalizationError("unbalanced", rf"\begin{{{name}}} ended by {end}")
                return out
            if tok in ("}", r"\right"):
                raise NormalizationError("unbalanced", f"unexpected {tok}")
            out.extend(self.parse_item())

    def parse_seq_skip(self, stop: str) -> None:
        while self.next() != stop:
            pass

    def raw_group(self) -> list[str]:
        depth, raw = 1, ["{"]
        while depth:
            tok = self.next()
            depth += (tok == "{") - (tok == "}")
            raw.append(tok)
        return raw

    def parse_left_right(self) -> LeftRight:
        left = _delim(self.next())
        body: list[Node] = []
        while True:
            tok = self.peek()
            if tok is None or tok == "}" or tok == r"\end" or tok.startswith(r"\end{"):
                raise NormalizationError("unbalanced", r"\left without \right")
            if tok == r"\right":
                self.i += 1
                return LeftRight(left, body, _delim(self.next()))
            body.extend(self.parse_item())

    def parse_not(self) -> list[Node]:
        nxt = SYNONYMS.get(self.peek() or "", self.peek())
        if nxt == "=":
            self.i += 1
            return [r"\neq"]
        if nxt == r"\in":
            self.i += 1
            return [r"\notin"]
        return [r"\not"]

    def parse_kern(self, tok: str) -> list[Node]:
        if tok.startswith(r"\hspace"):
            arg = self.parse_arg()
            width = _dimension_pt([a for a in arg if isinstance(a, str)])
            return [_space_for_width(width)] if width is not None and width > 0 else []
        self.read_dimension()
        return []

    def read_dimension(self) -> list[str]:
        start = self.i
        while (tok := self.peek()) is not None and tok in _DIM_CHARS:
            self.i += 1
        if self.i + 1 < len(self.toks) and self.toks[self.i] + self.toks[self.i + 1] in _UNIT_PT:
            self.i += 2
        return self.toks[start : self.i]

    def skip_dimension_opt(self) -> None:
        r"""Drop the vertical-space argument of ``\\[2pt]`` (but not a row starting with ``[``)."""
        if self.peek() != "[":
            return
        j = self.i + 1
        while j < len(self.toks) and self.toks[j] != "]":
            j += 1
        if _dimension_pt(self.toks[self.i + 1 : j]) is not None:
            self.i = j + 1


def _dimension_pt(tokens: list[str]) -> float | None:
    text = "".join(tokens).replace(",", ".")
    m = re.fullmatch(r"([-+]?\d*\.?\d+)([a-z]{2})", text)
    if not m or m.group(2) not in _UNIT_PT:
        return None
    return float(m.group(1)) * _UNIT_PT[m.group(2)]


def _space_for_width(pt: float) -> str:
    if pt < 2.2:
        return r"\,"
    if pt < 5.0:
        return r"\;"
    return r"\quad" if pt < 14.0 else r"\qquad"


def _delim(tok: str) -> str:
    tok = SYNONYMS.get(tok, tok)
    return DELIM_SYNONYMS.get(tok, tok)


# --------------------------------------------------------------------------------------------
# Rewriting
# --------------------------------------------------------------------------------------------

_INFIX = {r"\over": r"\frac", r"\choose": r"\binom", r"\atop": r"\genfrac", r"\brace": None,
          r"\brack": None, r"\above": None}


def _norm_seq(nodes: list[Node]) -> list[Node]:
    """Normalise a sequence (group body, argument, cell...) into a list of atoms."""
    nodes = _apply_structure(nodes)
    expanded: list[Node] = []
    for node in nodes:
        expanded.extend(_norm_node(node))
    return _attach_scripts(expanded)


def _apply_structure(nodes: list[Node]) -> list[Node]:
    r"""Resolve ``\over``-like infix commands and font switches within each cell."""
    out: list[Node] = []
    segment: list[Node] = []
    for node in nodes:
        if node in ("&", r"\\"):
            out.extend(_segment(segment))
            out.append(node)
            segment = []
        else:
            segment.append(node)
    out.extend(_segment(segment))
    return out


def _segment(nodes: list[Node]) -> list[Node]:
    infix = [i for i, n in enumerate(nodes) if isinstance(n, str) and n in _INFIX]
    if len(infix) > 1:
        raise NormalizationError("ambiguous_infix", "several \\over in one group")
    if infix:
        i = infix[0]
        target = _INFIX[nodes[i]]  # type: ignore[index]
        if target is None:
            raise NormalizationError("unsupported", str(nodes[i]))
        num, den = _fonts(nodes[:i]), _fonts(nodes[i + 1 :])
        if target == r"\genfrac":
            empty: list[Node] = []
            return [Cmd(target, [empty, empty, ["0", "p", "t"], empty, num, den])]
        return [Cmd(target, [num, den])]
    return _fonts(nodes)


def _fonts(nodes: list[Node]) -> list[Node]:
    for i, node in enumerate(nodes):
        if isinstance(node, str) and node in FONT_SWITCHES:
            return nodes[:i] + [Cmd(FONT_SWITCHES[node], [_fonts(nodes[i + 1 :])])]
    return nodes


def _norm_node(node: Node) -> list[Node]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, Group):
        return [Group(_norm_seq(node.children))]
    if isinstance(node, Script):
        return [Script(node.kind, _norm_seq(node.arg))]
    if isinstance(node, LeftRight):
        return [LeftRight(node.left, _norm_seq(node.body), node.right)]
    if isinstance(node, Env):
        return [Env(node.name, node.spec, _norm_seq(node.body))]
    if isinstance(node, Text):
        return _norm_text(node)
    if isinstance(node, Cmd):
        return _norm_cmd(node)
    raise TypeError(node)  # pragma: no cover


def _norm_text(node: Text) -> list[Node]:
    tokens = ["~" if t == "\\ " else t for t in node.tokens]  # a control space is a space
    while tokens and tokens[0] == "~":
        tokens.pop(0)
    while tokens and tokens[-1] == "~":
        tokens.pop()
    if not tokens:
        return []  # an empty \text{} is invisible
    return [Text(node.name, tokens)]


def _norm_cmd(node: Cmd) -> list[Node]:
    name = node.name
    args = [_norm_seq(a) for a in node.args]
    opt = _norm_seq(node.opt) if node.opt else None
    if name in (r"\mathnormal", r"\smash", r"\textcolor", r"\mathord"):
        return [Group(args[-1])]
    if name in PLAIN_MATRIX:
        return [Env(PLAIN_MATRIX[name], None, args[0])]
    if name in (r"\rlap", r"\llap", r"\lefteqn"):
        return [Group(args[0])]
    if name in ALPHABETS:
        return _split_alphabet(name, args[0])
    if name in (r"\operatorname", r"\operatorname*"):
        op = _opname(args[0])
        if op:
            return [op]
    if name == r"\sqrt" and opt is not None and not opt:
        opt = None  # \sqrt[]{x} is \sqrt{x}
    return [Cmd(name, args, opt)]


def _opname(arg: list[Node]) -> str | None:
    if arg and all(isinstance(a, str) and len(a) == 1 and a.isalpha() for a in arg):
        word = "".join(arg)  # type: ignore[arg-type]
        if word in OPNAMES:
            return "\\" + word
    return None


def _split_alphabet(name: str, arg: list[Node]) -> list[Node]:
    r"""``\mathrm { d x = 2 }`` -> ``\mathrm { d x } = 2``: only letters change appearance."""
    if not all(isinstance(a, str) for a in arg):
        return [Cmd(name, [arg])] if arg else []
    out: list[Node] = []
    run: list[Node] = []
    for tok in arg:
        assert isinstance(tok, str)
        if len(tok) == 1 and (tok.isalpha() or (tok.isdigit() and name in DIGIT_ALPHABETS)):
            run.append(tok)
            continue
        out.extend(_alphabet_run(name, run))
        run = []
        out.append(tok)
    out.extend(_alphabet_run(name, run))
    # Grouped so that a following script still applies to the whole (e.g. ``\mathrm{a+b}^2``).
    return [Group(out)] if len(out) > 1 else out


def _alphabet_run(name: str, run: list[Node]) -> list[Node]:
    if not run:
        return []
    if name == r"\mathrm" and (op := _opname(run)):
        return [op]
    return [Cmd(name, [run])]


def _attach_scripts(nodes: list[Node]) -> list[Node]:
    """Turn ``base Script*`` runs into Scripted atoms and drop visually redundant groups."""
    out: list[Node] = []
    for i, node in enumerate(nodes):
        if isinstance(node, Script):
            if out and isinstance(out[-1], Scripted) and _can_extend(out[-1], nodes, i):
                _add_script(out[-1], node)
            else:
                base = out.pop() if out and _is_base(out[-1]) else Group([])
                atom = Scripted(base)
                _add_script(atom, node)
                out.append(atom)
            continue
        followed_by_script = i + 1 < len(nodes) and isinstance(nodes[i + 1], Script)
        if isinstance(node, Group) and not (node.children or followed_by_script):
            continue  # an empty group only matters as the base of a script
        if isinstance(node, Group) and node.children:
            if not followed_by_script:
                out.extend(node.children)  # plain grouping braces are invisible
                continue
            if len(node.children) == 1 and not isinstance(node.children[0], Scripted | Group):
                out.append(node.children[0])
                continue
        out.append(node)
    return [n for n in out if n != r"\!"]


_CELL_EDGE = frozenset({"&", r"\\"})
_NOT_BASE = SPACES | {"&", r"\\", r"\!"}


def _is_base(node: Node) -> bool:
    return not (isinstance(node, str) and node in _NOT_BASE)


def _can_extend(atom: Scripted, nodes: list[Node], i: int) -> bool:
    """A script continues the previous atom only if it directly follows a script."""
    return i > 0 and isinstance(nodes[i - 1], Script)


def _add_script(atom: Scripted, script: Script) -> None:
    if script.kind == "'":
        if atom.sup is not None:
            raise NormalizationError("double_script", "prime after superscript")
        atom.primes += 1
    elif script.kind == "^":
        if atom.sup is not None:
            raise NormalizationError("double_script", "double superscript")
        atom.sup = script.arg
    else:
        if atom.sub is not None:
            raise NormalizationError("double_script", "double subscript")
        atom.sub = script.arg


# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------


def _emit(nodes: Iterable[Node], out: list[str]) -> None:
    for node in nodes:
        _emit_node(node, out)


def _emit_braced(nodes: list[Node], out: list[str]) -> None:
    out.append("{")
    _emit(nodes, out)
    out.append("}")


def _emit_node(node: Node, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, Group):
        _emit_braced(node.children, out)
    elif isinstance(node, Scripted):
        _emit_node(node.base, out)
        if node.sub is not None:
            out.append("_")
            _emit_braced(node.sub, out)
        if node.sup is not None or node.primes:
            out.append("^")
            _emit_braced([r"\prime"] * node.primes + (node.sup or []), out)
    elif isinstance(node, Cmd):
        out.append(node.name)
        if node.opt is not None:
            out.append("[")
            _emit(node.opt, out)
            out.append("]")
        for arg in node.args:
            _emit_braced(arg, out)
    elif isinstance(node, Text):
        out.append(node.name)
        out.append("{")
        out.extend(node.tokens)
        out.append("}")
    elif isinstance(node, Env):
        out.append(rf"\begin{{{node.name}}}")
        if node.spec:
            out.extend(node.spec)
        _emit(node.body, out)
        out.append(rf"\end{{{node.name}}}")
    elif isinstance(node, LeftRight):
        out.extend((r"\left", node.left))
        _emit(node.body, out)
        out.extend((r"\right", node.right))
    else:  # pragma: no cover - Script nodes are always attached
        raise TypeError(node)


def _final_pass(tokens: list[str]) -> list[str]:
    r"""Context-dependent token fixes: ``\dots`` and spacing at the formula's ends."""
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok == r"\dots":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            prev = tokens[i - 1] if i else ""
            tok = r"\cdots" if nxt in CDOTS_CONTEXT or prev in CDOTS_CONTEXT else r"\ldots"
        out.append(tok)
    # Spacing at either end of the formula, a cell or a row is invisible.
    trimmed: list[str] = []
    for tok in out:
        if tok in SPACES and (not trimmed or trimmed[-1] in _CELL_EDGE):
            continue
        if tok in _CELL_EDGE or tok.startswith(r"\end{"):
            while trimmed and trimmed[-1] in SPACES:
                trimmed.pop()
        trimmed.append(tok)
    while trimmed and trimmed[-1] in SPACES:
        trimmed.pop()
    return trimmed


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


_TEXT_OPEN_RE = re.compile(
    r"\\(?:text|mbox|hbox|textrm|textnormal|textup|textbf|textit|textsf|texttt|textsl|emph)"
    r"\s*\{"
)
# Text content already spelled as single characters separated by single spaces (Deng's and our
# canonical form: ``\text { f o r ~ a l l }``); in raw LaTeX a space there would be visible.
_SPACED_TEXT_RE = re.compile(
    r" ?(?:[^\s\\]|\\[a-zA-Z]+\*?|\\[^a-zA-Z])(?: (?:[^\s\\]|\\[a-zA-Z]+\*?|\\[^a-zA-Z]))+ ?"
)
_CONTROL_WORD_END_RE = re.compile(r"\\[a-zA-Z]+\*?$")


def _join_spaced(content: str) -> str:
    """``f o r ~ a l l`` -> ``for~all``, keeping the space that ends a control word."""
    out = ""
    for piece in content.split():
        if _CONTROL_WORD_END_RE.search(out) and piece[0].isalpha():
            out += " "
        out += piece
    return out


def _despace_text_groups(latex: str) -> str:
    """Remove separator spaces inside text groups written in the spaced (tokenised) style."""
    if "\\" not in latex:
        return latex
    parts: list[str] = []
    pos = 0
    for m in _TEXT_OPEN_RE.finditer(latex):
        if m.start() < pos:
            continue  # nested inside a text group handled already
        end = _matching_brace(latex, m.end())
        if end is None:
            return latex  # unbalanced: the parser reports it
        content = latex[m.end() : end]
        if _SPACED_TEXT_RE.fullmatch(content):
            content = _join_spaced(content)
        parts.append(latex[pos : m.end()] + content)
        pos = end
    parts.append(latex[pos:])
    return "".join(parts)


def _matching_brace(latex: str, start: int) -> int | None:
    depth = 1
    i = start
    while i < len(latex):
        ch = latex[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def normalize_tokens(latex: str) -> list[str]:
    """Canonical token list of ``latex`` (see module docstring); raises NormalizationError."""
    if not latex or not latex.strip():
        raise NormalizationError("empty")
    tokens = tokenize_latex(_despace_text_groups(latex.strip()))
    tree = _Parser(tokens).parse_seq(None)
    out: list[str] = []
    _emit(_norm_seq(tree), out)
    out = _final_pass(out)
    if not out:
        raise NormalizationError("empty", "nothing visible")
    return out


def normalize_latex(latex: str) -> str:
    r"""Canonical space-separated spelling of a formula, e.g. ``x^2`` -> ``x ^ { 2 }``."""
    return " ".join(normalize_tokens(latex))
