"""The built website, as a reader's browser sees it.

Every page in the table of contents is opened in headless Chromium (Debian's
``chromium``, driven by Playwright) from a server on 127.0.0.1, with every
request to another host aborted and recorded. A page passes when it makes no
such request, raises no page error, logs no console error, loads every local
resource, has its maths typeset and every widget rendered. Screenshots of each
page, in light and dark mode, land in ``_build/screenshots/`` for a person to look at.

Explorables (anywidgets computing in JavaScript) are then driven: each range
input is moved to its extremes, the widget must re-render without NaN, and the
numbers it computed must agree with the Python helpers.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from conftest import ROOT, toc_files

pytestmark = [pytest.mark.site, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SHOTS = ROOT / "_build" / "screenshots"
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'


@pytest.fixture(scope="session")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Visit:
    """What one page did while it loaded."""

    page: object
    external: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def open_page(browser, url: str, color_scheme: str = "light") -> Visit:
    """Open ``url`` in a fresh profile, aborting and recording every non-local request."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=color_scheme)
    page = context.new_page()
    visit = Visit(page)

    def route(r):
        u = urlparse(r.request.url)
        if u.scheme in ("blob", "data") or u.hostname == "127.0.0.1":
            r.continue_()
        else:
            visit.external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
    page.on("console", lambda m: visit.console_errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: visit.failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: visit.failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    waits = []
    if page.locator(WIDGET_VIEW).count():  # widgets render asynchronously after load
        waits.append(("every widget view rendered",
                      f"document.querySelectorAll('{WIDGET_VIEW}').length === "
                      "document.querySelectorAll('.widget-subarea').length"))
    if page.locator(".math").count():
        waits.append(("every math element typeset",
                      "Array.from(document.querySelectorAll('.math')).every(m => m.querySelector('mjx-container'))"))
    for what, condition in waits:
        try:
            page.wait_for_function(condition, timeout=20_000)
        except Exception as exc:  # a timeout: say why, with what the page did meanwhile
            pytest.fail(f"{url}: not {what} within 20 s ({type(exc).__name__}); non-local requests "
                        f"{visit.external}, page errors {visit.page_errors}, console errors "
                        f"{visit.console_errors}, failed requests {visit.failed}")
    page.wait_for_timeout(300)
    return visit


def shot_name(doc: str, suffix: str = "") -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / (doc.replace("/", "__") + suffix + ".png")


@pytest.mark.parametrize("doc", toc_files())
def test_page_is_self_contained_and_clean(browser, server, doc):
    visit = open_page(browser, f"{server}/{doc}.html")
    page = visit.page
    page.screenshot(path=shot_name(doc), full_page=True)
    assert visit.external == [], f"requests to non-local hosts: {visit.external}"
    assert visit.page_errors == [], f"page errors: {visit.page_errors}"
    assert visit.console_errors == [], f"console errors: {visit.console_errors}"
    assert visit.failed == [], f"failed requests: {visit.failed}"

    # Maths: every math element was typeset by MathJax, and no raw TeX delimiters remain in the text.
    untypeset = page.evaluate(
        "Array.from(document.querySelectorAll('.math')).filter(m => !m.querySelector('mjx-container')).length"
    )
    assert untypeset == 0, f"{untypeset} math elements were not typeset"
    text = page.locator("main").inner_text()
    assert not re.search(r"\\\(|\\\[|\$\$", text), "raw TeX delimiters visible in the page text"

    # Widgets: each saved widget view became a rendered, non-empty element.
    sizes = page.evaluate(
        f"""Array.from(document.querySelectorAll('{WIDGET_VIEW}')).map(s => {{
              const host = s.previousElementSibling;
              return host && host.classList.contains('widget-subarea') ? host.getBoundingClientRect().height : -1; }})"""
    )
    assert all(h > 0 for h in sizes), f"widget views not rendered (heights {sizes})"

    # Images: every figure has alt text.
    missing_alt = page.evaluate(
        "Array.from(document.querySelectorAll('main img')).filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src.slice(0, 80))"
    )
    assert missing_alt == [], f"images without alt text: {missing_alt}"
    page.context.close()


@pytest.mark.parametrize("doc", [d for d in toc_files() if d.startswith("chapters/")])
def test_dark_mode_screenshot(browser, server, doc):
    """Dark mode loads as cleanly; the screenshot is for a person to check contrast."""
    visit = open_page(browser, f"{server}/{doc}.html", color_scheme="dark")
    page = visit.page
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=shot_name(doc, "-dark"), full_page=True)
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    page.context.close()


# --- explorables: live controls, and JavaScript agreeing with Python ---------

def read_results(page) -> list[dict]:
    raw = page.evaluate(
        "Array.from(document.querySelectorAll('.lnb-explorable')).map(e => [e.dataset.lnbKind || '', e.dataset.lnbResult || ''])"
    )
    return [{"kind": k, **(json.loads(r) if r else {})} for k, r in raw]


def assert_finite(obj, where=""):
    """No NaN or infinity anywhere in a nested JSON structure (JSON has no NaN: JS writes null)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_finite(v, f"{where}[{i}]")
    else:
        assert obj is not None, f"null (NaN in JavaScript) at {where}"
        if isinstance(obj, float):
            assert math.isfinite(obj), f"non-finite number at {where}"


def check_against_python(kind: str, result: dict) -> None:
    """The explorable's numbers equal those its Python class recomputes from the same inputs."""
    from helpers.widgets import Explorable

    assert kind in Explorable.registry, f"no explorable class has kind {kind!r}"
    cls = Explorable.registry[kind]
    expected = cls.reference(result)
    assert cls.checked_keys, f"{cls.__name__} checks no keys"
    for key in cls.checked_keys:
        np.testing.assert_allclose(
            np.asarray(result[key], float), np.asarray(expected[key], float), rtol=1e-9, atol=1e-9,
            err_msg=f"{kind}: {key} differs between JavaScript and Python for inputs {result.get('inputs', '')}",
        )


def explorable_docs() -> list[str]:
    """Chapters whose built page contains an explorable."""
    out = []
    for doc in toc_files():
        html = ROOT / "_build" / "html" / f"{doc}.html"
        if doc.startswith("chapters/") and html.exists() and "lnb-explorable" in html.read_text():
            out.append(doc)
    return out


def test_there_are_explorables():
    assert explorable_docs(), "no page of the built site contains an explorable"


@pytest.mark.parametrize("doc", explorable_docs())
def test_explorables_respond_and_agree_with_python(browser, server, doc):
    visit = open_page(browser, f"{server}/{doc}.html")
    page = visit.page
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.lnb-explorable')).every(e => e.dataset.lnbResult)", timeout=20_000
    )
    roots = page.locator(".lnb-explorable")
    n = roots.count()
    checked = 0
    for i in range(n):
        root = roots.nth(i)
        kind = root.get_attribute("data-lnb-kind") or ""
        results = []

        def snapshot():
            r = json.loads(root.get_attribute("data-lnb-result"))
            assert_finite(r, kind)
            check_against_python(kind, r)
            results.append(r)

        snapshot()
        # Every control: radio buttons and selects take each value; sliders go to both extremes.
        for radio in root.locator("input[type=radio]").all():
            radio.check()
            snapshot()
        for sel in root.locator("select").all():
            for value in sel.evaluate("s => Array.from(s.options).map(o => o.value)"):
                sel.select_option(value)
                snapshot()
        sliders = root.locator("input[type=range]").all()
        assert sliders, f"explorable {kind} has no slider"
        for slider in sliders:
            for end in ("min", "max"):
                slider.evaluate(
                    f"s => {{ s.value = s.{end}; s.dispatchEvent(new Event('input', {{bubbles: true}}));"
                    " s.dispatchEvent(new Event('change', {bubbles: true})); }"
                )
                page.wait_for_timeout(50)
                snapshot()
        assert len({json.dumps(r, sort_keys=True) for r in results}) > 1, f"explorable {kind} never changed its output"
        checked += len(results)
    page.screenshot(path=shot_name(doc, "-explored"), full_page=True)
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    assert checked > 0
    page.context.close()
