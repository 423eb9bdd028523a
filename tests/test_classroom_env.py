"""The classroom environments: JupyterLab without network prompts, and the Binder/JupyterHub pins."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from conftest import ROOT

OVERRIDES = ROOT / "binder" / "jupyterlab-overrides.json"
LAB = Path(sys.prefix, "share", "jupyter", "lab")  # the environment running the tests (.venv)
INSTALLED = LAB / "settings" / "overrides.d" / "lnbook-offline.json"
BINDER_REQS = ROOT / "binder" / "requirements.txt"


# --- JupyterLab offline ---------------------------------------------------------
def test_lab_settings_installed_by_make_install():
    assert INSTALLED.exists(), f"{INSTALLED} missing: `make install` copies {OVERRIDES.name} there"
    assert json.loads(INSTALLED.read_text()) == json.loads(OVERRIDES.read_text()), "installed copy is stale: make install"


def test_lab_settings_exist_in_installed_schemas_and_validate():
    import jsonschema

    overrides = json.loads(OVERRIDES.read_text())
    assert overrides, "no setting overridden"
    for plugin, values in overrides.items():
        package, name = plugin.split(":")
        schema_path = LAB / "schemas" / package / f"{name}.json"
        assert schema_path.exists(), f"{plugin}: no schema {schema_path} in the installed JupyterLab"
        schema = json.loads(schema_path.read_text())
        for key, value in values.items():
            assert key in schema["properties"], f"{plugin} has no setting {key!r} (renamed in this JupyterLab?)"
            jsonschema.validate(value, schema["properties"][key])  # a typo'd value ("False", 0) fails here


def test_jupyterlab_reads_news_and_updates_as_off():
    """JupyterLab's own settings loader sees our file and serves news=Never, updates=off as defaults."""
    from jupyterlab_server.settings_utils import get_settings

    with tempfile.TemporaryDirectory() as user_settings:  # no user settings on top
        result, _ = get_settings(str(LAB / "settings"), str(LAB / "schemas"), user_settings,
                                 schema_name="@jupyterlab/apputils-extension:notification")
    props = result["schema"]["properties"]
    never = [c for c in props["fetchNews"]["oneOf"] if c["title"] == "Never"][0]["const"]
    assert props["fetchNews"]["default"] == never
    assert props["checkForUpdates"]["default"] is False


# --- Binder / JupyterHub ------------------------------------------------------------
def _pins(path: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "binder"))
    try:
        import pins
    finally:
        sys.path.pop(0)
    return {name: version for name, (_, version) in pins.top_pins(path.read_text()).items()}


def test_every_binder_pin_equals_the_top_level_pin():
    top, binder = _pins(ROOT / "requirements.txt"), _pins(BINDER_REQS)
    assert len(binder) > 50, "binder/requirements.txt pins too few packages to be a full closure"
    for name, version in binder.items():
        assert name in top, f"binder pins {name}, which requirements.txt does not"
        # torch: the CPU build's local label (+cpu) is the only allowed difference
        assert Version(version).public == Version(top[name]).public, f"{name}: binder {version} != {top[name]}"
        if name != "torch":
            assert version == top[name], f"{name}: binder {version} != {top[name]}"


def test_binder_has_the_runtime_not_the_build_stack():
    binder = _pins(BINDER_REQS)
    for needed in ("torch", "numpy", "matplotlib", "ipywidgets", "anywidget", "tqdm", "scikit-learn",
                   "ipykernel", "jupyterlab"):
        assert needed in binder, f"binder/requirements.txt lacks {needed}"
    for build_only in ("jupyter-book", "sphinx", "pytest", "playwright", "linkchecker", "myst-nb"):
        assert build_only not in binder, f"binder/requirements.txt installs the build tool {build_only}"


def test_binder_requirements_are_up_to_date():
    sys.path.insert(0, str(ROOT / "binder"))
    try:
        import pins
    finally:
        sys.path.pop(0)
    assert BINDER_REQS.read_text() == pins.render(), "stale: run .venv/bin/python binder/pins.py"


def test_binder_post_build_installs_helpers_and_lab_settings():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "repo2docker runs postBuild only when it is executable"
    text = post.read_text()
    assert "pip install" in text and "-e ." in text
    assert "binder/jupyterlab-overrides.json" in text and "overrides.d" in text


def test_jupyterhub_launch_key_in_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["jupyterhub_url"] == ""
