"""Under CI=true a missing tool the suite needs fails the tests that need it; elsewhere they skip
(conftest.missing_tool, the one place every such skip goes through)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

PROBE = '''
import conftest
import pytest

conftest.NODE = None  # as on a machine without Node.js


@conftest.needs_node
def test_node():
    pass


def test_playwright_like():
    conftest.import_or_missing("lnbook_no_such_module", "pip install it")
'''


@pytest.mark.parametrize("ci, outcome", [("true", "1 failed, 1 error"), ("", "2 skipped")])
def test_a_missing_tool_skips_or_fails_under_ci(tmp_path, ci, outcome):
    """A test that needs node fails in setup (an error), one that imports a missing module fails.

    Mutant: ``missing_tool`` without its ``in_ci()`` branch skips under CI=true too.
    """
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path)
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = dict(os.environ, CI=ci)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                          "-n", "0", "-rfEs", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert outcome in run.stdout, run.stdout[-3000:]
    assert "node is not available" in run.stdout and "lnbook_no_such_module is not available" in run.stdout
    if ci:
        assert "CI=true: a missing tool is a failure, not a skip" in run.stdout
