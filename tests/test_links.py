"""Internal links of the built site resolve (linkchecker, offline: external links are not followed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.site


def test_internal_links(site):
    exe = shutil.which("linkchecker") or str(Path(sys.executable).with_name("linkchecker"))
    proc = subprocess.run(
        [exe, "--no-status", "--no-warnings", "--recursion-level=-1", str(site / "index.html")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"broken internal links:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert "0 errors found" in proc.stdout or "no errors found" in proc.stdout.lower(), proc.stdout[-2000:]
