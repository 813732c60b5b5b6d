"""BPE vocabulary over canonical LaTeX (HF ``tokenizers``).

The canonical form separates LaTeX tokens by single spaces. BPE merges may cross those spaces
(``} ^ {`` becomes one unit), which shortens the sequences the decoder must produce: fewer decoding
steps is what makes a CPU model fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from latexsnip.latex_tokens import compact_latex, split_spaced

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"
SPECIALS = [PAD, BOS, EOS, UNK]


class LatexTokenizer:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        ids = [tokenizer.token_to_id(s) for s in SPECIALS]
        if ids != [0, 1, 2, 3]:
            raise ValueError(f"tokenizer must have {SPECIALS} as ids 0..3, has {ids}")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = ids

    # --- construction -------------------------------------------------------------------
    @classmethod
    def train(cls, lines: Iterable[str], vocab_size: int, min_frequency: int = 2) -> LatexTokenizer:
        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=SPECIALS,
            show_progress=False,
            max_token_length=24,  # long merged pieces rarely recur; keep the table useful
        )
        tok.train_from_iterator(lines, trainer=trainer)
        return cls(tok)

    @classmethod
    def from_json(cls, text: str) -> LatexTokenizer:
        return cls(Tokenizer.from_str(text))

    @classmethod
    def from_file(cls, path: str | Path) -> LatexTokenizer:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_json(self) -> str:
        return self._tok.to_str()

    # --- use ----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, canonical: str) -> list[int]:
        """Ids of a canonical (space-separated) formula, without BOS/EOS."""
        return self._tok.encode(canonical, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        """Canonical string of ``ids`` (special tokens dropped)."""
        # Joined by hand: the Metaspace decoder drops spaces inside merged pieces.
        text = "".join(self.piece(i) for i in ids if i > self.eos_id)
        return text[1:] if text.startswith(" ") else text

    def piece(self, token_id: int) -> str:
        return (self._tok.id_to_token(token_id) or UNK).replace("\u2581", " ")

    def to_latex(self, ids: Iterable[int]) -> str:
        """Compact, user-facing LaTeX for ``ids``."""
        return compact_latex(split_spaced(self.decode(ids)))
