// lnb-site.js: the book website's own behaviour (book/_ext/site_theme.py).
// Small jobs, each safe to skip: nothing here is needed to read a page.
(function () {
  "use strict";

  // 1. Display equations wider than their column scroll (lnb-site.css); mark
  //    them so the CSS can show a shadow at the edge where they are cut. An
  //    inline formula wider than its paragraph (a loss written in the text,
  //    on a phone) would be cut with no way to see the rest: it gets a line of
  //    its own and scrolls like a display equation (class lnb-wide-inline).
  //    The punctuation right after any inline formula goes into its span.math
  //    (lnb-site.css keeps the two on one line; a wide one is shown as a row,
  //    lnb-wide-wrap), instead of wrapping onto a line by itself.
  var PUNCT = /^[.,;:!?)\]\u2019\u201d]+/;
  function keepPunctuation(m) {
    var span = m.parentElement, next = span && span.nextSibling;
    if (!span || !span.classList.contains("math") || span.querySelector(".lnb-math-punct")) return;
    var hit = next && next.nodeType === 3 && PUNCT.exec(next.data);
    if (!hit) return;
    var p = document.createElement("span");
    p.className = "lnb-math-punct";
    p.textContent = hit[0];
    next.data = next.data.slice(hit[0].length);
    span.appendChild(p);
  }
  function markWideInline() {
    var marks = [], inline = document.querySelectorAll('.bd-content mjx-container:not([display="true"])');
    inline.forEach(keepPunctuation);  // writes first: no full stop starts a line by itself
    inline.forEach(function (m) {
      var math = m.firstElementChild, block = m.closest("p, li, dd, td, th, div");
      if (!math || !block) return;
      marks.push([m, math.getBoundingClientRect().width > block.clientWidth + 1]);  // reads first
    });
    marks.forEach(function (mark) {  // then writes
      var m = mark[0], wide = mark[1];
      m.classList.toggle("lnb-wide-inline", wide);
      if (m.parentElement) m.parentElement.classList.toggle("lnb-wide-wrap", wide);
      if (!wide) m.classList.remove("lnb-scrolls", "lnb-scrolled-end");
    });
  }
  // A numbered equation that does not fit beside its number puts the number
  // on a line of its own, so the formula gets the column's whole width.
  function markNumberedWide() {
    document.querySelectorAll(".bd-content div.math > span.eqno").forEach(function (no) {
      var div = no.parentElement, m = div.querySelector('mjx-container[display="true"]');
      if (!m) return;
      div.classList.toggle("lnb-eqno-own-line", m.scrollWidth + no.offsetWidth > div.clientWidth + 1);
    });
  }
  // An element that scrolls sideways gets the class lnb-scrolls, and
  // lnb-scrolled-end once scrolled to its end (the CSS draws a shadow at the
  // cut edge); whether it is wide is measured again as it scrolls.
  function scrollState(el) {  // reads only
    var wide = el.scrollWidth > el.clientWidth + 1;
    return { wide: wide, end: wide && el.scrollLeft + el.clientWidth >= el.scrollWidth - 1 };
  }
  function applyScrollState(el, st) {  // writes only
    el.classList.toggle("lnb-scrolls", st.wide);
    el.classList.toggle("lnb-scrolled-end", st.end);
    if (st.wide && !el.lnbScrollWatched) {
      el.lnbScrollWatched = true;
      el.addEventListener("scroll", function () { markScrolls(el); }, { passive: true });
    }
    return st.wide;
  }
  function markScrolls(el) { return applyScrollState(el, scrollState(el)); }
  function markWideEquations() {
    markWideInline();
    markNumberedWide();
    document.querySelectorAll('mjx-container[display="true"], mjx-container.lnb-wide-inline').forEach(function (m) {
      // a keyboard reader can scroll it too (MathJax itself is out of the Tab order)
      if (markScrolls(m)) m.setAttribute("tabindex", "0");
    });
  }
  function whenTypeset() {
    if (!document.querySelector(".math")) return;  // MathJax is only on pages with formulas (page_diet.py)
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(markWideEquations);
    } else {
      setTimeout(whenTypeset, 200);
    }
  }
  window.addEventListener("resize", markWideEquations);

  // 1b. A long table of prose rows with many columns (chapter 7's results
  //     table: six columns, one row per claim) is unreadable on a phone as a
  //     sideways-scrolling grid: its verdict column sits off screen for the
  //     whole length of the table. Mark such tables (at least 5 columns and 12
  //     rows, or at least 3 columns of cells of 30 characters on average:
  //     sentences) and label every cell with its column's heading; on a narrow
  //     screen lnb-site.css shows each row as a card of "heading: value"
  //     lines. The ARIA roles keep the table a table for screen readers when
  //     the CSS changes its display.
  function stackLongTables() {
    document.querySelectorAll(".bd-content table").forEach(function (table) {
      if (table.classList.contains("lnb-stack-table") || !table.tHead || !table.tBodies.length) return;
      var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent.trim(); });
      var rows = table.tBodies[0].rows;
      var cells = table.tBodies[0].querySelectorAll("td");
      var prose = cells.length && table.tBodies[0].textContent.trim().length / cells.length >= 30;  // sentences, not numbers
      // prose in 3 columns or more (chapter 8's table of placements, chapter 6's second table), or a long grid
      if (!(prose && heads.length >= 3) && !(heads.length >= 5 && rows.length >= 12)) return;
      table.classList.add("lnb-stack-table");
      table.setAttribute("role", "table");
      Array.prototype.forEach.call(table.querySelectorAll("thead, tbody"), function (g) { g.setAttribute("role", "rowgroup"); });
      Array.prototype.forEach.call(table.rows, function (tr) {
        tr.setAttribute("role", "row");
        Array.prototype.forEach.call(tr.cells, function (cell, i) {
          cell.setAttribute("role", cell.tagName === "TH" ? "columnheader" : "cell");
          if (cell.tagName === "TD" && heads[i]) cell.setAttribute("data-label", heads[i]);
        });
      });
    });
  }

  // 2. Forms that need a Python kernel (class lnb-kernel-only): inert on the
  //    website, so neither a click nor the keyboard reaches a control that
  //    would do nothing. Widgets render after load, hence the observer.
  function inertKernelForms(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(".lnb-kernel-only").forEach(function (el) {
      if (!el.inert) el.inert = true;
    });
  }
  new MutationObserver(function (records) {
    records.forEach(function (r) {
      r.addedNodes.forEach(function (n) { if (n.nodeType === 1) inertKernelForms(n.parentNode || n); });
      if (r.type === "attributes") inertKernelForms(r.target.parentNode || r.target);
    });
  }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });

  // 3. Search result snippets are cut from a page's HTML, where formulas are
  //    still TeX source: show them readably (Greek letters, no backslashes).
  var GREEK = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", eta: "η", theta: "θ",
    lambda: "λ", mu: "μ", nu: "ν", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", psi: "ψ", omega: "ω",
    Delta: "Δ", Sigma: "Σ", Theta: "Θ", Phi: "Φ", Omega: "Ω", sum: "∑", cdot: "·", times: "×", odot: "⊙",
    top: "ᵀ", sqrt: "√", approx: "≈", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠", neq: "≠", infty: "∞",
    in: "∈", to: "→", rightarrow: "→", partial: "∂", nabla: "∇", ell: "ℓ", R: "ℝ",
  };
  function texToText(tex) {
    return tex
      .replace(/\\[()[\]]/g, "")
      .replace(/\\[,;:! ]/g, " ")
      .replace(/\\(?:mathbf|mathrm|mathcal|mathbb|boldsymbol|text|operatorname|left|right|big|Big|bigl|bigr|quad|qquad)(?![A-Za-z])/g, "")
      .replace(/\\([A-Za-z]+)/g, function (all, name) { return GREEK[name] || name; })
      .replace(/[{}]/g, "")
      .replace(/\s+/g, " ")
      .trim();
  }
  function patchSearch() {
    // searchtools.js declares `const Search` at top level: a global binding, not a window property
    var S = typeof Search !== "undefined" ? Search : undefined;  // eslint-disable-line no-undef
    if (!S || !S.htmlToText || S.lnbPatched) return;
    var original = S.htmlToText;
    S.htmlToText = function (html, anchor) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      doc.querySelectorAll(".math").forEach(function (m) { m.textContent = " " + texToText(m.textContent) + " "; });
      return original(doc.documentElement.outerHTML, anchor);
    };
    S.lnbPatched = true;
  }

  // 4. Keyboard: Tab would pass dozens of links and copy buttons before an
  //    explorable; add a skip link to each, next to the theme's "Skip to main
  //    content". Explorables render after load, so links come as they appear.
  var explorableCount = 0;
  function addSkipLinks() {
    var bar = document.getElementById("pst-skip-link");
    if (!bar) return;
    document.querySelectorAll(".lnb-explorable:not([data-lnb-skip])").forEach(function (root) {
      explorableCount += 1;
      var id = "lnb-explorable-" + explorableCount;
      root.setAttribute("data-lnb-skip", id);
      root.id = root.id || id;
      var section = root.closest("section");
      var heading = section && section.querySelector("h1, h2, h3, h4");
      var where = heading ? heading.textContent.replace(/[#¶]/g, "").trim() : "";
      var link = document.createElement("a");
      link.href = "#" + root.id;
      link.className = "lnb-skip-explorable";
      link.textContent = "Skip to the explorable" + (where ? " (" + where + ")" : "");
      link.addEventListener("click", function (event) {
        var first = root.querySelector("input, select, button, textarea, [tabindex]");
        if (!first) return;
        event.preventDefault();
        root.scrollIntoView({ block: "start" });
        first.focus();
      });
      bar.appendChild(link);
    });
  }
  new MutationObserver(function () {
    if (document.querySelector(".lnb-explorable:not([data-lnb-skip])")) addSkipLinks();
    if (document.querySelector("button[aria-label] svg title")) tidyThemeButtons();
  }).observe(document.documentElement, { childList: true, subtree: true });

  // 5. The theme's header buttons: decorative icons hidden from assistive
  //    technology (their button has an aria-label), and the search button named
  //    by what it shows ("Search Ctrl+K"), as WCAG 2.5.3 "label in name" asks.
  function tidyThemeButtons() {
    document.querySelectorAll("button[aria-label] i, a[aria-label] i").forEach(function (icon) {
      icon.setAttribute("aria-hidden", "true");
    });
    // Font Awesome turns each <i title="Light"> into an <svg> with a <title>,
    // which counts as the button's visible text ("Light", not "Color mode").
    document.querySelectorAll("button[aria-label] svg title").forEach(function (t) {
      t.parentNode.setAttribute("aria-hidden", "true");
      t.remove();
    });
    document.querySelectorAll(".search-button-field[aria-label]").forEach(function (b) {
      if (b.textContent.trim()) b.removeAttribute("aria-label");
    });
  }

  // 7. "Cite this chapter" (book/_ext/chapter_byline.py): the page's address is
  //    known only where it is read, so it goes into the citation here; the
  //    byline's link opens the folded box.
  function citeThisPage() {
    var box = document.getElementById("lnb-cite");
    if (!box) return;
    var url = location.protocol.indexOf("http") === 0 ? location.origin + location.pathname : "";
    if (url) {
      var pre = box.querySelector(".lnb-cite-bibtex");
      pre.textContent = pre.textContent.replace(/\n\}$/, ",\n  url       = {" + url + "}\n}");
      box.querySelector(".lnb-cite-url").textContent = url;
    }
    var open = function () { if (location.hash === "#lnb-cite") box.open = true; };
    window.addEventListener("hashchange", open);
    open();
    // a button that copies the BibTeX entry (the clipboard API needs https or localhost; elsewhere the
    // entry is selected for the reader's own copy)
    var bib = box.querySelector(".lnb-cite-bibtex"), button = document.createElement("button");
    button.type = "button";
    button.className = "lnb-cite-copy";
    button.textContent = "Copy BibTeX";
    button.addEventListener("click", function () {
      var done = function (text) {
        button.textContent = text;
        setTimeout(function () { button.textContent = "Copy BibTeX"; }, 2000);
      };
      var select = function () {
        var range = document.createRange();
        range.selectNodeContents(bib);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        done("Selected: press Ctrl+C");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(bib.textContent).then(function () { done("Copied"); }, select);
      } else select();
    });
    bib.parentNode.insertBefore(button, bib);
  }

  // 8. The setup cell and its printout (the device, the budget, the seeds) are
  //    for running the chapter, not for reading it: they go into one folded
  //    "Run this chapter" box at the top.
  function runThisChapterBox() {
    var first = document.querySelector(".bd-content div.cell");
    var pre = first && first.querySelector(".cell_input pre");
    if (!pre || pre.textContent.trim().indexOf("# Setup: run this first") !== 0) return;
    var box = document.createElement("details");
    box.className = "lnb-run-box";
    var summary = document.createElement("summary");
    summary.textContent = "Run this chapter: its setup cell";
    var note = document.createElement("p"), code = pre.textContent, printed = first.querySelector(".cell_output");
    var picks = [[/pick_device\(/, "the device"], [/\bBUDGET\s*=/, "the budget"], [/\bSEEDS\s*=/, "the seeds"]]
      .filter(function (p) { return p[0].test(code); }).map(function (p) { return p[1]; });
    var chooses = picks.length ? " and chooses " + (picks.length > 1 ? picks.slice(0, -1).join(", ") + " and " : "") +
      picks[picks.length - 1] : "";
    note.textContent = "Run this cell first in Jupyter or Colab: it installs the book's helpers where they " +
      "are missing" + chooses + "." + (printed && printed.textContent.trim() ? " Below it, what it printed when this page was built." : "");
    first.parentNode.insertBefore(box, first);
    box.appendChild(summary);
    box.appendChild(note);
    box.appendChild(first);
  }

  // 9. Code wider than the column scrolls sideways; on a phone, whose scrollbars
  //    hide, a shadow at the cut edge says there is more (as for equations, 1).
  function markWideCode() {
    // all widths read first, then all classes set: reading a width after a class changed would lay out
    // the page again for every block (215 ms for chapter 2's blocks, in the way of its explorable)
    var blocks = Array.prototype.slice.call(document.querySelectorAll(".bd-content div.highlight > pre"));
    var states = blocks.map(scrollState);
    blocks.forEach(function (el, i) { applyScrollState(el, states[i]); });
  }
  function whenIdle(fn) {  // after the explorables have drawn: a scroll cue can wait, a figure to play with not
    if (window.requestIdleCallback) window.requestIdleCallback(fn, { timeout: 2000 });
    else setTimeout(fn, 300);
  }
  window.addEventListener("resize", markWideCode);
  document.addEventListener("toggle", markWideCode, true);  // code shown by a toggle gets its width now

  // 10. Hover previews: pointing at (or tabbing to) a citation, an equation
  //     number or a figure number shows what it refers to, without leaving
  //     the paragraph: the reference (Sphinx's title attribute), the formula
  //     (MathJax's rendering, cloned) or the figure's caption.
  function previewOf(a) {
    var href = a.getAttribute("href") || "";
    if (href.indexOf("bibliography.html#") !== -1 && a.dataset.lnbRef) {
      var p = document.createElement("p");
      p.textContent = a.dataset.lnbRef;
      return p;
    }
    if (href.charAt(0) !== "#") return null;
    var target = document.getElementById(decodeURIComponent(href.slice(1)));
    if (!target) return null;
    if (target.matches("div.math")) {
      var math = target.querySelector("mjx-container");
      return math ? math.cloneNode(true) : document.createTextNode(target.textContent.trim());
    }
    var caption = target.matches("figure") ? target.querySelector("figcaption") : null;
    if (caption) {  // a copy, formulas typeset as they are, without the caption's "#" link
      var c = caption.cloneNode(true);
      c.querySelectorAll("a.headerlink").forEach(function (h) { h.remove(); });
      c.removeAttribute("id");
      return c;
    }
    return null;
  }
  function hoverPreviews() {
    var tip = document.createElement("div");
    tip.id = "lnb-preview";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    document.body.appendChild(tip);
    var shownFor = null;
    var hide = function () { tip.hidden = true; shownFor = null; };
    var links = document.querySelectorAll('.bd-content a.reference.internal[href*="bibliography.html#"],' +
      '.bd-content a.reference.internal[href^="#equation-"], .bd-content a.reference.internal[href^="#fig-"]');
    links.forEach(function (a) {
      if (a.title) {  // the citation's reference: shown by us, not also by the browser's slow tooltip
        a.dataset.lnbRef = a.title;
        a.removeAttribute("title");
      }
      var show = function () {
        var body = previewOf(a);
        if (!body) return;
        tip.replaceChildren(body);
        tip.hidden = false;
        shownFor = show;
        a.setAttribute("aria-describedby", "lnb-preview");
        var r = a.getBoundingClientRect(), w = Math.min(body.tagName === "MJX-CONTAINER" ? 760 : 448, window.innerWidth - 16);
        tip.style.maxWidth = w + "px";
        tip.style.left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8)) + "px";
        var below = r.bottom + 6, h = tip.getBoundingClientRect().height;
        tip.style.top = (below + h > window.innerHeight && r.top - h - 6 > 0 ? r.top - h - 6 : below) + "px";
      };
      a.addEventListener("mouseenter", show);
      a.addEventListener("focus", show);
      a.addEventListener("mouseleave", hide);
      a.addEventListener("blur", hide);
    });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") hide(); });
    window.addEventListener("scroll", function () { if (shownFor) shownFor(); }, { passive: true });  // follows its link
  }

  // 11. "Back to top": the theme shows it while the reader scrolls up. Once
  //     the scrolling stops it fades out after 3 s (unless pointed at or
  //     focused), so a reader who scrolled back to reread does not find the
  //     end of a caption or a chart's corner under it.
  function backToTopFades() {
    var button = document.getElementById("pst-back-to-top"), timer = null;
    if (!button) return;
    window.addEventListener("scroll", function () {
      button.classList.remove("lnb-away");
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (document.activeElement !== button && !button.matches(":hover")) button.classList.add("lnb-away");
      }, 3000);
    }, { passive: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    backToTopFades();
    hoverPreviews();
    whenIdle(markWideCode);
    runThisChapterBox();
    citeThisPage();
    tidyThemeButtons();
    addSkipLinks();
    whenTypeset();
    stackLongTables();
    inertKernelForms(document);
    patchSearch();
  });
})();
