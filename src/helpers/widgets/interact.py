"""Kernel-side interactive figures: ipywidgets controls that redraw a matplotlib figure.

:func:`interactive_figure` splits the work the way the book's figures do: a
pure ``compute`` function of the control values (easy to test, no drawing)
and a ``plot`` function that turns its result into a figure.

It needs a live Python kernel (Jupyter, Colab, VS Code): every change of a
control runs ``compute`` and ``plot`` in Python. On the static website no
kernel runs, so the reader sees the figure for the initial control values,
frozen. Use it where that snapshot is acceptable; when the interaction itself
is the point, write an :class:`~helpers.widgets.Explorable`, which computes in
the page.
"""

from __future__ import annotations

import ipywidgets as widgets
from IPython import get_ipython
from IPython.display import display
from matplotlib.figure import Figure

__all__ = ["interactive_figure"]


def interactive_figure(compute, plot, **controls) -> widgets.VBox:
    """Controls over a figure that is redrawn whenever a control changes.

    Args:
        compute: ``compute(**values) -> data``, a pure function of the controls'
            current values, keyed by the names given in ``controls``.
        plot: ``plot(data) -> matplotlib.figure.Figure``.
        **controls: ipywidgets value widgets (``IntSlider``, ``Dropdown``, ...),
            by the keyword name ``compute`` receives.

    Returns:
        An ``ipywidgets.VBox``: the controls in a row, then an ``Output`` holding
        the figure. It also carries ``.redraw()`` (recompute and redraw now),
        ``.data`` and ``.figure`` (the latest ones), handy in tests.

    Example::

        >>> import ipywidgets as w, numpy as np
        >>> import matplotlib.pyplot as plt
        >>> def compute(freq):
        ...     t = np.linspace(0, 1, 200)
        ...     return t, np.sin(2 * np.pi * freq * t)
        >>> def plot(data):
        ...     fig, ax = plt.subplots()
        ...     ax.plot(*data)
        ...     return fig
        >>> box = interactive_figure(compute, plot, freq=w.IntSlider(value=2, min=1, max=5))
        >>> box.data[1].shape, len(box.figure.axes)
        ((200,), 1)
    """
    if not callable(compute) or not callable(plot):
        raise TypeError("interactive_figure: compute and plot must be callables")
    if not controls:
        raise ValueError("interactive_figure: give at least one control, e.g. n=ipywidgets.IntSlider()")
    for name, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(f"interactive_figure: control {name!r} must be an ipywidgets value widget, "
                            f"got {type(control).__name__}")

    out = widgets.Output()
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])

    def redraw(change=None):
        data = compute(**{name: control.value for name, control in controls.items()})
        fig = plot(data)
        if not isinstance(fig, Figure):
            raise TypeError(f"interactive_figure: plot must return a matplotlib Figure, got {type(fig).__name__}")
        box.data, box.figure = data, fig
        if get_ipython() is not None:  # outside IPython there is nothing to show it in
            with out:
                out.clear_output(wait=True)
                display(fig)
        import matplotlib.pyplot as plt  # here, not at import: helpers.widgets does not load pyplot

        plt.close(fig)  # shown once, in the Output; not again by the notebook's inline backend

    for control in controls.values():
        control.observe(redraw, names="value")
    box.redraw = redraw
    redraw()
    return box
