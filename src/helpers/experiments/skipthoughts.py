r"""Skip-thought vectors (the paper's §6.3, Table 3): registered, but not run in miniature.

Skip-thoughts (Kiros et al. 2015) learns sentence vectors without labels: a
GRU encodes a sentence of a book and two GRU decoders predict the sentences
before and after it. Its evidence is *transfer*: the frozen vectors, fed to a
linear model, on five downstream tasks (SICK, MR, CR, SUBJ, MPQA). The paper's
claim is that LN reaches better downstream scores sooner, over 1M updates of a
2400-unit encoder on the 74M sentences of BookCorpus.

A miniature loses exactly what the claim is about. Vectors worth transferring
come from a large, varied corpus; on a generated corpus of a few thousand
sentences the downstream task would be as synthetic as the corpus, and what a
linear probe measures on it says nothing about "generic sentence
representations". Chapter 7 explains this and quotes Table 3; this module
registers the claim so that the results table lists it, with the verdict
"not testable in miniature". Its experiment trains nothing.
"""

from __future__ import annotations

from . import claim, experiment

__all__ = ["PAPER_TABLE3"]

#: The paper's Table 3 (quoted): SICK r, SICK rho, SICK MSE, MR, CR, SUBJ, MPQA.
PAPER_TABLE3 = {
    "columns": ("SICK(r)", "SICK(ρ)", "SICK(MSE)", "MR", "CR", "SUBJ", "MPQA"),
    "rows": {
        "Original [Kiros et al., 2015]": (0.848, 0.778, 0.287, 75.5, 79.3, 92.1, 86.9),
        "Ours": (0.842, 0.767, 0.298, 77.3, 81.8, 92.6, 87.9),
        "Ours + LN": (0.854, 0.785, 0.277, 79.5, 82.6, 93.4, 89.0),
        "Ours + LN †": (0.858, 0.788, 0.270, 79.4, 83.1, 93.7, 89.3),
    },
}


@experiment("skip_thoughts", quick={}, full={},
            engine="none (nothing is trained)", 
            summary="not run: skip-thoughts needs a large natural corpus to mean anything (paper §6.3)")
def skip_thoughts(budget, seed, device):
    """Trains nothing; the record says why."""
    return {"trained": False, "reason": "transfer of sentence vectors learned from a large natural corpus"}


@claim("skip_thoughts", section="6.3",
       statement="LN speeds up skip-thoughts training and improves its downstream scores",
       paper_evidence="Fig. 3 and Table 3: e.g. MR 79.5 vs 77.3, SICK(r) 0.854 vs 0.842 after 1M updates, one model each",
       size=None)
def _skip(record):
    return "not measured: see the chapter's section on skip-thoughts", None
