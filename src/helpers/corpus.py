r"""A character-level corpus that ships with the book: its own prose.

The Transformer chapter trains small language models on text that needs no
download. :data:`CORPUS_FILE` holds the prose of chapters 1-5 of this book
(Markdown cells only, without code, display maths, directives or roles),
written once by :func:`extract_prose` and committed. The text is the book's
own, licensed CC BY 4.0 (see ``LICENSE-TEXT.md``); regenerate it from a clone
of the book with::

    python -m helpers.corpus chapters/0[1-5]_*.ipynb

:func:`load_char_corpus` reads it and returns the text, the vocabulary and
train/validation tensors of token ids; :func:`encode` and :func:`decode` map
between text and ids. Nothing here runs at import.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import torch

__all__ = ["CORPUS_FILE", "LICENSE", "CharCorpus", "extract_prose", "load_char_corpus", "encode", "decode",
           "unigram_loss"]

#: The shipped corpus, inside the package.
CORPUS_FILE = "data_files/book_prose.txt"

#: The corpus's licence: the book's text.
LICENSE = "CC BY 4.0 (the text of the book 'Layer Normalization, an interactive book')"


class CharCorpus(NamedTuple):
    """A character-level corpus split into training and validation ids."""

    #: the whole text
    text: str
    #: the sorted distinct characters; id ``i`` is ``vocab[i]``
    vocab: str
    #: the first ``1 - val_fraction`` of the text as ids, shape ``(N_train,)``, int64
    train: torch.Tensor
    #: the rest, shape ``(N_val,)``, int64
    val: torch.Tensor


# --- making the corpus -------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~|:::|::::)")
_ROLE = re.compile(r"\{([a-z:]+)\}`([^`]*)`")
# what a role becomes in plain text: glued numbers are "N", citations vanish
_ROLE_TEXT = {"numref": "the figure", "eq": "the equation", "ref": "that section", "cite:t": "the authors"}
_INLINE_MATH = re.compile(r"\$([^$\n]+)\$")
_COMMAND = re.compile(r"\\([a-zA-Z]+)\*?")
_FORMATTING = {"mathbf", "mathrm", "mathcal", "mathit", "operatorname", "boldsymbol", "text", "textrm",
               "left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "lvert", "rvert", "lVert",
               "rVert", "frac", "tfrac", "dfrac", "sqrt", "odot", "cdot", "quad", "qquad", "mid"}


def _role(match):
    """A MyST role in plain text: a glued number is N, a document link keeps its words."""
    kind, content = match.groups()
    if kind.startswith("glue"):
        return "N"
    if kind == "doc":
        return content.split("<")[0].strip()
    return _ROLE_TEXT.get(kind, "")


def _plain_math(match):
    """Inline maths as plain characters: ``$\\mathbf h^{t-1}$`` -> ``h^t-1``, ``\\sigma`` -> ``sigma``."""
    text = _COMMAND.sub(lambda m: "" if m.group(1) in _FORMATTING else m.group(1), match.group(1))
    return re.sub(r"[{}\\]", "", text).replace("  ", " ").strip()


def _prose_of_cell(source):
    """The prose of one Markdown cell: no code, display maths, directives, tables or roles."""
    out, skip = [], False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped.startswith("$$"):  # display maths, one line or a block
            skip = not skip if stripped == "$$" or not stripped.endswith("$$") or stripped == "$$$$" else skip
            continue
        if _FENCE.match(stripped):  # code blocks and MyST directives: drop their markers
            if stripped.startswith(("```", "~~~")):
                skip = not skip
            continue
        if skip or stripped.startswith(("|", ":", "<", "#")):  # tables, options, HTML, headings
            continue
        line = _ROLE.sub(_role, line)
        line = _INLINE_MATH.sub(_plain_math, line)
        line = re.sub(r"`([^`]*)`", r"\1", line)  # inline code: keep the name
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)  # links: keep the words
        line = line.replace("**", "").replace("*", "").lstrip("- ")
        line = re.sub(r"\s*\(\s*\)", "", line)  # parentheses a removed citation left empty
        line = re.sub(r"\s+([.,;:])", r"\1", line)
        out.append(re.sub(r"\s+", " ", line).strip())
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extract_prose(notebooks):
    """The prose of the Markdown cells of ``notebooks`` (paths), as one plain string.

    Keeps ordinary paragraphs; drops code cells, code blocks, display maths,
    directive markers, tables, headings and MyST roles (``{cite}`...```,
    ``{glue:text}`...``` and the like); inline maths keeps its letters.
    Paragraphs are separated by blank lines.
    """
    paragraphs = []
    for path in notebooks:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] == "markdown":
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                prose = _prose_of_cell(src)
                if prose:
                    paragraphs.append(prose)
    return "\n\n".join(paragraphs) + "\n"


# --- using it ------------------------------------------------------------------

def encode(text, vocab):
    """Ids of the characters of ``text`` in ``vocab``, shape ``(len(text),)``, int64.

    Raises:
        ValueError: naming the first character that is not in ``vocab``.
    """
    index = {ch: i for i, ch in enumerate(vocab)}
    try:
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)
    except KeyError as err:
        raise ValueError(f"encode: character {err.args[0]!r} is not in the vocabulary") from None


def decode(ids, vocab):
    """The text of a sequence of ids (a list or a 1-d tensor)."""
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    bad = [i for i in ids if not 0 <= int(i) < len(vocab)]
    if bad:
        raise ValueError(f"decode: id {bad[0]} is outside the vocabulary of {len(vocab)} characters")
    return "".join(vocab[int(i)] for i in ids)


def load_char_corpus(val_fraction=0.1):
    """The shipped corpus (:data:`CORPUS_FILE`) as a :class:`CharCorpus`.

    The validation set is the *last* ``val_fraction`` of the text (the end of
    chapter 5), so no paragraph is in both sets.

    Args:
        val_fraction (float): share of the text held out, in (0, 0.5]. Default: 0.1
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) \
            or not 0 < val_fraction <= 0.5:
        raise ValueError(f"load_char_corpus: val_fraction must be in (0, 0.5], got {val_fraction!r}")
    text = resources.files("helpers").joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    vocab = "".join(sorted(set(text)))
    ids = encode(text, vocab)  # (N,)
    n_train = int(round(len(ids) * (1 - val_fraction)))
    return CharCorpus(text, vocab, ids[:n_train], ids[n_train:])


def unigram_loss(corpus) -> float:
    """The validation loss (nats per character) of predicting every character by its frequency in the
    training text (add-one smoothed): what a model that learned nothing about context reaches.

    Args:
        corpus: :func:`load_char_corpus`'s result (``train``, ``val``: 1-D long tensors; ``vocab``).
    """
    counts = torch.bincount(corpus.train, minlength=len(corpus.vocab)).double()  # (V,)
    logp = ((counts + 1) / (counts.sum() + len(corpus.vocab))).log()  # (V,)
    return float(-logp[corpus.val].mean())


if __name__ == "__main__":  # python -m helpers.corpus chapters/0[1-5]_*.ipynb
    if len(sys.argv) < 2:
        sys.exit("usage: python -m helpers.corpus NOTEBOOK.ipynb ...")
    target = Path(__file__).with_name("data_files") / "book_prose.txt"
    target.write_text(extract_prose(sorted(sys.argv[1:])), encoding="utf-8")
    print(f"wrote {target} ({target.stat().st_size} bytes)")
