"""Seeded synthetic formula generator: a small random grammar over common math constructs.

It fills gaps of the real corpora (matrices, cases, accents, rare fonts, ``\\sqrt[n]``, big
operators with limits) with formulas that compile with amsmath, amssymb, amsfonts and bm only.
Every formula is written in ordinary author LaTeX; the corpus builder normalises it.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def _words(text: str) -> list[str]:
    return text.split()


LATIN = "abcdefghijklmnopqrstuvwxyz"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
GREEK = _words(
    r"\alpha \beta \gamma \delta \epsilon \varepsilon \zeta \eta \theta \vartheta \iota \kappa "
    r"\lambda \mu \nu \xi \pi \rho \varrho \sigma \tau \upsilon \phi \varphi \chi \psi \omega "
    r"\Gamma \Delta \Theta \Lambda \Xi \Pi \Sigma \Phi \Psi \Omega"
)
BINOPS = _words(r"+ - + - + - \cdot \times \pm \mp \otimes \oplus \circ \wedge \cup \cap")
RELATIONS = _words(
    r"= = = = < > \leq \geq \neq \approx \equiv \sim \simeq \propto \subset \subseteq \in "
    r"\notin \to \rightarrow \mapsto \Rightarrow \Leftrightarrow \ll \gg \cong \perp \parallel"
)
ACCENTS = _words(r"\hat \bar \tilde \vec \dot \ddot \overline \underline \widehat \widetilde \check")
FONTS = _words(r"\mathbb \mathcal \mathbf \mathrm \mathfrak \boldsymbol \mathsf")
FUNCTIONS = _words(r"\sin \cos \tan \log \ln \exp \det \dim \ker \arg \sinh \cosh \max \min")
SYMBOLS = _words(r"\infty \partial \nabla \hbar \ell \emptyset \forall \exists \aleph \Re \Im")
WORDS = _words("if otherwise for all and where with some such that for every else when")
ROW = r" \\ "
MATRICES = _words("pmatrix bmatrix vmatrix matrix Bmatrix")
DELIMS = [("(", ")"), ("[", "]"), (r"\{", r"\}"), (r"\langle", r"\rangle"), ("|", "|"),
          (r"\|", r"\|"), (r"\lfloor", r"\rfloor"), (r"\lceil", r"\rceil")]


class _Gen:
    """Recursive grammar; ``budget`` bounds the size so lengths stay realistic."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, seq: list[str] | str) -> str:
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- atoms ------------------------------------------------------------------------------
    def letter(self) -> str:
        r = self.rng.random()
        if r < 0.55:
            return self.pick(LATIN)
        if r < 0.75:
            return self.pick(GREEK)
        return self.pick(UPPER)

    def number(self) -> str:
        r = self.rng.random()
        if r < 0.6:
            return str(self.rng.randint(0, 9))
        if r < 0.85:
            return str(self.rng.randint(10, 999))
        return f"{self.rng.randint(0, 99)}.{self.rng.randint(0, 999):0{self.rng.randint(1, 3)}d}"

    def variable(self) -> str:
        r = self.rng.random()
        base = self.letter()
        if r < 0.12:
            return f"{self.pick(ACCENTS)}{{{base}}}"
        if r < 0.22:
            font = self.pick(FONTS)
            letter = self.pick(UPPER) if font in (r"\mathbb", r"\mathcal") else self.pick(LATIN + UPPER)
            return f"{font}{{{letter}}}"
        return base

    def scripted(self, budget: int) -> str:
        base = self.variable()
        r = self.rng.random()
        small = max(1, budget // 3)
        if r < 0.35:
            return f"{base}_{{{self.index()}}}"
        if r < 0.6:
            return f"{base}^{{{self.small_expr(small)}}}"
        if r < 0.8:
            return f"{base}_{{{self.index()}}}^{{{self.small_expr(small)}}}"
        return f"{base}'" if self.chance(0.7) else f"{base}''"

    def index(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return self.pick(LATIN[8:14])
        if r < 0.75:
            return self.number()
        if r < 0.9:
            return self.pick(LATIN[8:14]) + self.pick(LATIN[8:14])
        return f"{self.pick(LATIN[8:14])}+1"

    # -- compound ---------------------------------------------------------------------------
    def small_expr(self, budget: int) -> str:
        if budget <= 2 or self.chance(0.5):
            return self.pick([self.number(), self.letter(), "-1", "2", "n", "*", r"\prime", "T"])
        return self.expr(budget)

    def factor(self, budget: int) -> str:
        options: list[tuple[float, Callable[[int], str]]] = [
            (3.0, lambda b: self.variable()),
            (2.0, lambda b: self.number()),
            (2.5, self.scripted),
            (1.2, self.frac),
            (0.6, self.sqrt),
            (0.8, self.delimited),
            (0.7, self.function),
            (0.5, self.bigop),
            (0.3, self.integral),
            (0.2, self.limit),
            (0.3, lambda b: self.pick(SYMBOLS)),
            (0.15, self.binom),
        ]
        if budget < 4:
            options = options[:3]
        total = sum(w for w, _ in options)
        r = self.rng.random() * total
        for weight, make in options:
            r -= weight
            if r <= 0:
                return make(budget)
        return self.variable()  # pragma: no cover - float rounding

    def term(self, budget: int) -> str:
        n = 1 if budget < 4 else self.rng.choice([1, 1, 1, 2, 2, 3])
        return " ".join(self.factor(budget // n) for _ in range(n))

    def expr(self, budget: int) -> str:
        n = 1 if budget < 6 else self.rng.randint(1, min(4, budget // 5))
        parts = [self.term(budget // n)]
        for _ in range(n - 1):
            parts.append(self.pick(BINOPS))
            parts.append(self.term(budget // n))
        return " ".join(parts)

    def frac(self, budget: int) -> str:
        b = max(2, budget // 2 - 1)
        return rf"\frac{{{self.expr(b)}}}{{{self.expr(b)}}}"

    def binom(self, budget: int) -> str:
        return rf"\binom{{{self.pick(LATIN[8:14] + 'n')}}}{{{self.index()}}}"

    def sqrt(self, budget: int) -> str:
        inner = self.expr(max(2, budget - 3))
        if self.chance(0.3):
            return rf"\sqrt[{self.pick(['3', 'n', '4', 'k'])}]{{{inner}}}"
        return rf"\sqrt{{{inner}}}"

    def delimited(self, budget: int) -> str:
        left, right = self.rng.choice(DELIMS)
        inner = self.expr(max(2, budget - 4))
        if self.chance(0.5):
            return rf"\left{left} {inner} \right{right}"
        if left == r"\{":
            return rf"\{{ {inner} \}}"
        return f"{left} {inner} {right}"

    def function(self, budget: int) -> str:
        fn = self.pick(FUNCTIONS)
        arg = self.expr(max(2, budget - 3))
        if self.chance(0.3) and fn not in (r"\max", r"\min"):
            fn += "^{2}"
        return rf"{fn} \left( {arg} \right)" if self.chance(0.5) else f"{fn} {self.variable()}"

    def bigop(self, budget: int) -> str:
        op = self.pick([r"\sum", r"\sum", r"\prod", r"\bigcup", r"\bigcap", r"\bigoplus"])
        i = self.pick("ijkn")
        body = self.term(max(2, budget - 6))
        upper = self.pick(["n", r"\infty", "N", "m", "k"])
        if self.chance(0.2):
            return rf"{op}_{{{i} \in {self.pick(UPPER)}}} {body}"
        return rf"{op}_{{{i}={self.pick('01')}}}^{{{upper}}} {body}"

    def integral(self, budget: int) -> str:
        op = self.pick([r"\int", r"\int", r"\oint", r"\iint"])
        var = self.pick("xtsuyz")
        body = self.expr(max(2, budget - 7))
        d = rf"\,d{var}" if self.chance(0.7) else rf"\,\mathrm{{d}}{var}"
        if self.chance(0.6):
            return rf"{op}_{{{self.small_expr(2)}}}^{{{self.small_expr(2)}}} {body} {d}"
        return rf"{op} {body} {d}"

    def limit(self, budget: int) -> str:
        var = self.pick("xnht")
        target = self.pick(["0", r"\infty", "a", r"+\infty", "0^{+}"])
        return rf"\lim_{{{var} \to {target}}} {self.expr(max(2, budget - 6))}"

    # -- top level --------------------------------------------------------------------------
    def relation(self, budget: int) -> str:
        return f"{self.expr(budget // 2)} {self.pick(RELATIONS)} {self.expr(budget // 2)}"

    def matrix(self, budget: int) -> str:
        env = self.pick(MATRICES)
        rows, cols = self.rng.randint(2, 3), self.rng.randint(1, 3)
        cell = max(1, budget // (rows * cols * 2))
        body = ROW.join(
            " & ".join(self.small_expr(cell) for _ in range(cols)) for _ in range(rows)
        )
        matrix = rf"\begin{{{env}}} {body} \end{{{env}}}"
        return f"{self.variable()} = {matrix}" if self.chance(0.6) else matrix

    def cases(self, budget: int) -> str:
        n = self.rng.randint(2, 3)
        lines = []
        for k in range(n):
            cond = "otherwise" if k == n - 1 and self.chance(0.5) else None
            value = self.expr(max(2, budget // (2 * n)))
            if cond:
                lines.append(rf"{value} & \text{{{cond}}}")
            else:
                lines.append(rf"{value} & {self.relation(max(2, budget // (3 * n)))}")
        head = f"{self.pick(LATIN)}({self.pick('xtn')})"
        return rf"{head} = \begin{{cases}} {ROW.join(lines)} \end{{cases}}"

    def aligned(self, budget: int) -> str:
        n = self.rng.randint(2, 3)
        lines = [
            f"{self.expr(max(2, budget // (2 * n)))} &= {self.expr(max(2, budget // (2 * n)))}"
            for _ in range(n)
        ]
        return rf"\begin{{aligned}} {ROW.join(lines)} \end{{aligned}}"

    def with_text(self, budget: int) -> str:
        words = " ".join(self.rng.sample(WORDS, self.rng.randint(1, 2)))
        return rf"{self.relation(budget // 2)} \quad \text{{{words}}} \quad {self.relation(budget // 3)}"

    def formula(self) -> str:
        budget = int(self.rng.lognormvariate(2.85, 0.6)) + 2
        r = self.rng.random()
        if r < 0.45:
            out = self.relation(budget)
        elif r < 0.7:
            out = self.expr(budget)
        elif r < 0.78:
            out = self.matrix(budget)
        elif r < 0.84:
            out = self.cases(budget)
        elif r < 0.9:
            out = self.aligned(budget)
        else:
            out = self.with_text(budget)
        if self.chance(0.1):
            out += self.pick([" ,", " .", r" \,.", ";"])
        return out


def generate_formula(rng: random.Random) -> str:
    """One random, renderable LaTeX formula drawn with ``rng``."""
    return _Gen(rng).formula()


def generate_formulas(n: int, seed: int) -> list[str]:
    """``n`` formulas, deterministic for a given ``seed``."""
    rng = random.Random(seed)
    return [generate_formula(rng) for _ in range(n)]
