"""helpers.exercises: the fill-in exercises' checkers, and the chapters' fill-in cells.

Every checker must pass the solution that stands in its chapter's fill-in cell
(read from the notebook, so this also proves the chapter's solution right),
report "not done yet" for the student version of that cell, and reject typical
wrong answers with an AssertionError that names the failing case.
"""

from __future__ import annotations

import ast
import json
import math
import re
import sys

import numpy as np
import pytest
import torch

import nbformat

from helpers import exercises

from conftest import ROOT, chapter_notebooks

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import reader_notebooks as rn  # noqa: E402

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


# ---------------------------------------------------------------------------
# The fill-in cells, as the chapters hold them
# ---------------------------------------------------------------------------

def _source(cell):
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _fill_in_cells():
    """(notebook name, cell index, cells) for every cell tagged fill-in."""
    found = []
    for path in chapter_notebooks():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if "fill-in" in cell.get("metadata", {}).get("tags", []):
                found.append((path.name, i, cells))
    return found


FILL_INS = _fill_in_cells()
BY_CHECK = {cells[i]["metadata"]["lnbook"]["check"]: (name, cells[i]) for name, i, cells in FILL_INS}


def _student_cell(check):
    """The fill-in cell of ``check`` as the student edition has it (``reader_notebooks.student_source``,
    which ``make student`` and the student reader notebooks use), from the real chapter."""
    name, _ = BY_CHECK[check]
    student = rn.student_source(nbformat.read(ROOT / "chapters" / name, as_version=4), name)
    cells = [c for c in student.cells if c.metadata.get("lnbook", {}).get("check") == check]
    assert len(cells) == 1, f"{name}: {len(cells)} fill-in cells for {check!r} in the student edition"
    return cells[0]


def _define(source, function):
    """Execute a fill-in cell with only NumPy and torch in scope; return its function."""
    namespace = {"np": np, "torch": torch}
    exec(compile(source, f"<fill-in {function}>", "exec"), namespace)  # noqa: S102 - our own notebooks
    return namespace[function]


def test_every_chapter_has_a_fill_in_exercise():
    chapters = {name for name, _, _ in FILL_INS}
    assert len(chapter_notebooks()) >= 5
    assert chapters == {p.name for p in chapter_notebooks()}, f"chapters with a fill-in: {sorted(chapters)}"


def test_every_checker_has_a_fill_in_cell_and_back():
    names = exercises.names()
    assert set(names) == set(exercises.CHECKS)
    assert sorted(BY_CHECK) == sorted(names)
    assert len(FILL_INS) == len(BY_CHECK), "two fill-in cells use the same checker"


@pytest.mark.parametrize("notebook, index, cells", FILL_INS, ids=[f"{n}:{i}" for n, i, _ in FILL_INS])
def test_fill_in_cells_follow_the_convention(notebook, index, cells):
    cell = cells[index]
    meta = cell["metadata"]
    assert cell["cell_type"] == "code"
    assert meta["tags"] == ["fill-in", "hide-input"]
    check, function = meta["lnbook"]["check"], meta["lnbook"]["function"]
    source = _source(cell)

    # one function, nothing else, with the two markers in its body at its indentation
    tree = ast.parse(source)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef), "one function per cell"
    assert tree.body[0].name == function
    assert ast.get_docstring(tree.body[0]), "the student needs the docstring"
    lines = source.split("\n")
    markers = [line for line in lines if line.strip() in (BEGIN, END)]
    assert [m.strip() for m in markers] == [BEGIN, END]
    body_indent = tree.body[0].body[0].col_offset
    assert all(len(m) - len(m.lstrip()) == body_indent for m in markers)
    assert lines[-1].strip() == END, "the solution runs to the end of the function"
    ast.parse(rn.stub_fill_in(source, "label"))  # the student version is valid Python

    # the exercise before it, the check after it
    before, after = cells[index - 1], cells[index + 1]
    assert before["cell_type"] == "markdown"
    text = _source(before)
    exercise = text[text.rindex(":::{exercise}"):]
    label = re.search(r":label: (ch\d+-ex-[a-z0-9-]+)", exercise).group(1)
    assert label.startswith(f"ch{int(notebook[:2])}-ex-")
    last_paragraph = " ".join(exercise.rstrip(":\n").split("\n\n")[-1].split())
    assert "in the next cell" in last_paragraph and "The cell after it checks" in last_paragraph
    assert after["cell_type"] == "code"
    assert re.search(rf'exercises\.check\("{check}", {function}\);?\s*$', _source(after))
    assert "from helpers import exercises" in _source(after)
    assert not cell.get("outputs") and not after.get("outputs")


# ---------------------------------------------------------------------------
# Each checker on the chapter's solution and on the student version
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("check", sorted(BY_CHECK))
def test_chapter_solution_passes(check, capsys):
    _, cell = BY_CHECK[check]
    fn = _define(_source(cell), cell["metadata"]["lnbook"]["function"])
    assert exercises.check(check, fn) is True
    out = capsys.readouterr().out
    assert re.fullmatch(r"All \d+ cases passed\.\n", out), out
    assert int(out.split()[1]) >= 5


@pytest.mark.parametrize("check", sorted(BY_CHECK))
def test_student_version_is_not_done_yet(check, capsys):
    """The student edition's own fill-in cell raises and its checker says "not done yet".

    Mutant: ``student_source`` without its fill-in branch hands the solution to students, and the
    cell then passes its checker instead of raising.
    """
    cell = _student_cell(check)
    assert BEGIN not in cell.source and END not in cell.source
    stub = _define(cell.source, cell.metadata["lnbook"]["function"])
    n_args = stub.__code__.co_argcount
    with pytest.raises(NotImplementedError, match="this is yours to write"):
        stub(*[None] * n_args)
    assert exercises.check(check, stub) is False
    out = capsys.readouterr().out
    assert out.startswith("Exercise not done yet: ") and out.count("\n") == 1, out


# ---------------------------------------------------------------------------
# Typical wrong answers, each of which must be caught
# ---------------------------------------------------------------------------

def _stats(a, axis, eps, ddof=0, naive=False, eps_outside=False):
    mu = a.mean(axis=axis, keepdims=True)
    if naive:  # E[a^2] - mu^2: cancels away under a large offset
        var = (a ** 2).mean(axis=axis, keepdims=True) - mu ** 2
    else:
        var = ((a - mu) ** 2).sum(axis=axis, keepdims=True) / (a.shape[axis] - ddof)
    sigma = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return mu, sigma


def _bn_backward(dy, a, gain, eps, axis=0, mean_term=True, sum_dgain=True, **stats):
    mu, sigma = _stats(a, axis, eps, **stats)
    a_hat = (a - mu) / sigma
    d = gain * dy
    da = d - a_hat * (d * a_hat).mean(axis=axis, keepdims=True)
    if mean_term:
        da = da - d.mean(axis=axis, keepdims=True)
    dgain = (dy * a_hat).sum(axis=0) if sum_dgain else dy * a_hat
    return da / sigma, dgain, dy.sum(axis=0)


def _rms(a, gain, eps, center=False, eps_outside=False, axis=-1, use_gain=True):
    if center:
        a = a - a.mean(axis=axis, keepdims=True)
    ms = (a ** 2).mean(axis=axis, keepdims=True)
    sigma = np.sqrt(ms) + eps if eps_outside else np.sqrt(ms + eps)
    return (gain if use_gain else 1.0) * a / sigma


def _ln_regression(W, X, T, eps, mean_term=True, transpose=False, per_example=False, half=True):
    N = X.shape[0]
    a = X @ W.T
    mu, sigma = _stats(a, -1, eps)
    a_hat = (a - mu) / sigma
    loss = ((a_hat - T) ** 2).sum() / (2 * N if half else N)
    d = (a_hat - T) if per_example else (a_hat - T) / N
    da = d - a_hat * (d * a_hat).mean(-1, keepdims=True)
    if mean_term:
        da = da - d.mean(-1, keepdims=True)
    da = da / sigma
    return loss, (X.T @ da if transpose else da.T @ X)


def _ln(a, gain, bias, eps, axis=-1, ddof=0):
    mu, sigma = _stats(a, axis, eps, ddof=ddof)
    return gain * (a - mu) / sigma + bias


def _rnn_step(x, h, W_xh, W_hh, gain, bias, eps, mode="right"):
    if mode == "separately":  # the LSTM's way, not eq. (4)
        return np.tanh(_ln(h @ W_hh.T, gain, bias, eps) + _ln(x @ W_xh.T, gain, 0.0, eps))
    if mode == "bias before":
        return np.tanh(_ln(h @ W_hh.T + x @ W_xh.T + bias, gain, 0.0, eps))
    if mode == "batch axis":
        return np.tanh(_ln(h @ W_hh.T + x @ W_xh.T, gain, bias, eps, axis=0))
    if mode == "unbiased":
        return np.tanh(_ln(h @ W_hh.T + x @ W_xh.T, gain, bias, eps, ddof=1))
    if mode == "no tanh":
        return _ln(h @ W_hh.T + x @ W_xh.T, gain, bias, eps)
    return np.tanh(_ln(h @ W_hh.T + x @ W_xh.T, gain, bias, eps))


def _lstm_step(x, h, c, W_ih, W_hh, ln_ih, ln_hh, ln_c, eps, mode="right"):
    F = torch.nn.functional

    def ln(a, p):
        return F.layer_norm(a, a.shape[-1:], p[0], p[1], eps)

    if mode == "one norm":  # LN of the sum, as in the RNN
        gates = ln(h @ W_hh.T + x @ W_ih.T, ln_hh)
    else:
        gates = ln(h @ W_hh.T, ln_hh) + ln(x @ W_ih.T, ln_ih)
    if mode == "gate order ifog":
        i, f, o, g = gates.chunk(4, dim=-1)
    else:
        i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    c_out = c_new if mode == "no ln_c" else ln(c_new, ln_c)
    h_new = torch.sigmoid(o) * torch.tanh(c_out)
    if mode == "normalized c":
        return h_new, c_out
    if mode == "in place":
        c.mul_(0.0)
    return h_new, c_new


def _attention(q, k, v, mode="right"):
    hs = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / (hs if mode == "divide by hs" else 1 if mode == "unscaled" else math.sqrt(hs))
    T = q.shape[-2]
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    if mode == "mask the past":
        allowed = torch.ones(T, T, dtype=torch.bool).triu()
    if mode != "no mask":
        scores = scores.masked_fill(~allowed, float("-inf"))
    return scores.softmax(dim=-2 if mode == "softmax over queries" else -1) @ v


def _group_norm(x, G, gain, bias, eps, mode="right"):
    N, C, H, W = x.shape
    if mode == "G as channels per group":
        G = C // G
    if mode == "over channels at each position":
        mu, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
        y = (x - mu) / np.sqrt(var + eps)
    else:
        g = x.reshape(N, G, -1)  # (N, G, C/G * H * W)
        mu = g.mean(-1, keepdims=True)
        var = ((g - mu) ** 2).mean(-1, keepdims=True) if mode != "naive variance" else (g ** 2).mean(-1, keepdims=True) - mu ** 2
        if mode == "unbiased":
            var = var * g.shape[-1] / (g.shape[-1] - 1)
        y = ((g - mu) / (np.sqrt(var) + eps if mode == "eps outside" else np.sqrt(var + eps))).reshape(x.shape)
    if mode == "no affine":
        return y
    return y * gain[None, :, None, None] + bias[None, :, None, None]


WRONG = [
    # (checker, description, function, what the message must contain)
    ("group_norm", "G read as channels per group",
     lambda *a: _group_norm(*a, mode="G as channels per group"), "case 'N=2, C=6, H=W=3, G=3': y is wrong"),
    ("group_norm", "statistics over the channels at each position",
     lambda *a: _group_norm(*a, mode="over channels at each position"), "case 'N=2, C=6, H=W=3, G=3': y is wrong"),
    ("group_norm", "unbiased variance",
     lambda *a: _group_norm(*a, mode="unbiased"), "case 'N=2, C=6, H=W=3, G=3': y is wrong"),
    ("group_norm", "eps outside the square root",
     lambda *a: _group_norm(*a, mode="eps outside"), "Hint: an error this small"),
    ("group_norm", "variance as E[x^2] - mu^2",
     lambda *a: _group_norm(*a, mode="naive variance"), "offset 1e6"),
    ("group_norm", "forgetting gain and bias",
     lambda *a: _group_norm(*a, mode="no affine"), "case 'N=2, C=6, H=W=3, G=3': y is wrong"),
    ("batch_norm_backward", "statistics over the units (layer norm's axis)",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps, axis=-1), "case 'B=8, H=5': da is wrong"),
    ("batch_norm_backward", "forgetting the mean term",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps, mean_term=False), "case 'B=8, H=5': da is wrong"),
    ("batch_norm_backward", "unbiased variance",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps, ddof=1), "case 'B=8, H=5': da is wrong"),
    ("batch_norm_backward", "dgain not summed over the batch",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps, sum_dgain=False),
     "case 'B=8, H=5': dgain has shape (8, 5) but should be (5,)"),
    ("batch_norm_backward", "eps outside the square root",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps, eps_outside=True), "Hint: an error this small"),
    ("batch_norm_backward", "variance as E[a^2] - mu^2",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps, naive=True), "case 'B=32, H=4, offset 1e5'"),
    ("batch_norm_backward", "only two outputs",
     lambda dy, a, g, eps: _bn_backward(dy, a, g, eps)[:2], "returned 2 values, but should return 3"),
    ("rms_norm", "subtracting the mean (layer norm)",
     lambda a, g, eps: _rms(a, g, eps, center=True), "is wrong"),
    ("rms_norm", "eps outside the square root",
     lambda a, g, eps: _rms(a, g, eps, eps_outside=True), "Hint: an error this small"),
    ("rms_norm", "the batch axis",
     lambda a, g, eps: _rms(a, g, eps, axis=0), "case 'B=4, H=8': y is wrong"),
    ("rms_norm", "forgetting the gain",
     lambda a, g, eps: _rms(a, g, eps, use_gain=False), "case 'B=4, H=8': y is wrong"),
    ("rms_norm", "one mean over the whole array",
     lambda a, g, eps: g * a / np.sqrt((a ** 2).mean() + eps), "case 'B=4, H=8': y is wrong"),
    ("ln_regression_grad", "forgetting layer norm's mean term",
     lambda W, X, T, eps: _ln_regression(W, X, T, eps, mean_term=False), "grad is wrong"),
    ("ln_regression_grad", "gradient transposed",
     lambda W, X, T, eps: _ln_regression(W, X, T, eps, transpose=True),
     "case 'N=8, I=3, H=4': grad has shape (3, 4) but should be (4, 3)"),
    ("ln_regression_grad", "forgetting the 1/N in the gradient",
     lambda W, X, T, eps: _ln_regression(W, X, T, eps, per_example=True), "case 'N=8, I=3, H=4': grad is wrong"),
    ("ln_regression_grad", "loss without the 1/2",
     lambda W, X, T, eps: _ln_regression(W, X, T, eps, half=False), "case 'N=8, I=3, H=4': loss is wrong"),
    ("ln_regression_grad", "loss as a (1,) array",
     lambda W, X, T, eps: (np.array([_ln_regression(W, X, T, eps)[0]]), _ln_regression(W, X, T, eps)[1]),
     "loss has shape (1,) but should be ()"),
    ("ln_rnn_step", "normalizing the two terms separately",
     lambda *args: _rnn_step(*args, mode="separately"), "case 'B=4, I=3, H=6': h_new is wrong"),
    ("ln_rnn_step", "the bias inside the normalization",
     lambda *args: _rnn_step(*args, mode="bias before"), "case 'B=4, I=3, H=6': h_new is wrong"),
    ("ln_rnn_step", "statistics over the batch",
     lambda *args: _rnn_step(*args, mode="batch axis"), "case 'B=4, I=3, H=6': h_new is wrong"),
    ("ln_rnn_step", "unbiased variance",
     lambda *args: _rnn_step(*args, mode="unbiased"), "case 'B=4, I=3, H=6': h_new is wrong"),
    ("ln_rnn_step", "forgetting tanh",
     lambda *args: _rnn_step(*args, mode="no tanh"), "case 'B=4, I=3, H=6': h_new is wrong"),
    ("ln_lstm_step", "gate order i, f, o, g",
     lambda *args: _lstm_step(*args, mode="gate order ifog"), "case 'B=3, I=2, H=4': h_new is wrong"),
    ("ln_lstm_step", "one layer norm of the summed input",
     lambda *args: _lstm_step(*args, mode="one norm"), "case 'B=3, I=2, H=4': h_new is wrong"),
    ("ln_lstm_step", "returning the normalized cell state",
     lambda *args: _lstm_step(*args, mode="normalized c"), "case 'B=3, I=2, H=4': c_new is wrong"),
    ("ln_lstm_step", "forgetting the cell state's layer norm",
     lambda *args: _lstm_step(*args, mode="no ln_c"), "case 'B=3, I=2, H=4': h_new is wrong"),
    ("ln_lstm_step", "changing c in place",
     lambda *args: _lstm_step(*args, mode="in place"), "changed its argument 'c' in place"),
    ("causal_attention", "no causal mask",
     lambda *args: _attention(*args, mode="no mask"), "case 'B=2, heads=2, T=5, hs=4': y is wrong"),
    ("causal_attention", "masking the past instead of the future",
     lambda *args: _attention(*args, mode="mask the past"), "case 'B=2, heads=2, T=5, hs=4': y is wrong"),
    ("causal_attention", "scores not scaled",
     lambda *args: _attention(*args, mode="unscaled"), "case 'B=2, heads=2, T=5, hs=4': y is wrong"),
    ("causal_attention", "scores divided by hs",
     lambda *args: _attention(*args, mode="divide by hs"), "case 'B=2, heads=2, T=5, hs=4': y is wrong"),
    ("causal_attention", "softmax over the queries",
     lambda *args: _attention(*args, mode="softmax over queries"), "case 'B=2, heads=2, T=5, hs=4': y is wrong"),
    ("recall_at_k", "ranking the column instead of the row",
     lambda s, k: _recall(s.T, k), "recall is wrong"),
    ("recall_at_k", "off by one: rank < K - 1",
     lambda s, k: _recall(s, k - 1), "case 'N=8, K=1': recall is wrong"),
    ("recall_at_k", "a fraction instead of a percentage",
     lambda s, k: _recall(s, k) / 100, "case 'N=8, K=1': recall is wrong"),
    ("recall_at_k", "the smallest scores taken as best",
     lambda s, k: _recall(-s, k), "case 'N=8, K=1': recall is wrong"),
    ("welford_mean_var", "one pass of sums, E[x^2] - E[x]^2",
     lambda x: (x.mean(-1), (x * x).mean(-1) - x.mean(-1) ** 2), "case 'B=4, H=64, offset 1e6': var is wrong"),
    ("welford_mean_var", "unbiased variance",
     lambda x: (_welford(x)[0], _welford(x)[1] * x.shape[1] / max(x.shape[1] - 1, 1)), "case 'B=3, H=8': var is wrong"),
    ("fold_norm", "diag(gain) W: the rows scaled instead of the columns",
     lambda g, be, W, b: _fold(g, be, W, b, mode="rows"), "case 'C=4, out=3': <lambda> raised RuntimeError"),
    ("fold_norm", "diag(gain) W on a square W",
     lambda g, be, W, b: _fold(g, be, W, b, mode="rows") if W.shape[0] == W.shape[1] else _fold(g, be, W, b),
     "case 'C=5, out=5 (square W)': W_folded is wrong"),
    ("fold_norm", "forgetting the linear layer's own bias",
     lambda g, be, W, b: _fold(g, be, W, b, mode="no b"), "case 'C=4, out=3': b_folded is wrong"),
    ("fold_norm", "forgetting the norm's bias",
     lambda g, be, W, b: _fold(g, be, W, b, mode="no beta"), "case 'C=4, out=3': b_folded is wrong"),
    ("fold_norm", "the gain applied to the bias too: b + W (gain * beta)",
     lambda g, be, W, b: _fold(g, be, W, b, mode="gain on beta"), "case 'C=4, out=3': b_folded is wrong"),
    ("fold_norm", "only W_folded returned",
     lambda g, be, W, b: _fold(g, be, W, b)[0], "returned a Tensor, but should return 2 values"),
    ("welford_mean_var", "statistics over the batch axis",
     lambda x: tuple(v.T for v in _welford(x.T)), "case 'B=3, H=8': mean has shape"),
]


def _recall(scores, k):
    """Recall@K (%) of the diagonal in each row, counting how many entries beat it."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    rank = (s > s.diagonal()[:, None]).sum(1)  # (N,), 0 = first
    return 100.0 * (rank < k).double().mean()


def _fold(gain, beta, W, b, mode="right"):
    """(W diag(gain), b + W beta), or one of the typical mistakes."""
    W_folded = gain[:, None] * W if mode == "rows" else W * gain
    if mode == "no b":
        return W_folded, W @ beta
    if mode == "no beta":
        return W_folded, b.clone()
    if mode == "gain on beta":
        return W_folded, b + W @ (gain * beta)
    return W_folded, b + W @ beta


def _welford(x):
    """Welford's update over the columns of a (B, H) array: (mean, biased var) per row."""
    n, mean, m2 = 0, np.zeros(x.shape[0]), np.zeros(x.shape[0])
    for j in range(x.shape[1]):
        n += 1
        delta = x[:, j] - mean
        mean = mean + delta / n
        m2 = m2 + delta * (x[:, j] - mean)
    return mean, m2 / n


@pytest.mark.parametrize("check, what, fn, message", WRONG, ids=[f"{c}: {w}" for c, w, _, _ in WRONG])
def test_wrong_answer_is_caught(check, what, fn, message):
    with pytest.raises(AssertionError) as info:
        exercises.check(check, fn)
    text = str(info.value)
    assert text.startswith("case '"), text
    assert message in text, text


def test_the_right_versions_of_the_wrong_answers_pass():
    """The wrong answers above differ from right ones only in what they get wrong."""
    assert exercises.check("batch_norm_backward", lambda dy, a, g, eps: _bn_backward(dy, a, g, eps))
    assert exercises.check("rms_norm", lambda a, g, eps: _rms(a, g, eps))
    assert exercises.check("ln_regression_grad", lambda W, X, T, eps: _ln_regression(W, X, T, eps))
    assert exercises.check("ln_rnn_step", _rnn_step)
    assert exercises.check("ln_lstm_step", _lstm_step)
    assert exercises.check("causal_attention", _attention)
    assert exercises.check("group_norm", _group_norm)
    assert exercises.check("recall_at_k", _recall)
    assert exercises.check("welford_mean_var", _welford)
    assert exercises.check("fold_norm", _fold)


def test_an_exception_in_the_function_names_the_case():
    def broken(a, gain, eps):
        return a @ gain  # (B,) @ ... fails for some shapes, and is wrong anyway

    with pytest.raises(AssertionError, match=r"^case '.*': (broken raised|y has shape)"):
        exercises.check("rms_norm", broken)

    def raises(a, gain, eps):
        raise KeyError("oops")

    with pytest.raises(AssertionError, match=r"^case 'B=4, H=8': raises raised KeyError") as info:
        exercises.check("rms_norm", raises)
    assert isinstance(info.value.__cause__, KeyError)


def test_nan_and_none_outputs_are_named():
    with pytest.raises(AssertionError, match="y contains NaN or inf"):
        exercises.check("rms_norm", lambda a, g, eps: a * np.nan)
    with pytest.raises(AssertionError, match="y is None"):
        exercises.check("rms_norm", lambda a, g, eps: None)


# ---------------------------------------------------------------------------
# Bad use of check itself
# ---------------------------------------------------------------------------

def test_unknown_checker_lists_the_names():
    with pytest.raises(ValueError, match="unknown checker 'layer_norm_bwd'") as info:
        exercises.check("layer_norm_bwd", lambda *a: None)
    for name in exercises.names():
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown checker"):
        exercises.check(None, lambda *a: None)


def test_fn_must_be_callable():
    with pytest.raises(TypeError, match="fn must be the function"):
        exercises.check("rms_norm", "rms_norm_scratch")


def test_checks_is_read_only_and_described():
    assert all(isinstance(v, str) and v for v in exercises.CHECKS.values())
    with pytest.raises(TypeError):
        exercises.CHECKS["new"] = "x"
    assert exercises.names() == tuple(exercises.CHECKS)


def test_a_wrong_answer_reads_as_one_line_in_jupyter():
    """IPython renders ``_render_traceback_``: the verdict alone for a wrong value (no frame of
    helpers/exercises.py), and the reader's own frames first when their function raised."""
    import numpy as np

    from helpers.exercises import CheckFailed, check

    def wrong(a, gain, eps=1e-5):
        return np.asarray(a) * 2.0

    with pytest.raises(CheckFailed) as info:
        check("rms_norm", wrong)
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and lines[0].startswith("CheckFailed: case ") and "is wrong" in lines[0], lines
    assert isinstance(info.value, AssertionError) and info.value.__cause__ is None

    def raises(a, gain, eps=1e-5):
        return np.sqrt(a, axis=-1)  # a mistake inside the reader's own code

    with pytest.raises(CheckFailed) as info:
        check("rms_norm", raises)
    text = "\n".join(info.value._render_traceback_())
    assert "np.sqrt(a, axis=-1)" in text and "helpers/exercises.py" not in text, text
    assert text.splitlines()[-1].startswith("CheckFailed: case ") and "raised TypeError" in text
