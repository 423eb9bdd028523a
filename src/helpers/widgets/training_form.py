"""Chapter 5's "Your turn" form: train a plain and a layer-normalized RNN with the reader's settings.

Unlike the explorables, this form trains in Python, so it needs a live kernel
(Jupyter, Colab, Binder). On the static website no kernel runs: the form
carries the class ``lnb-kernel-only``, which the site's stylesheet greys out,
makes inert and labels with a note saying so, and the figure under it shows
the chapter's own runs. In a kernel, the Train button trains the two models
one after the other with :func:`helpers.experiments.sequences.train_run`, with one
progress bar per run counting its optimizer steps, then draws both test-loss
curves against steps and against training time.

Nothing here imports :mod:`matplotlib.pyplot` until a figure is drawn.
"""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets
from IPython.display import HTML

from ..experiments import sequences

__all__ = ["training_form", "plot_pair", "figure_html", "TASKS", "CELLS", "LEARNING_RATES", "STEPS", "HIDDEN"]

#: The form's choices, as ``(label, value)`` pairs or values.
TASKS = (("adding problem", "adding"), ("digits, rows", "rows"), ("digits, pixels", "pixels"),
         ("pixels + constant", "pixels_const"))
CELLS = (("LSTM", "lstm"), ("GRU", "gru"))
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03)
STEPS = (100, 300, 1000)
HIDDEN = (16, 32, 64, 128)

#: Progress bars are updated about this many times per run (each update is a message to the page).
UPDATES_PER_RUN = 100


def plot_pair(runs: dict, title: str):
    """Test loss of each run (label -> :class:`helpers.train.History`) against steps and against seconds.

    Drawn in the book's style (:func:`helpers.plots.book_style`); returns the figure.
    """
    from .. import plots  # imports pyplot: only when a figure is drawn

    with plots.book_style():
        fig, (ax1, ax2) = plots.subplots(1, 2, width=7.0, height=2.9, sharey=True)
        for (label, h), ls in zip(runs.items(), ("-", "--", ":", "-.")):
            ax1.plot(h.step, h.test_loss, ls, label=label)
            ax2.plot(h.wall_time, h.test_loss, ls, label=label)
        ax1.set(xlabel="optimizer step", ylabel="test loss", yscale="log", title=title)
        ax2.set(xlabel="training time (s)")
        ax1.legend(fontsize=8)
    return fig


def figure_html(fig, alt: str) -> HTML:
    """``fig`` as an ``<img>`` with alt text, drawn at twice its dpi (sharp on high-density screens); closes it.

    The image is shown at the figure's nominal size (``width`` in CSS pixels), at
    most the column's width.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=2 * fig.dpi)
    width = round(fig.get_figwidth() * fig.dpi)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return HTML(f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" width="{width}" '
                'style="max-width:100%;height:auto">')


def _show(out, runs, title):
    """Replace what ``out`` shows with the figure of ``runs``."""
    alt = f"Test loss of {' and '.join(runs)} against optimizer steps and against training time: {title}"
    out.outputs = ()  # set directly (not `with out:`), so it works in a callback and without a kernel
    out.append_display_data(figure_html(plot_pair(runs, title), alt))


def _progress_bar(model, steps):
    """A bar counting one run's steps, and the ``progress(step, steps)`` callback that moves it."""
    bar = widgets.IntProgress(value=0, min=0, max=steps, description=f"training {model}",
                              style={"description_width": "initial"})
    every = max(1, steps // UPDATES_PER_RUN)

    def progress(step, total):
        if step % every == 0 or step == total:
            bar.value = step
    return bar, progress


def training_form(shown: dict, *, title: str, device=None, train_run=None) -> widgets.VBox:
    """The form: choices, a Train button, a progress bar per run while it trains, and the figure.

    Args:
        shown (dict): label -> :class:`helpers.train.History`, the runs drawn until
            the reader trains (on the website, for good).
        title (str): the title of that first figure.
        device: where to train; ``None`` picks one (:func:`helpers.repro.pick_device`).
        train_run (callable): :func:`helpers.experiments.sequences.train_run` (the default),
            or a stand-in with its signature, for tests.

    Returns:
        An ``ipywidgets.VBox``: the form (class ``lnb-kernel-only``), the progress
        bars, the figure's ``Output``. ``.train()`` trains as the button does.

    Example::

        >>> from types import SimpleNamespace as Run  # a History's three curves are enough
        >>> h = Run(step=[1, 2], wall_time=[0.1, 0.2], test_loss=[0.2, 0.1])
        >>> box = training_form({"lstm": h}, title="adding")
        >>> form, bars, out = box.children
        >>> "lnb-kernel-only" in form._dom_classes, form.children[1].children[2].icon
        (True, 'play')
    """
    train_run = sequences.train_run if train_run is None else train_run
    wide = {"description_width": "initial"}
    controls = {
        "task": widgets.Dropdown(description="task", options=TASKS, value="adding", style=wide),
        "cell": widgets.Dropdown(description="cell", options=CELLS, value="lstm", style=wide),
        "lr": widgets.Dropdown(description="learning rate", options=LEARNING_RATES, value=0.01, style=wide),
        "steps": widgets.Dropdown(description="steps", options=STEPS, value=300, style=wide),
        "hidden": widgets.Dropdown(description="hidden H", options=HIDDEN, value=64, style=wide),
    }
    button = widgets.Button(description="Train", button_style="primary", icon="play",
                            tooltip="train the plain and the layer-normalized model (needs a Python kernel)")
    form = widgets.VBox([widgets.HBox([controls[k] for k in ("task", "cell", "lr")]),
                         widgets.HBox([controls["steps"], controls["hidden"], button])])
    form.add_class("lnb-kernel-only")  # the website greys it out and says it needs a kernel
    bars, out = widgets.VBox(), widgets.Output()

    def train(_=None):
        v = {name: control.value for name, control in controls.items()}
        sizes = {"steps": v["steps"], "hidden": v["hidden"], "batch_size": 64, "log_every": max(1, v["steps"] // 20)}
        models = (v["cell"], "ln-" + v["cell"])
        progress = {m: _progress_bar(m, v["steps"]) for m in models}
        bars.children = tuple(bar for bar, _ in progress.values())
        button.disabled, runs = True, {}
        try:
            for m in models:
                runs[m] = train_run(v["task"], m, None, sizes=sizes, device=device, lr=v["lr"],
                                    progress=progress[m][1])[1]
                progress[m][0].bar_style = "success"
            _show(out, runs, f"{v['task']}, lr {v['lr']}")
        finally:
            button.disabled = False

    button.on_click(train)
    _show(out, shown, title)
    box = widgets.VBox([form, bars, out])
    box.train = train
    return box
