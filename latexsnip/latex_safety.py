"""The one gate for untrusted LaTeX (model output, user edits, training corpora) on its way to TeX.

Every TeX renderer (the app's preview, ``latexsnip render``, the training renderer) uses both
halves of this module:

1. ``check_latex`` — a static check. Control words must be on an ALLOW-list of math commands
   (a deny-list leaks: ``\\InputIfFileExists``, expl3's ``\\file_get:nnN``, ``\\font``, …
   were all missed once); environments must be on an allow-list; no ``^^`` escapes, no control
   characters, no ``#``, no unescaped ``%``, balanced braces, a length cap.
2. ``sandbox_env`` + ``run_sandboxed`` — pdflatex runs in a fresh temporary directory with an
   environment built from scratch (nothing inherited but ``PATH``: no ``TEXMFOUTPUT``,
   ``TEXINPUTS``, ``TEXMFCNF`` …), shell escape off, paranoid file access
   (``openin_any``/``openout_any=p``), font generation (``mktex*``) disabled, ``HOME`` and the
   TeX per-user trees inside the temp dir, in its own process group, killed at a time limit.

What this promises and how it is tested: docs/security.md.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

MAX_LATEX_CHARS = 4000


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Control words a printed formula needs. Nothing here reads or writes files, runs programs,
# defines macros, changes catcodes, opens fonts by name or assigns registers. Unknown words are
# refused even when harmless: an author macro would not render anyway.
ALLOWED_WORDS: frozenset[str] = _words(r"""
    alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa varkappa lambda
    mu nu xi omicron pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega
    digamma Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega varGamma varDelta varTheta
    varLambda varXi varPi varSigma varUpsilon varPhi varPsi varOmega
    upalpha upbeta upgamma updelta upepsilon upvarepsilon upzeta upeta uptheta upvartheta upiota
    upkappa uplambda upmu upnu upxi uppi upvarpi uprho upvarrho upsigma upvarsigma uptau
    upupsilon upphi upvarphi upchi uppsi upomega Upgamma Updelta Uptheta Uplambda Upxi Uppi
    Upsigma Upupsilon Upphi Uppsi Upomega
    aleph beth gimel daleth hbar hslash imath jmath ell wp Re Im partial infty nabla emptyset
    varnothing complement eth Bbbk mho Game Finv prime backprime surd top bot forall exists
    nexists neg lnot flat natural sharp clubsuit diamondsuit heartsuit spadesuit angle
    measuredangle sphericalangle triangle vartriangle triangledown blacktriangle
    blacktriangledown square Box blacksquare lozenge blacklozenge bigstar diagup diagdown
    circledS checkmark maltese dag ddag dagger ddagger S P pounds copyright textregistered
    circledR yen ldots cdots vdots ddots dots dotsc dotsb dotsm dotsi dotso cdotp ldotp colon
    pm mp times div cdot ast star circ bullet cap cup uplus sqcap sqcup vee wedge land lor
    setminus smallsetminus wr diamond bigtriangleup bigtriangledown triangleleft triangleright
    lhd rhd unlhd unrhd oplus ominus otimes oslash odot bigcirc amalg intercal dotplus
    ltimes rtimes leftthreetimes rightthreetimes curlyvee curlywedge veebar barwedge
    doublebarwedge boxplus boxminus boxtimes boxdot circleddash circledast circledcirc
    centerdot divideontimes Cap Cup And
    leq le geq ge neq ne equiv prec succ preceq succeq ll gg subset supset subseteq supseteq
    sqsubset sqsupset sqsubseteq sqsupseteq in ni notin owns vdash dashv models perp mid
    parallel nmid nparallel smile frown asymp sim simeq approx cong propto bowtie Join doteq
    leqslant geqslant leqq geqq lesssim gtrsim lessapprox gtrapprox lessgtr gtrless lesseqgtr
    gtreqless lesseqqgtr gtreqqless lll ggg llless gggtr eqslantless eqslantgtr precsim succsim
    precapprox succapprox preccurlyeq succcurlyeq curlyeqprec curlyeqsucc Subset Supset
    subseteqq supseteqq subsetneq supsetneq subsetneqq supsetneqq varsubsetneq varsupsetneq
    varsubsetneqq varsupsetneqq nsubseteq nsupseteq nsubseteqq nsupseteqq nless ngtr nleq ngeq
    nleqslant ngeqslant nleqq ngeqq lneq gneq lneqq gneqq lvertneqq gvertneqq lnsim gnsim
    lnapprox gnapprox nprec nsucc npreceq nsucceq precneqq succneqq precnsim succnsim
    precnapprox succnapprox nsim ncong nvdash nvDash nVdash nVDash nshortmid nshortparallel
    ntriangleleft ntriangleright ntrianglelefteq ntrianglerighteq approxeq thickapprox
    thicksim backsim backsimeq bumpeq Bumpeq circeq eqcirc triangleq doteqdot fallingdotseq
    risingdotseq vDash Vdash Vvdash shortmid shortparallel therefore because between pitchfork
    backepsilon varpropto trianglelefteq trianglerighteq vartriangleleft vartriangleright
    blacktriangleleft blacktriangleright smallsmile smallfrown coloneqq coloneq eqqcolon
    vcentcolon Colon lt gt Perp
    leftarrow gets rightarrow to leftrightarrow Leftarrow Rightarrow Leftrightarrow
    longleftarrow longrightarrow longleftrightarrow Longleftarrow Longrightarrow
    Longleftrightarrow mapsto longmapsto mapsfrom hookleftarrow hookrightarrow leftharpoonup
    leftharpoondown rightharpoonup rightharpoondown rightleftharpoons leftrightharpoons
    uparrow downarrow updownarrow Uparrow Downarrow Updownarrow nearrow searrow swarrow
    nwarrow iff implies impliedby leadsto leftleftarrows rightrightarrows leftrightarrows
    rightleftarrows Lleftarrow Rrightarrow twoheadleftarrow twoheadrightarrow leftarrowtail
    rightarrowtail looparrowleft looparrowright curvearrowleft curvearrowright
    circlearrowleft circlearrowright Lsh Rsh upuparrows downdownarrows upharpoonleft
    upharpoonright downharpoonleft downharpoonright rightsquigarrow leftrightsquigarrow
    multimap dashrightarrow dashleftarrow nleftarrow nrightarrow nLeftarrow nRightarrow
    nleftrightarrow nLeftrightarrow
    xrightarrow xleftarrow xleftrightarrow xmapsto xhookrightarrow xhookleftarrow
    xRightarrow xLeftarrow xrightleftharpoons
    sum prod coprod int iint iiint iiiint idotsint oint bigcap bigcup bigsqcup bigvee bigwedge
    bigodot bigotimes bigoplus biguplus smallint
    sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh coth sech csch exp log ln lg
    lim liminf limsup sup inf max min arg det dim gcd hom ker deg Pr injlim projlim varinjlim
    varprojlim varliminf varlimsup operatorname bmod pmod mod pod
    frac dfrac tfrac cfrac binom dbinom tbinom genfrac over atop choose brace brack above
    overwithdelims atopwithdelims sqrt root of stackrel overset underset buildrel substack
    sideset boxed
    left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr bigm Bigm
    biggm Biggm langle rangle lceil rceil lfloor rfloor lbrace rbrace lbrack rbrack vert Vert
    lvert rvert lVert rVert backslash ulcorner urcorner llcorner lrcorner llbracket rrbracket
    hat widehat check widecheck tilde widetilde acute grave dot ddot dddot ddddot breve bar vec
    mathring overline underline overbrace underbrace overrightarrow overleftarrow
    overleftrightarrow underrightarrow underleftarrow underleftrightarrow overparen underparen
    overbracket underbracket underbar cancel bcancel xcancel cancelto not
    mathrm mathit mathbf mathsf mathtt mathcal mathscr mathfrak mathbb mathnormal boldsymbol
    bm pmb mathbold rm it bf sf tt sl sc cal mit em emph text textrm textit textbf textsf
    texttt textup textmd textnormal textsl textsc mbox hbox fbox makebox raisebox
    displaystyle textstyle scriptstyle scriptscriptstyle limits nolimits mathop mathbin mathrel
    mathord mathopen mathclose mathpunct mathinner mathchoice mathstrut
    tiny scriptsize footnotesize small normalsize large Large LARGE huge Huge boldmath unboldmath
    quad qquad enspace enskip thinspace negthinspace medspace negmedspace thickspace
    negthickspace space hspace vspace hskip kern mkern mskip hfill hfil phantom hphantom
    vphantom smash strut rule raise lower llap rlap mathllap mathrlap mathclap clap
    smallskip medskip bigskip allowbreak nobreak relax null protect nonumber notag tag
    hline cline multicolumn
    textbackslash textdegree degree textcircled l L o O i j ae AE oe OE aa AA ss c d b v u r t H
    a k sp sb slash lefteqn newline cr mathellipsis
""")

# \begin{...} environments of printed formulas (amsmath; mathtools' starred matrices).
ALLOWED_ENVIRONMENTS: frozenset[str] = _words("""
    aligned alignedat gathered split array subarray matrix pmatrix bmatrix Bmatrix vmatrix
    Vmatrix smallmatrix cases dcases rcases matrix* pmatrix* bmatrix* Bmatrix* vmatrix*
    Vmatrix* tabular
""")

_CONTROL_SEQUENCE = re.compile(r"\\([A-Za-z]+|.|\n|$)", re.DOTALL)
_ENV_NAME = re.compile(r"\s*\{\s*([A-Za-z*]+)\s*\}")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UnsafeLatexError(ValueError):
    """The LaTeX uses something the sandbox never lets reach TeX; the message says what."""


def check_latex(latex: str, *, max_chars: int = MAX_LATEX_CHARS) -> str | None:
    """A human-readable reason why ``latex`` may not reach TeX, or ``None`` when it may."""
    if not latex.strip():
        return "empty formula"
    if len(latex) > max_chars:
        return f"too long ({len(latex)} > {max_chars} characters)"
    if "^^" in latex:  # ^^5c is a backslash in disguise
        return "character escapes (^^) are not allowed"
    if _BAD_CHARS.search(latex):
        return "control characters are not allowed"
    depth = 0
    i, n = 0, len(latex)
    while i < n:
        c = latex[i]
        if c == "\\":
            m = _CONTROL_SEQUENCE.match(latex, i)
            assert m is not None  # the pattern matches any backslash
            name = m.group(1)
            i = m.end()
            if name.isalpha():
                if name not in ALLOWED_WORDS and name not in ("begin", "end"):
                    return f"\\{name} is not allowed"
                if name in ("begin", "end"):
                    env = _ENV_NAME.match(latex, i)
                    if env is None:
                        return f"\\{name} must be followed by an environment name in braces"
                    if env.group(1) not in ALLOWED_ENVIRONMENTS:
                        return f"environment {{{env.group(1)}}} is not allowed"
                    i = env.end()
            elif name and not name.isascii():
                return "a backslash before a non-ASCII character is not allowed"
            continue
        if c == "%":
            return "unescaped % (a TeX comment) is not allowed"
        if c == "#":
            return "# (macro parameter) is not allowed"
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:  # would close the wrapper's group and leak into the document
                return "unbalanced braces"
        i += 1
    if depth != 0:
        return "unbalanced braces"
    return None


def ensure_safe(latex: str, *, max_chars: int = MAX_LATEX_CHARS) -> None:
    """Raise ``UnsafeLatexError`` unless ``check_latex`` accepts ``latex``."""
    reason = check_latex(latex, max_chars=max_chars)
    if reason is not None:
        raise UnsafeLatexError(reason)


# Inherited from the caller's environment; everything else is dropped (TEXMFOUTPUT would widen
# paranoid mode's write area, TEXINPUTS/TEXMFCNF/... would change what TeX reads).
_INHERITED = ("PATH", "SYSTEMROOT", "WINDIR")
# kpathsea reads each texmf.cnf variable from the environment first; "0" disables the program.
_NO_FONT_GENERATION = ("MKTEXPK", "MKTEXTFM", "MKTEXMF", "MKTEXTEX", "MKTEXFMT", "MKOCP",
                       "MKOFM")


def sandbox_env(workdir: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for TeX and its helpers, rooted in ``workdir`` (a fresh temp dir)."""
    source = os.environ if base is None else base
    work = Path(workdir)
    env = {k: source[k] for k in _INHERITED if k in source}
    env.update(
        HOME=str(work / "home"),  # anything written "per user" lands in the temp dir
        TEXMFHOME=str(work / "home" / "texmf"),
        TEXMFVAR=str(work / "texmf-var"),
        TEXMFCONFIG=str(work / "texmf-config"),
        TEXMFCACHE=str(work / "texmf-var"),
        openout_any="p",  # no writing outside cwd, no dotfiles, no absolute paths
        openin_any="p",  # same for reading (\input{/etc/passwd} fails even if it slipped by)
        shell_escape="f",
        shell_escape_commands="",
        max_print_line="100000",  # don't wrap log lines: callers parse them
        error_line="254",
        half_error_line="238",
        LC_ALL="C",
        LANG="C",
    )
    env.update({name: "0" for name in _NO_FONT_GENERATION})
    return env


def run_sandboxed(cmd: list[str], cwd: str | Path, timeout: float,
                  env: dict[str, str] | None = None,
                  cancel: threading.Event | None = None) -> tuple[str, bool, int]:
    """Run ``cmd`` in ``cwd`` with ``sandbox_env(cwd)``, in its own process group, killed with
    the whole group at ``timeout`` seconds or as soon as ``cancel`` is set.
    Returns (stdout+stderr text, stopped, returncode)."""
    kwargs: dict = {"start_new_session": True} if sys.platform != "win32" else {}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env if env is not None else sandbox_env(cwd),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs,
    )
    deadline = time.monotonic() + timeout
    while True:
        step = deadline - time.monotonic()
        if cancel is not None:
            step = min(step, 0.05)
        try:
            out, _ = proc.communicate(timeout=max(step, 0))
            return out.decode("utf-8", errors="replace"), False, proc.returncode
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
                break
    _kill_group(proc)
    out, _ = proc.communicate()
    return out.decode("utf-8", errors="replace"), True, proc.returncode


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        if sys.platform != "win32":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        proc.kill()
