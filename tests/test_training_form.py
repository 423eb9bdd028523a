"""Chapter 5's "Your turn" form (helpers.widgets.training_form): progress per run, the figure, the kernel-only mark."""

import base64
import io
import re
import types

import ipywidgets
import pytest
from PIL import Image

from helpers.widgets import training_form
from helpers.widgets.training_form import HIDDEN, LEARNING_RATES, STEPS, TASKS, UPDATES_PER_RUN


def run(n=3, scale=1.0):
    return types.SimpleNamespace(step=list(range(1, n + 1)), wall_time=[0.1 * k for k in range(1, n + 1)],
                                 test_loss=[scale / k for k in range(1, n + 1)])


class FakeTrainRun:
    """Stands in for experiments.sequences.train_run: records its calls and what the bars showed meanwhile."""

    def __init__(self, box):
        self.box, self.calls, self.seen, self.updates = box, [], [], {}

    def __call__(self, task, model, budget, *, sizes, device, lr, progress):
        self.calls.append((task, model, budget, sizes, lr))
        bars = self.box.children[1].children
        bar = bars[len(self.calls) - 1]
        self.updates[model] = 0
        for step in range(1, sizes["steps"] + 1):
            before = bar.value
            progress(step, sizes["steps"])
            self.updates[model] += bar.value != before  # how often the page's bar is redrawn
            if step in (1, sizes["steps"] // 2):
                self.seen.append((model, [b.value for b in bars], [b.description for b in bars]))
        return None, run(sizes["steps"] // sizes["log_every"])


def figure_of(box):
    out = box.children[2]
    (item,) = out.outputs
    return item["data"]["text/html"]


def test_form_shape_and_kernel_only_mark():
    """Mutant: offering only one learning rate (``options=LEARNING_RATES[2:3]``) fails; an ``or`` hid it."""
    box = training_form({"lstm": run(), "ln-lstm": run(scale=0.5)}, title="adding, lr 0.01")
    form, bars, out = box.children
    assert "lnb-kernel-only" in form._dom_classes and isinstance(out, ipywidgets.Output)
    dropdowns = [w for row in form.children for w in row.children if isinstance(w, ipywidgets.Dropdown)]
    assert [d.description for d in dropdowns] == ["task", "cell", "learning rate", "steps", "hidden H"]
    assert [o[1] for o in dropdowns[0].options] == [v for _, v in TASKS]
    assert list(dropdowns[2].options) == list(LEARNING_RATES) and dropdowns[2].value in LEARNING_RATES
    assert dropdowns[3].value in STEPS and dropdowns[4].value in HIDDEN
    button = form.children[1].children[-1]
    assert button.description == "Train" and button.icon == "play"  # the icon font must load offline (test_site)
    assert bars.children == ()


def test_initial_figure_is_sharp_and_has_alt_text():
    box = training_form({"lstm": run(), "ln-lstm": run(scale=0.5)}, title="adding, lr 0.01")
    page = figure_of(box)
    alt = re.search(r'alt="([^"]*)"', page).group(1)
    assert "lstm and ln-lstm" in alt and "adding, lr 0.01" in alt
    width = int(re.search(r'width="(\d+)"', page).group(1))
    png = Image.open(io.BytesIO(base64.b64decode(re.search(r"base64,([^\"]+)", page).group(1))))
    assert png.width >= 1.5 * width  # at least 150 dpi for a figure shown at 100 px per inch (was 100)


def test_train_shows_a_progress_bar_per_run_and_then_the_figure(monkeypatch):
    box = training_form({"lstm": run()}, title="start")
    fake = FakeTrainRun(box)
    box = training_form({"lstm": run()}, title="start", train_run=fake)
    fake.box = box
    form = box.children[0]
    steps_w, hidden_w = form.children[1].children[:2]
    cell_w = form.children[0].children[1]
    steps_w.value, hidden_w.value, cell_w.value = 1000, 16, "gru"
    box.train()
    assert [c[1] for c in fake.calls] == ["gru", "ln-gru"]
    task, _, budget, sizes, lr = fake.calls[0]
    assert (task, budget, lr) == ("adding", None, 0.01)
    assert sizes == {"steps": 1000, "hidden": 16, "batch_size": 64, "log_every": 50}
    # while the first run trains, its bar moves and the second waits at 0; then the second moves
    assert fake.seen[0] == ("gru", [0, 0], ["training gru", "training ln-gru"])
    assert fake.seen[1][1] == [500, 0] and fake.seen[3][1] == [1000, 500]
    bars = box.children[1].children
    assert [b.value for b in bars] == [1000, 1000] and all(b.max == 1000 for b in bars)
    assert [b.bar_style for b in bars] == ["success", "success"]
    assert "gru and ln-gru" in figure_of(box) and not form.children[1].children[-1].disabled
    # 1000 steps move each bar UPDATES_PER_RUN times, not once a step (mutant: every = 1 gives 1000)
    assert fake.updates == {"gru": UPDATES_PER_RUN, "ln-gru": UPDATES_PER_RUN}


def test_a_failing_run_leaves_the_button_usable():
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")
    box = training_form({"lstm": run()}, title="start", train_run=broken)
    with pytest.raises(RuntimeError):
        box.train()
    assert not box.children[0].children[1].children[-1].disabled
