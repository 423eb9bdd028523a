"""Every docstring example in src/helpers runs and prints what it says (as `pytest --doctest-modules src/helpers`)."""

import doctest
import importlib
import pkgutil

import pytest

import helpers

MODULES = sorted(m.name for m in pkgutil.walk_packages(helpers.__path__, "helpers."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)  # pytest --doctest-modules's default flags
    report = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    assert runner.summarize(verbose=False).failed == 0, "".join(report)


def test_the_modules_have_examples():
    attempted = sum(len(t.examples) for name in MODULES
                    for t in doctest.DocTestFinder().find(importlib.import_module(name), name))
    assert len(MODULES) >= 12 and attempted >= 80
