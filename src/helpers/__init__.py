"""Shared code for the book *Layer Normalization*.

Each module is named after a concept and can be read on its own:

* :mod:`helpers.norms`   -- layer, batch and weight norm: NumPy references and torch modules
* :mod:`helpers.invariance` -- the paper's Table 1: transformations and what each norm is invariant to
* :mod:`helpers.geometry` -- the geometry of learning: effective learning rate, Fisher metric, norm growth
* :mod:`helpers.rnn`     -- recurrent cells (tanh RNN, GRU, LSTM) with optional layer norm
* :mod:`helpers.transformer` -- a small GPT with layer norm's kind and placement (pre/post) as switches
* :mod:`helpers.folding` -- a norm's gain and bias folded into the linear layer after it, exactly
* :mod:`helpers.rotation` -- RMSNorm's invariance to rotating a GPT's residual stream
* :mod:`helpers.attention_entropy` -- how peaked attention is: softmax entropy against the logits' scale
* :mod:`helpers.kernels` -- layer norm as a kernel: unfused and compiled, one-pass/two-pass/Welford variances, Triton
* :mod:`helpers.bench`   -- timing layer norm and the LN-LSTM as ratios to references; ``python -m helpers.bench``
* :mod:`helpers.gpu_check` -- every GPU path of the book run once on a CUDA machine; ``make gpu-check``
* :mod:`helpers.dynamics` -- hidden-state and gradient-norm trajectories of recurrent networks
* :mod:`helpers.data`    -- sequence data sets that need no download (digits, adding, copy)
* :mod:`helpers.corpus`  -- the book's own prose as a character-level corpus, shipped with the package
* :mod:`helpers.train`   -- the one training loop every training chapter uses
* :mod:`helpers.experiments` -- the paper's experiments in miniature: a registry and a command line
* :mod:`helpers.repro`   -- seeding, device choice and the training budget
* :mod:`helpers.plots`   -- the book's one figure style
* :mod:`helpers.figure_variants` -- each figure redrawn for a phone and for the dark theme, when the book is built
* :mod:`helpers.glue`    -- numbers computed by code, glued into the prose
* :mod:`helpers.widgets` -- explorables computed in JavaScript (anywidget) and kernel-side wiring
* :mod:`helpers.exercises` -- checkers for the fill-in exercises: your function against a reference

Importing :mod:`helpers` does nothing beyond defining names: no seeding, no
plotting style changes, no prints.
"""

__all__ = [
    "norms", "invariance", "geometry", "rnn", "transformer", "folding", "rotation", "attention_entropy", "kernels", "bench", "gpu_check", "dynamics", "data", "corpus", "train", "experiments",
    "repro", "plots", "figure_variants", "glue", "widgets", "exercises",
]
__version__ = "0.1.0"
