"""Interactive figures.

Two kinds, for two situations:

* **Explorables** (:class:`Explorable` and its subclasses, e.g.
  :class:`NormAxisExplorer`): anywidgets whose computation runs in JavaScript
  in the page, so they stay live on the static website where no Python runs.
  Each has a Python view (e.g. :func:`norm_axis_view`) that computes the same
  numbers with the library (:mod:`helpers.norms`, ...), which the tests compare
  against the page.
* :func:`interactive_figure`: ipywidgets controls redrawing a matplotlib figure
  through a live kernel. On the static website it is a frozen snapshot, so use
  it only where that is acceptable.
* :func:`training_form`: chapter 5's form that trains two models in the kernel,
  with a progress bar per run; on the website it is greyed out and says it
  needs a kernel.

Importing this package does not import :mod:`matplotlib.pyplot`.
"""

from .base import Explorable
from .interact import interactive_figure
from .norm_axis import NormAxisExplorer, example_activations, norm_axis_view
from .invariance_explorer import InvarianceExplorer, invariance_example, invariance_view
from .weight_growth import WeightGrowthExplorer, weight_growth_view

__all__ = ["Explorable", "NormAxisExplorer", "norm_axis_view", "example_activations", "interactive_figure",
           "InvarianceExplorer", "invariance_view", "invariance_example",
           "WeightGrowthExplorer", "weight_growth_view"]

from .rnn_dynamics import RNNDynamicsExplorer, rnn_dynamics_view  # noqa: E402  (chapter 4)

__all__ += ["RNNDynamicsExplorer", "rnn_dynamics_view"]

from .training_form import training_form  # noqa: E402  (chapter 5)

__all__ += ["training_form"]

from .residual_stream import ResidualStreamExplorer, residual_stream_view  # noqa: E402  (the Transformer chapter)

__all__ += ["ResidualStreamExplorer", "residual_stream_view"]

from .norm_spectrum import NormSpectrumExplorer, norm_spectrum_view  # noqa: E402  (chapter 6)

__all__ += ["NormSpectrumExplorer", "norm_spectrum_view"]

from .attention_entropy_explorer import AttentionEntropyExplorer, attention_entropy_view  # noqa: E402  (chapter 10)

__all__ += ["AttentionEntropyExplorer", "attention_entropy_view"]
