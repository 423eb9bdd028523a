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

import gzip
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from conftest import ROOT, import_or_missing, toc_files

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
    playwright = import_or_missing("playwright.sync_api", "pip install -r requirements.txt (playwright)")
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


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # a current phone, in CSS pixels


def open_page(browser, url: str, color_scheme: str = "light", viewport: dict = DESKTOP, touch: bool = False) -> Visit:
    """Open ``url`` in a fresh profile, aborting and recording every non-local request
    (``touch``: as a phone's touch screen, whose pointer is coarse)."""
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme, has_touch=touch, is_mobile=touch)
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
    """Dark mode loads as cleanly, every figure drawn dark (no white card); the screenshot is for a person
    to check contrast."""
    visit = open_page(browser, f"{server}/{doc}.html", color_scheme="dark")
    page = visit.page
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=shot_name(doc, "-dark"), full_page=True)
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    problems = figure_problems(page, "dark", phone=False)
    assert not problems, "\n".join(problems)
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


# --- every screen, both themes, keyboard and screen readers ------------------
# A reader on a 390 px phone, in dark mode, with a keyboard or a screen reader
# gets the same book: nothing makes the page scroll sideways, outputs follow the
# theme, formulas too wide for the column scroll instead of being cut, axe-core
# finds no serious accessibility fault, and every explorable works from the keyboard.

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

#: axe-core findings we cannot fix, as (rule id, a substring of the node's selector): why.
AXE_EXCEPTIONS: dict[tuple[str, str], str] = {}


def relative_luminance(css_color: str) -> float:
    """WCAG relative luminance of a computed ``rgb()``/``rgba()`` colour (0 black, 1 white)."""
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def page_overflow(page) -> dict:
    """How far the page scrolls sideways, and the widest elements that stick out (for the message)."""
    return page.evaluate(
        """() => {
          const vw = window.innerWidth;
          const inScroller = (el) => {
            for (let p = el.parentElement; p; p = p.parentElement) {
              const o = getComputedStyle(p).overflowX;
              if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
            }
            return false;
          };
          const culprits = Array.from(document.querySelectorAll('body *'))
            .filter(el => el.getBoundingClientRect().right > vw + 1 && !inScroller(el))
            .slice(0, 6)
            .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} right=${Math.round(el.getBoundingClientRect().right)}`);
          return { excess: document.documentElement.scrollWidth - vw, culprits };
        }"""
    )


def output_backgrounds(page) -> list[dict]:
    """The background each explorable and HTML/widget output shows (its own or the nearest painted ancestor's)."""
    return page.evaluate(
        """() => {
          const painted = (el) => {
            for (let e = el; e; e = e.parentElement) {
              const bg = getComputedStyle(e).backgroundColor;
              if (!/rgba\\(.*, 0\\)$/.test(bg) && bg !== 'transparent') return bg;
            }
            return 'rgb(255, 255, 255)';
          };
          const sel = '.lnb-explorable, .bd-content div.cell_output .widget-subarea, .bd-content div.cell_output .text_html';
          return Array.from(document.querySelectorAll(sel)).map(el => ({
            what: el.className.split(' ')[0], bg: painted(el), page: painted(document.body),
            padding: getComputedStyle(el).paddingTop }));
        }"""
    )


def clipped_equations(page) -> list[str]:
    """Formulas cut for the reader: display equations wider than their box that cannot be scrolled,
    and inline formulas that run past the right edge of their paragraph (an ancestor clips them)."""
    return page.evaluate(
        """() => {
          const scrolls = m => ['auto', 'scroll'].includes(getComputedStyle(m).overflowX);
          const display = Array.from(document.querySelectorAll('mjx-container[display="true"], div.math'))
            .filter(m => m.scrollWidth > m.clientWidth + 1 && !scrolls(m))
            .map(m => (m.closest('div.math') || m).textContent.slice(0, 60));
          const inline = Array.from(document.querySelectorAll('.bd-article mjx-container:not([display="true"])'))
            .filter(m => !m.closest('div.math, .pst-scrollable-table-container, .cell_output, .lnb-widget') && !scrolls(m))
            .filter(m => {
              const block = m.closest('p, li, dd, td, th, figcaption, div');
              return block && m.getBoundingClientRect().right > block.getBoundingClientRect().right + 1;
            })
            .map(m => 'inline: ' + m.textContent.slice(0, 60));
          return display.concat(inline);
        }"""
    )


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page, less the documented exceptions."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (or `make assets`)")
    page.add_script_tag(path=str(AXE))  # inlined from node_modules: no request leaves the page
    found = page.evaluate(
        """async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.map(n => n.target.join(' ')) }))"""
    )
    out = []
    for v in found:
        nodes = [n for n in v["nodes"]
                 if not any(rule == v["id"] and sel in n for rule, sel in AXE_EXCEPTIONS)]
        if nodes:
            out.append({**v, "nodes": nodes[:5]})
    return out


def figure_images(page) -> dict:
    """The figures the notebooks drew (images in cell outputs): those shown, with the size they are shown at
    and drawn at and the smallest text they were drawn with (book/_ext/figure_variants.py's classes), and
    how many figures are not drawn as variants at all."""
    return page.evaluate(
        """() => {
          const imgs = Array.from(document.querySelectorAll('.bd-content div.cell_output img'));
          const shown = imgs.filter(i => getComputedStyle(i).display !== 'none' && i.getClientRects().length);
          const textPx = i => { const c = [...i.classList].find(c => c.startsWith('lnb-text-px-'));
                                return c ? parseInt(c.slice(12)) / 100 : null; };
          const snapshot = i => i.closest('.lnb-snapshot');  // a kernel-only form's saved figure (chapter 5)
          return {
            without_variants: imgs.filter(i => !i.closest('.lnb-figure') && !snapshot(i)).map(i => i.getAttribute('src').slice(0, 80)),
            snapshots: imgs.filter(snapshot).map(i => getComputedStyle(i).filter),
            boxes: Array.from(document.querySelectorAll('.lnb-figure')).map(
              box => Array.from(box.querySelectorAll('img')).filter(i => shown.includes(i)).length),
            shown: shown.map(i => ({
              src: i.getAttribute('src'), classes: i.className, drawn_width: parseFloat(i.getAttribute('width')),
              shown_width: i.getBoundingClientRect().width, text_px: textPx(i),
              bg: getComputedStyle(i).backgroundColor })),
          };
        }"""
    )


def figure_problems(page, mode: str, phone: bool) -> list[str]:
    """Issue 19: every figure has its variants; one shows per figure, the dark one in dark mode (no white
    card); on a phone none shows text under 11 CSS px (drawn size x shown width / drawn width)."""
    found, problems = figure_images(page), []
    if found["without_variants"]:
        problems.append(f"{mode}: figures without phone and dark variants: {found['without_variants'][:4]}")
    if mode == "dark" and any("invert" not in f for f in found["snapshots"]):
        problems.append(f"dark: a form's saved figure is not inverted (a white card): {found['snapshots']}")
    if any(n != 1 for n in found["boxes"]):
        problems.append(f"{mode}: a figure should show exactly one of its four images, shown: {found['boxes']}")
    for img in found["shown"]:
        if "lnb-fig" not in img["classes"].split():
            continue
        if mode == "dark" and ("lnb-fig-dark" not in img["classes"] or relative_luminance(img["bg"]) > 0.05
                               and not img["bg"].endswith(", 0)")):
            problems.append(f"dark: {img['src']} is the light figure or on a light card ({img['bg']})")
        if phone:
            if img["text_px"] is None or not img["drawn_width"]:
                problems.append(f"{mode}: {img['src']} does not say how small its text is")
                continue
            px = img["text_px"] * img["shown_width"] / img["drawn_width"]
            if px < 11:
                problems.append(f"{mode}: {img['src']} shows text of {px:.1f} CSS px at 390 px "
                                f"(drawn {img['text_px']} px at {img['drawn_width']} px, shown {img['shown_width']:.0f} px)")
    return problems


def set_theme(page, mode: str) -> None:
    """Switch the page between light and dark as the reader's system setting would."""
    page.emulate_media(color_scheme=mode)
    page.wait_for_function(f"document.documentElement.dataset.theme === '{mode}'", timeout=5_000)
    page.wait_for_timeout(200)


@pytest.mark.parametrize("doc", toc_files())
def test_phone_width_both_themes(browser, server, doc):
    """At 390 px, dark then light: no sideways scroll, themed outputs, no cut formula, no serious axe fault."""
    visit = open_page(browser, f"{server}/{doc}.html", color_scheme="dark", viewport=PHONE)
    page = visit.page
    problems = []
    for mode in ("dark", "light"):
        if mode == "light":
            set_theme(page, "light")
        assert page.evaluate("document.documentElement.dataset.theme") == mode
        page.screenshot(path=shot_name(doc, f"-phone{'-dark' if mode == 'dark' else ''}"), full_page=True)

        over = page_overflow(page)
        if over["excess"] > 1:
            problems.append(f"{mode}: page scrolls sideways by {over['excess']} px; sticking out: {over['culprits']}")

        for out in output_backgrounds(page):
            lum, page_lum = relative_luminance(out["bg"]), relative_luminance(out["page"])
            if mode == "dark" and (lum > 0.05 or abs(lum - page_lum) > 0.03):
                problems.append(f"dark: {out['what']} is on {out['bg']} (luminance {lum:.2f}), "
                                f"the page on {out['page']} (luminance {page_lum:.2f}): a light frame")
            if mode == "light" and lum < 0.6:
                problems.append(f"light: {out['what']} is on a dark background {out['bg']}")

        clipped = clipped_equations(page)
        if clipped:
            problems.append(f"{mode}: display equations cut without a scrollbar: {clipped}")

        problems += figure_problems(page, mode, phone=True)

        for v in axe_violations(page):
            problems.append(f"{mode}: axe {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}")
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    assert not problems, "\n".join(problems)
    page.context.close()


@pytest.mark.parametrize("doc", toc_files())
def test_desktop_accessibility(browser, server, doc):
    """At desktop width (light): no serious axe fault and no formula cut without a scrollbar."""
    visit = open_page(browser, f"{server}/{doc}.html")
    page = visit.page
    assert clipped_equations(page) == [], "display equations cut without a scrollbar"
    # Tables fit a laptop's column (the execution table cut its Status column).
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('.bd-content .pst-scrollable-table-container'))"
        ".filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim().slice(0, 60))")
    assert wide == [], f"tables wider than the column at {DESKTOP['width']} px: {wide}"
    # No emoji that needs an emoji font (myst-nb's execution table marks).
    text = page.locator("main").inner_text()
    assert not re.search("[\u2705\u274c]", text), "emoji status marks in the page"
    violations = axe_violations(page)
    assert violations == [], "\n".join(f"axe {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for v in violations)
    # MathJax formulas are not Tab stops (151-255 of them stood between a reader and an explorable).
    assert page.evaluate("document.querySelectorAll('mjx-container[tabindex=\"0\"]:not(.lnb-scrolls)').length") == 0
    page.context.close()


MAX_TABS = 5  # from the top of the page to an explorable's skip link (the theme's own skip link comes first)


@pytest.mark.parametrize("doc", explorable_docs())
def test_explorables_by_keyboard(browser, server, doc):
    """A few Tabs and Enter reach every explorable; arrow keys move its sliders; sliders say their value.

    Without skip links a reader pressed Tab 40 to 250 times (MathJax formulas,
    prose links, copy buttons) before reaching an explorable.
    """
    visit = open_page(browser, f"{server}/{doc}.html")
    page = visit.page
    ready = "Array.from(document.querySelectorAll('.lnb-explorable')).every(e => e.dataset.lnbResult)"
    page.wait_for_function(ready, timeout=20_000)
    n = page.locator(".lnb-explorable").count()

    for i in range(n):
        if i:  # start from the top again
            page.reload(wait_until="networkidle")
            page.wait_for_function(ready, timeout=20_000)
        target = "#" + page.evaluate(f"document.querySelectorAll('.lnb-explorable')[{i}].id")
        trail = []
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            trail.append(page.evaluate("document.activeElement.getAttribute('href') || document.activeElement.tagName"))
            if trail[-1] == target:
                break
        assert trail[-1] == target, f"no skip link to explorable {i} ({target}) in the first {MAX_TABS} Tab stops: {trail}"
        page.keyboard.press("Enter")
        page.wait_for_timeout(100)
        inside = page.evaluate(
            "(() => { const r = document.activeElement.closest('.lnb-explorable');"
            " return r ? Array.from(document.querySelectorAll('.lnb-explorable')).indexOf(r) : -1; })()")
        assert inside == i, f"Enter on the skip link to explorable {i} left the focus outside it"
        page.keyboard.press("Tab")  # and on through its controls
        assert page.evaluate("!!document.activeElement.closest('.lnb-explorable')")

    for i in range(n):
        root = page.locator(".lnb-explorable").nth(i)
        kind = root.get_attribute("data-lnb-kind")
        for slider in root.locator("input[type=range]").all():
            text = slider.get_attribute("aria-valuetext") or ""
            shown = slider.evaluate("s => s.parentElement.querySelector('output')?.textContent || ''")
            assert re.search(r"[A-Za-z]{3}", text) and shown in text, (
                f"{kind}: slider {slider.get_attribute('aria-label')!r} has aria-valuetext {text!r}, "
                f"which should name the quantity and say the value shown ({shown!r})")
            lo, hi, value = (float(slider.get_attribute(a) or slider.evaluate(f"s => s.{a}")) for a in ("min", "max", "value"))
            if lo == hi or slider.is_disabled():  # e.g. chapter 2's γ, unused by most transformations
                continue
            key = "ArrowRight" if value < hi else "ArrowLeft"
            before = (slider.evaluate("s => s.value"), text, root.get_attribute("data-lnb-result"))
            slider.focus()
            page.keyboard.press(key)
            page.wait_for_timeout(150)
            after = (slider.evaluate("s => s.value"), slider.get_attribute("aria-valuetext"),
                     root.get_attribute("data-lnb-result"))
            assert after[0] != before[0], f"{kind}: {key} did not move slider {slider.get_attribute('aria-label')!r}"
            assert after[1] != before[1], f"{kind}: aria-valuetext did not follow the slider ({after[1]!r})"
            assert after[2] != before[2], f"{kind}: the explorable's output did not change after {key}"
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    page.context.close()


MIN_TARGET = 44  # CSS px, a finger's target on a touch screen (WCAG 2.5.5)

#: Each control of an explorable: what the finger aims at, the label the reader sees, its ARIA role.
CONTROLS_JS = """root => Array.from(root.querySelectorAll('input[type=range], input[type=radio], select, button')).map(c => {
  const label = c.closest('label');
  const visible = c.type === 'radio' ? (label ? label.textContent : '')
    : c.tagName === 'BUTTON' ? c.textContent : (label?.querySelector('.lnb-label')?.textContent || '');
  const target = (c.type === 'radio' && label) ? label : c;
  const box = target.getBoundingClientRect();
  return { tag: c.tagName.toLowerCase(), type: c.type || '', visible: visible.replace(/\\s+/g, ' ').trim(),
           name: c.getAttribute('aria-label') || '', w: box.width, h: box.height };
})"""
ROLES = {"range": "slider", "radio": "radio", "select": "combobox", "button": "button"}


@pytest.mark.parametrize("doc", explorable_docs())
def test_explorables_have_room_reset_and_label_in_name(browser, server, doc):
    """On a phone's touch screen every control is at least 44 px each way, every explorable has a
    Reset button that brings back what it first showed, and every control's accessible name contains
    the label the reader sees (WCAG 2.5.3; axe's label-content-name-mismatch on the explorables)."""
    visit = open_page(browser, f"{server}/{doc}.html", viewport=PHONE, touch=True)
    page = visit.page
    assert page.evaluate("matchMedia('(pointer: coarse)').matches"), "the touch context does not report a coarse pointer"
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.lnb-explorable')).every(e => e.dataset.lnbResult)", timeout=20_000)
    problems = []
    roots = page.locator(".lnb-explorable")
    for i in range(roots.count()):
        root = roots.nth(i)
        kind = root.get_attribute("data-lnb-kind")
        for c in root.evaluate(CONTROLS_JS):
            what = f"{kind}: {c['tag']} {c['type']} {c['visible']!r}"
            if c["w"] < MIN_TARGET or c["h"] < MIN_TARGET:
                problems.append(f"{what} is {c['w']:.0f} x {c['h']:.0f} px on a touch screen (< {MIN_TARGET})")
            if not c["visible"]:
                problems.append(f"{what} has no visible label")
            role = ROLES.get(c["type"] if c["tag"] == "input" else c["tag"])
            named = root.get_by_role(role, name=c["visible"]).count() if c["visible"] else 0
            if not named:
                problems.append(f"{what}: no {role} whose accessible name contains its visible label "
                                f"(aria-label {c['name']!r})")

        # Reset: move every control away from its start, then back with one press.
        reset = root.get_by_role("button", name="Reset", exact=True)
        if reset.count() != 1:
            problems.append(f"{kind}: {reset.count()} Reset buttons")
            continue
        values = "r => Array.from(r.querySelectorAll('input, select')).map(c => c.type === 'radio' ? c.checked : c.value)"
        start = (root.get_attribute("data-lnb-result"), root.evaluate(values))
        for radio in root.locator("input[type=radio]").all()[-1:]:
            radio.check()
        for sel in root.locator("select").all():
            sel.select_option(index=sel.evaluate("s => s.options.length - 1"))
        for slider in root.locator("input[type=range]").all():
            slider.evaluate("s => { s.value = s.value === s.max ? s.min : s.max; s.dispatchEvent(new Event('input', {bubbles: true})); }")
        page.wait_for_timeout(50)
        assert root.get_attribute("data-lnb-result") != start[0], f"{kind}: moving every control changed nothing"
        reset.click()
        page.wait_for_timeout(50)
        if (root.get_attribute("data-lnb-result"), root.evaluate(values)) != start:
            problems.append(f"{kind}: Reset did not bring back the explorable's first state")

    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (or `make assets`)")
    page.add_script_tag(path=str(AXE))
    mismatch = page.evaluate(
        """async () => (await axe.run({ include: [['.lnb-explorable']] },
             { runOnly: { type: 'rule', values: ['label-content-name-mismatch'] } })).violations
             .map(v => v.nodes.map(n => n.target.join(' ')).join(', '))""")
    problems += [f"axe label-content-name-mismatch at {m}" for m in mismatch]
    page.screenshot(path=shot_name(doc, "-touch"))
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    assert not problems, "\n".join(problems)
    page.context.close()


def test_kernel_only_form_is_marked_on_the_website(browser, server):
    """Chapter 5's "Your turn" form needs a kernel: on the website it is inert, dimmed, and says so."""
    doc = "chapters/05_training_ln_rnns"
    visit = open_page(browser, f"{server}/{doc}.html")
    page = visit.page
    form = page.locator(".widget-vbox", has=page.locator("button", has_text="Train")).last
    assert form.count() == 1, "chapter 5's training form (a VBox with a Train button) is missing"
    # helpers.widgets.training_form marks it with widget.add_class("lnb-kernel-only")
    assert form.evaluate("f => f.classList.contains('lnb-kernel-only')"), "the form is not marked kernel-only"
    style = form.evaluate(
        "f => ({ pe: getComputedStyle(f).pointerEvents, note: getComputedStyle(f, '::before').content, inert: f.inert })"
    )
    assert style["pe"] == "none", "the kernel-only form still takes clicks"
    assert "kernel" in style["note"] and "Colab" in style["note"], f"no note on the form: {style['note']!r}"
    assert style["inert"], "the kernel-only form is still in the keyboard's Tab order"
    button = page.locator("button", has_text="Train").last
    # Button(icon="play"): the icon is drawn (its font or SVG loaded from the site; any request
    # elsewhere, or a 404 for the font, fails test_page_is_self_contained_and_clean on this page)
    icon = button.evaluate("b => { const i = b.querySelector('svg, i'); return i ? i.getBoundingClientRect().width : 0; }")
    assert icon > 4, f"the Train button's icon did not render (width {icon})"
    assert visit.failed == [] and visit.external == [], (visit.failed, visit.external)
    button.evaluate("b => b.scrollIntoView({block: 'center'})")
    box = button.bounding_box()
    hit = page.evaluate(f"document.elementFromPoint({box['x'] + box['width'] / 2}, {box['y'] + box['height'] / 2})?.tagName")
    assert hit is not None and hit != "BUTTON", f"a click on Train still reaches the button (hit {hit})"
    page.screenshot(path=shot_name(doc, "-kernel-form"))
    page.context.close()


def test_chapters_have_a_byline_and_a_citation(browser, server, site):
    """Every chapter: a byline with a date under its title; a folded "Cite this chapter" box that its link
    opens, whose BibTeX names the chapter and, once the page is read, its address (book/_ext/chapter_byline.py)."""
    chapters = [d for d in toc_files() if d.startswith("chapters/")]
    for doc in chapters:
        text = (site / f"{doc}.html").read_text()
        head = text.index("</h1>", text.index('<h1><span class="section-number">'))  # the chapter's title
        assert re.match(r'\s*<p class="lnb-byline">By .+? · updated <time datetime="\d{4}-\d\d-\d\d">', text[head + 5:]), doc
        assert text.count('id="lnb-cite"') == 1 and "@incollection{lnbook-" in text, doc
    doc = chapters[5]
    visit = open_page(browser, f"{server}/{doc}.html")
    page = visit.page
    assert page.evaluate("document.getElementById('lnb-cite').open") is False
    page.click("p.lnb-byline a[href='#lnb-cite']")
    page.wait_for_function("document.getElementById('lnb-cite').open")
    bib = page.inner_text("#lnb-cite pre")
    number = re.search(r"chapter\s+= \{(\d+)\}", bib)
    assert number and number.group(1) == "6", bib
    assert re.search(r"^  title\s+= \{[A-Z]", bib, re.M) and "booktitle = {Layer Normalization:" in bib, bib
    assert f"url       = {{{server}/{doc}.html}}" in bib and bib.count("{") == bib.count("}"), bib
    # the copy button puts exactly the entry, address included, on the clipboard (localhost is a secure context)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page.click("#lnb-cite button.lnb-cite-copy")
    page.wait_for_function("document.querySelector('#lnb-cite button.lnb-cite-copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == bib
    assert visit.page_errors == [] and visit.console_errors == []
    page.context.close()


def test_hover_previews_of_citations_equations_and_figures(browser, server):
    """Pointing at a citation shows its reference, at an equation number its formula, at a figure number its
    caption; Escape hides it (issue 19: citations used to jump to the bibliography page)."""
    visit = open_page(browser, f"{server}/chapters/01_from_batch_norm_to_layer_norm.html")
    page = visit.page
    page.wait_for_function("document.querySelector('.math mjx-container') !== null", timeout=15_000)
    cases = ['a.reference.internal[href*="bibliography.html#"]', 'a.reference.internal[href^="#equation-"]',
             'a.reference.internal[href^="#fig-"]']
    for selector in cases:
        link = page.locator(f".bd-content {selector}").first
        link.scroll_into_view_if_needed()
        link.hover()
        tip = page.locator("#lnb-preview")
        tip.wait_for(state="visible", timeout=10_000)
        text = tip.inner_text()
        if selector.endswith('"#equation-"]'):
            assert tip.locator("mjx-container").count() == 1, text  # the formula itself, typeset
        elif selector.endswith('"#fig-"]'):
            href = link.get_attribute("href")
            caption = page.inner_text(f"figure{href} figcaption")
            assert caption.strip()[:60] in text, (text, caption)
        else:  # the reference Sphinx wrote in the link's title, which the browser's own tooltip no longer shows
            ref = link.get_attribute("data-lnb-ref")
            assert ref and text.strip() == ref.strip() and re.search(r"\b(19|20)\d\d\b", text), (text, ref)
            assert link.get_attribute("title") is None
        page.keyboard.press("Escape")
        tip.wait_for(state="hidden", timeout=10_000)
    assert visit.page_errors == [] and visit.console_errors == []
    page.context.close()


def test_setup_cell_is_folded_and_code_toggles_sit_under_their_figures(browser, server):
    """Reading flow (issue 19): the setup cell and its printout in one closed "Run this chapter" box that opens;
    the toggle of a figure's hidden code is under the figure, not a bar above it."""
    visit = open_page(browser, f"{server}/chapters/06_feedforward_and_conv.html")
    page = visit.page
    box = page.evaluate("""() => { const b = document.querySelector('details.lnb-run-box');
        return b && { open: b.open, summary: b.querySelector('summary').textContent,
                      setup: b.querySelector('.cell_input pre').textContent.trim().slice(0, 23),
                      first: document.querySelector('.bd-content div.cell') === b.querySelector('div.cell') }; }""")
    assert box == {"open": False, "summary": "Run this chapter: its setup cell", "setup": "# Setup: run this first",
                   "first": True}, box
    page.click("details.lnb-run-box > summary")
    assert page.evaluate("document.querySelector('details.lnb-run-box').open")
    under = page.evaluate("""() => Array.from(document.querySelectorAll('div.cell.tag_hide-input')).filter(
        c => c.querySelector('.cell_output img')).map(c => {
          const s = c.querySelector('details.hide.above-input > summary').getBoundingClientRect();
          const o = c.querySelector('.cell_output').getBoundingClientRect();
          return s.top >= o.bottom - 1; })""")
    assert under and all(under), under
    assert visit.page_errors == [] and visit.console_errors == []
    page.context.close()
    # on a phone, code that scrolls sideways is marked (a shadow at its cut edge), and code that fits is not
    visit = open_page(browser, f"{server}/chapters/06_feedforward_and_conv.html", viewport=PHONE)
    marks = visit.page.evaluate("""() => Array.from(document.querySelectorAll('.bd-content div.highlight > pre'))
        .filter(p => p.clientWidth > 0).map(p => [p.scrollWidth > p.clientWidth + 1, p.classList.contains('lnb-scrolls'),
                                             getComputedStyle(p).boxShadow])""")
    assert any(wide for wide, _, _ in marks), "no code block overflows at 390 px: the check checks nothing"
    assert all(wide == marked for wide, marked, _ in marks), marks
    assert all(shadow != "none" for wide, _, shadow in marks if wide), marks
    # every code toggle opened: the page stays as wide as the phone, the long lines scroll inside their block
    opened = visit.page.evaluate("""() => { const ds = document.querySelectorAll('.bd-content div.cell details.hide');
        ds.forEach(d => { d.open = true; }); return ds.length; }""")
    visit.page.wait_for_timeout(300)
    width = visit.page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert opened and width[0] <= width[1], f"{opened} code toggles opened: the page is {width[0]} px wide at {width[1]}"
    visit.page.context.close()
    # the box says what the setup cell does and shows: chapter 1's chooses nothing and prints nothing
    visit = open_page(browser, f"{server}/chapters/01_from_batch_norm_to_layer_norm.html")
    note = visit.page.evaluate("document.querySelector('details.lnb-run-box p').textContent")
    assert "installs the book's helpers" in note and "chooses" not in note and "printed" not in note, note
    visit.page.context.close()


@pytest.mark.parametrize("doc", ["chapters/06_feedforward_and_conv", "chapters/08_transformers",
                                 "chapters/10_normalization_after_2016"])
def test_tables_of_sentences_are_cards_on_a_phone(browser, server, doc):
    """A table whose cells are sentences (3 columns or more, 30 characters a cell on average) is shown on a
    phone as cards, one row a card; chapter 8's table of placements scrolled sideways with its third column
    cut mid-word (the second look)."""
    visit = open_page(browser, f"{server}/{doc}.html", viewport=PHONE)
    rows = visit.page.evaluate("""() => Array.from(document.querySelectorAll('.bd-content table')).map(t => {
        const cells = t.tBodies.length ? t.tBodies[0].querySelectorAll('td') : [];
        const heads = t.tHead ? t.tHead.rows[0].cells.length : 0;
        const prose = cells.length && t.tBodies[0].textContent.trim().length / cells.length >= 30;
        const box = t.closest('.pst-scrollable-table-container') || t.parentElement;
        return { prose: !!prose && heads >= 3, stacked: t.classList.contains('lnb-stack-table'),
                 overflows: box.scrollWidth > box.clientWidth + 1, text: t.textContent.trim().slice(0, 50) };
    })""")
    prose = [r for r in rows if r["prose"]]
    assert prose, f"{doc}: no table of sentences"
    assert all(r["stacked"] and not r["overflows"] for r in prose), [r for r in prose if not r["stacked"] or r["overflows"]]
    visit.page.context.close()


@pytest.mark.parametrize("doc", ["chapters/02_invariance", "chapters/03_geometry_of_learning"])
def test_no_punctuation_starts_a_line_after_a_formula_on_a_phone(browser, server, doc):
    """The full stop or comma after an inline formula stays on the formula's line (the second look found 15
    at the start of a line on a phone, Fig 2.2's caption among them)."""
    visit = open_page(browser, f"{server}/{doc}.html", viewport=PHONE)
    page = visit.page
    page.wait_for_function("Array.from(document.querySelectorAll('.math')).every(m => m.querySelector('mjx-container'))",
                           timeout=20_000)
    page.wait_for_timeout(500)
    found = page.evaluate("""() => {
        const out = { checked: 0, alone: [] };
        document.querySelectorAll('.bd-content span.math').forEach(s => {
            const m = s.querySelector('mjx-container:not([display="true"])');
            const punct = s.querySelector('.lnb-math-punct'), next = s.nextSibling;
            const text = !punct && next && next.nodeType === 3 && /^[.,;:]/.test(next.data) ? next : null;
            if (!m || !(punct || text)) return;
            let box = punct ? punct.getBoundingClientRect() : null;
            if (text) { const r = document.createRange(); r.setStart(text, 0); r.setEnd(text, 1); box = r.getBoundingClientRect(); }
            out.checked++;
            if (box.top >= m.getBoundingClientRect().bottom - 2) out.alone.push(s.textContent.slice(0, 40));
        });
        return out; }""")
    assert found["checked"] > 20 and found["alone"] == [], found
    page.context.close()


def test_explorables_stay_out_of_the_margin_notes_column(browser, server):
    """On a laptop an explorable may leave the text column, but not into the margin notes' column: chapter 6's
    ran 11 px under the note beside it (the second look)."""
    visit = open_page(browser, f"{server}/chapters/06_feedforward_and_conv.html", viewport={"width": 1280, "height": 900})
    page = visit.page
    page.wait_for_function("document.querySelector('.lnb-explorable[data-lnb-result]') !== null", timeout=20_000)
    edges = page.evaluate("""() => ({
        explorables: Array.from(document.querySelectorAll('.lnb-explorable')).map(e => e.getBoundingClientRect().right),
        notes: Array.from(document.querySelectorAll('.bd-content aside.margin, .bd-content .margin'))
            .map(m => m.getBoundingClientRect()).filter(r => r.width > 0).map(r => r.left) })""")
    assert edges["explorables"] and edges["notes"], edges
    assert max(edges["explorables"]) <= min(edges["notes"]), edges
    page.context.close()


def test_copy_buttons_on_a_touch_screen_cover_no_code(browser, server):
    """On a phone the copy button (shown by a tap, a hover) sat over the end of the code's first line; on a
    coarse pointer it has a band of its own above the code, and is big enough to tap."""
    visit = open_page(browser, f"{server}/chapters/02_invariance.html", viewport=PHONE, touch=True)
    page = visit.page
    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.bd-content div.highlight')).filter(h => {
        const b = h.querySelector('button.copybtn'); return b && h.getBoundingClientRect().height > 0; }).map(h => {
        const pre = h.querySelector('pre'), b = h.querySelector('button.copybtn').getBoundingClientRect();
        const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
        let t = walker.nextNode(); while (t && !t.data.trim()) t = walker.nextNode();
        const r = document.createRange(); r.selectNodeContents(pre);
        const line = t ? (() => { const q = document.createRange(); q.setStart(t, t.data.search(/\\S/));
            q.setEnd(t, t.data.search(/\\S/) + 1); return q.getBoundingClientRect(); })() : null;
        return { button: [b.top, b.bottom, b.width, b.height, getComputedStyle(h.querySelector('button.copybtn')).opacity],
                 firstText: line ? [line.top, line.bottom] : null };
    })""")
    assert len(boxes) >= 3, boxes
    for box in boxes:
        top, bottom, width, height, opacity = box["button"]
        assert float(opacity) > 0.5 and min(width, height) >= 32, box  # shown without a hover, a finger's size
        assert box["firstText"] is None or bottom <= box["firstText"][0] + 1, f"the copy button covers code: {box}"
    page.context.close()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 800, "height": 900}], ids=["phone", "tablet"])
def test_back_to_top_is_a_corner_icon(browser, server, viewport):
    """"Back to top" is a small round icon in the bottom right corner (it was a 113 x 31 px pill in the
    middle of the screen, over code and heatmaps), still named "Back to top", and it goes back to the top."""
    visit = open_page(browser, f"{server}/chapters/04_rnn_dynamics.html", viewport=viewport)
    page = visit.page
    page.evaluate("window.scrollTo(0, 4000)")
    page.wait_for_timeout(300)
    page.mouse.wheel(0, -300)  # the theme shows it while the reader scrolls back up
    button = page.get_by_role("button", name="Back to top", exact=True)
    button.wait_for(state="visible", timeout=5_000)
    page.wait_for_timeout(300)
    box = button.bounding_box()
    assert box["width"] <= 48 and box["height"] <= 48, f"back to top is {box['width']:.0f} x {box['height']:.0f} px"
    right, bottom = viewport["width"] - (box["x"] + box["width"]), viewport["height"] - (box["y"] + box["height"])
    assert 0 <= right <= 16 and 0 <= bottom <= 24, f"back to top is {right:.0f} px from the right, {bottom:.0f} px from the bottom"
    icon = button.evaluate("b => { const i = b.querySelector('svg'); return i ? i.getBoundingClientRect().width : 0; }")
    assert icon > 8, f"the arrow is {icon} px wide"
    page.screenshot(path=shot_name("back-to-top", f"-{viewport['width']}"))
    # it fades out 3 s after the scrolling stops (it covered a caption's end as the reader reread), and
    # comes back with the next scroll up
    page.wait_for_timeout(3_600)
    assert button.evaluate("b => b.classList.contains('lnb-away') && getComputedStyle(b).pointerEvents === 'none'")
    page.mouse.wheel(0, -200)
    page.wait_for_function("!document.getElementById('pst-back-to-top').classList.contains('lnb-away')", timeout=5_000)
    page.wait_for_timeout(300)
    button.click()
    page.wait_for_function("window.scrollY === 0", timeout=5_000)
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    page.context.close()


def test_search_snippets_show_no_tex_source(browser, server):
    """Search results quote the pages; their formulas read as text, not as TeX source."""
    visit = open_page(browser, f"{server}/search.html?q=variance")
    page = visit.page
    page.wait_for_function("document.querySelectorAll('ul.search li p.context').length >= 3", timeout=20_000)
    page.wait_for_timeout(500)
    snippets = page.locator("ul.search li p.context").all_inner_texts()
    tex = [s[:120] for s in snippets if re.search(r"\\[()[\]]|\\[A-Za-z]{2,}", s)]
    assert tex == [], f"search snippets show TeX source: {tex}"
    assert visit.page_errors == [] and visit.console_errors == [], (visit.page_errors, visit.console_errors)
    page.context.close()


def test_search_field_icon_sits_beside_its_text(browser, server):
    """The magnifying glass of the search page's field is beside the field, not over what the reader types
    (the inline SVG icons once kept a class that made the theme's CSS place it over the text)."""
    visit = open_page(browser, f"{server}/search.html?q=variance", viewport=PHONE)
    page = visit.page
    boxes = page.evaluate("""Array.from(document.querySelectorAll('form.bd-search')).filter(f => f.offsetParent)
        .map(f => [f.querySelector('svg').getBoundingClientRect().right, f.querySelector('input').getBoundingClientRect().left])""")
    assert boxes, "no visible search field on search.html"
    for icon_right, input_left in boxes:
        assert icon_right <= input_left + 0.5, f"the search icon ends at {icon_right} px, over the field starting at {input_left} px"
    page.context.close()


def test_markdown_tables_in_outputs_are_tables(site):
    """A table a cell displays as Markdown (the results tables of chapters 7 and 10) is rendered as a table:
    without the cell's ``mystnb: markdown_format: gfm`` myst-nb parses it as CommonMark, which has no tables,
    and the page shows its rows as one paragraph of pipes (chapter 10's table of claims did)."""
    for doc in toc_files():
        html = (site / f"{doc}.html").read_text()
        # a header row, then the delimiter row (its dashes typeset as dashes): "| a | b |\n|—|—|"
        assert not re.search(r"<p>\|[^<\n]*\|\s*\n\|\s*[-—–:]+\s*\|", html), \
            f"{doc}: a Markdown table shown as a paragraph of pipes"


def test_code_cells_show_no_glue_calls(site):
    """The website's code shows no ``glue(...)`` call (book/_ext/site_theme.py): they hand numbers to the
    prose, plumbing that made phones scroll sideways; every chapter has glue calls in its source."""
    import html as html_lib
    cell_code = re.compile(r'<div class="cell_input[^"]*">.*?<pre>(.*?)</pre>', re.S)
    for doc in toc_files():
        if not doc.startswith("chapters/"):
            continue
        source = (ROOT / f"{doc}.ipynb").read_text()
        page = (site / f"{doc}.html").read_text()
        shown = [html_lib.unescape(re.sub(r"<[^>]+>", "", c)) for c in cell_code.findall(page)]
        assert shown, f"{doc}: no code cells found in the page"
        assert "glue(" in source and not [c for c in shown if re.search(r"^\s*glue\(", c, re.M)], \
            f"{doc}: code cells show glue calls: {[c[:80] for c in shown if 'glue(' in c][:3]}"


def test_bibliography_is_author_year_with_backlinks(site):
    """Entries are labelled like the citations in the text (author, year) and link back to every citing place."""
    page = site / "book" / "bibliography.html"
    blocks = page.read_text().split('<div class="citation"')[1:]
    assert blocks, "no bibliography entries"
    for block in blocks:
        label = re.search(r'<span class="label">(.*?)</span>\s*<p', block, re.S)
        label = re.sub(r"<[^>]+>", "", label.group(1)).strip("[] ") if label else ""
        assert re.fullmatch(r"[^\d\[\]]+ \d{4}[a-z]?", label), f"label {label!r} is not author-year"
        cited = re.search(r'<p class="lnb-cited-in">(.*?)</p>', block, re.S)
        links = re.findall(r'href="([^"]+)"', cited.group(1)) if cited else []
        assert links, f"{label}: no link back to where it is cited"
        for href in links:
            path, _, anchor = href.partition("#")
            target = (page.parent / path).resolve()
            assert target.is_file() and f'id="{anchor}"' in target.read_text(), f"{label}: back-link {href} leads nowhere"


# --- page weight: what a chapter costs a reader on its first load (issue 19) ----
# Each chapter page is opened in a fresh Chromium profile (an empty cache) at
# laptop width from the local server, and every response is counted: its body's
# bytes as served (``python -m http.server`` does not compress) and gzipped (what
# a web host that compresses would send). A page passes when it transfers at
# most 2.5 MB raw and 1 MB gzipped, and, if every widget on it is an anywidget
# explorable, requests none of ``embed-amd.js``, ``require.js`` and
# ``fontawesome.js``. The time from navigation to the first explorable drawn
# (``data-lnb-result`` set) and to the first contentful paint are reported, not
# asserted tightly: the bound below leaves room for a slow, busy machine.
#
# Report: ``_build/reports/page-weight.md``. ``LNB_PHONE=1`` adds a run throttled
# as a phone (390 px, 10 Mbit/s, 40 ms round trip, CPU 4x slower).

MAX_RAW = 2.5e6
MAX_GZIP = 1.0e6
#: Far above the ~1 s the issue aims at on localhost: a loaded CI machine must not fail on it.
MAX_EXPLORABLE_S = 8.0
HEAVY = ("embed-amd.js", "require.js", "fontawesome.js")
#: What a page running MathJax fetches: its loader and core (book/_ext/offline_assets.py), or a combined build.
MATHJAX_FILES = {"startup.js", "core.js", "tex-mml-chtml.js", "tex-chtml.js"}
REPORT = ROOT / "_build" / "reports" / "page-weight.md"

TIMING = """
window.__lnb = { explorable: null };
new MutationObserver(() => {
  if (window.__lnb.explorable === null && document.querySelector('.lnb-explorable[data-lnb-result]'))
    window.__lnb.explorable = performance.now();
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-lnb-result'] });
"""

STATE_RE = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S)
VIEW_RE = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)


def widget_kinds(html: str) -> set[str]:
    """The model modules of the widget views of a built page ({'anywidget'} on a page of explorables only)."""
    state = STATE_RE.search(html)
    models = json.loads(state.group(1).replace("<\\/", "</"))["state"] if state else {}
    ids = [json.loads(v.replace("<\\/", "</"))["model_id"] for v in VIEW_RE.findall(html)]
    return {models.get(i, {}).get("model_module", "?") for i in ids}


def measure(browser, url: str, phone: bool = False, explorable: bool = True) -> dict:
    """Bytes (raw, gzip) and times of one first load of ``url``; ``explorable``: wait for one to be drawn."""
    context = browser.new_context(viewport=PHONE if phone else DESKTOP)
    page = context.new_page()
    responses = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "blob:", "data:"))
               else r.abort())
    page.on("response", lambda r: responses.append(r))
    page.add_init_script(TIMING)
    if phone:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 40,
                                                      "downloadThroughput": 10e6 / 8, "uploadThroughput": 5e6 / 8})
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    page.goto(url, wait_until="load")
    if explorable:
        page.wait_for_function("window.__lnb.explorable !== null", timeout=60_000)
    try:  # then let lazy figures near the top and fonts arrive
        page.wait_for_load_state("networkidle", timeout=15_000)
    except Exception:  # a page that keeps the network busy is counted as it stands
        pass
    timing = page.evaluate("""() => ({
        explorable: window.__lnb.explorable,
        fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null,
        dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd })""")
    raw = gz = 0
    names = []
    for r in responses:
        if not r.url.startswith("http://127.0.0.1"):
            continue
        try:
            body = r.body()
        except Exception:  # a redirect or an aborted request has no body
            continue
        raw += len(body)
        gz += len(gzip.compress(body, 6))
        names.append((r.url.rsplit("/", 1)[-1].split("?")[0], len(body)))
    context.close()
    return {"raw": raw, "gzip": gz, "files": names, **timing}


def weight_docs() -> list[str]:
    """The landing page (no maths) and every chapter."""
    return [toc_files()[0], *(d for d in toc_files() if d.startswith("chapters/"))]


def has_math(html: str) -> bool:
    return 'class="math' in html


def test_chapter_pages_are_light(browser, server):
    rows, problems = [], []
    phone = os.environ.get("LNB_PHONE", "") not in ("", "0")
    for doc in weight_docs():
        html = (ROOT / "_build" / "html" / f"{doc}.html").read_text()
        kinds = widget_kinds(html)
        m = measure(browser, f"{server}/{doc}.html", explorable="anywidget" in kinds)
        heavy = sorted({n for n, _ in m["files"] if n in HEAVY})
        biggest = sorted(m["files"], key=lambda f: -f[1])[:3]
        row = {"doc": doc, **{k: m[k] for k in ("raw", "gzip", "explorable", "fcp", "dcl")},
               "requests": len(m["files"]), "heavy": heavy, "biggest": biggest}
        if phone:
            p = measure(browser, f"{server}/{doc}.html", phone=True, explorable="anywidget" in kinds)
            row.update(phone_fcp=p["fcp"], phone_explorable=p["explorable"])
        rows.append(row)
        if m["raw"] > MAX_RAW:
            problems.append(f"{doc}: {m['raw'] / 1e6:.2f} MB raw > {MAX_RAW / 1e6} MB (largest: {biggest})")
        if m["gzip"] > MAX_GZIP:
            problems.append(f"{doc}: {m['gzip'] / 1e6:.2f} MB gzipped > {MAX_GZIP / 1e6} MB")
        if kinds == {"anywidget"} and heavy:
            problems.append(f"{doc}: only anywidget explorables, yet requests {heavy}")
        names = {n for n, _ in m["files"]}
        if "fontawesome.js" in names:
            problems.append(f"{doc}: requests fontawesome.js (icons are inline SVG)")
        if names & {"searchindex.js", "searchtools.js"}:
            problems.append(f"{doc}: loads the search index, though the reader has not searched")
        if not has_math(html) and names & MATHJAX_FILES:
            problems.append(f"{doc}: loads MathJax, though it has no formula")
        if m["explorable"] is not None and m["explorable"] > MAX_EXPLORABLE_S * 1000:
            problems.append(f"{doc}: explorable drawn {m['explorable'] / 1000:.1f} s after navigation")

    def ms(v):
        return "–" if v is None else f"{v / 1000:.2f} s"
    lines = ["# Page weight (first load, empty cache, localhost)", "",
             "| page | MB raw | MB gzip | requests | first paint | DOMContentLoaded | explorable drawn |"
             + (" phone: first paint | phone: explorable |" if phone else ""),
             "|---|---|---|---|---|---|---|" + ("---|---|" if phone else "")]
    for r in rows:
        lines.append(f"| {r['doc'].split('/')[-1]} | {r['raw'] / 1e6:.2f} | {r['gzip'] / 1e6:.2f} | {r['requests']} | "
                     f"{ms(r['fcp'])} | {ms(r['dcl'])} | {ms(r['explorable'])} |"
                     + (f" {ms(r['phone_fcp'])} | {ms(r['phone_explorable'])} |" if phone else ""))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert not problems, "\n".join(problems)
