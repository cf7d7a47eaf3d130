"""The built website in a real browser, as a student reads it: Debian's Chromium, driven by
Playwright, at a desktop's width (1280 x 900) and a phone's (390 x 844), with axe-core.

The pages are served from _build/html by a local http.server on 127.0.0.1, and every request
to another host is refused: the website must need nothing from the network (it serves its own
MathJax). Each page is loaded once per width; the tests then read what the browser measured.
Screenshots of every page at both widths land in _build/screenshots/ for a person to look at,
with page-weight.txt (bytes and requests per page).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from book_build import CHAPTER, book  # noqa: F401  (the session's build, a fixture)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COLAB = f"https://colab.research.google.com/github/rnn-course/rnn-course/blob/main/chapters/{CHAPTER}.ipynb"
DESKTOP, PHONE = (1280, 900), (390, 844)
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
MIN_FIGURE_TEXT_PX = 10  # the smallest text a figure may show, as displayed on a desktop
MAX_PAGE_BYTES = 3_000_000  # a chapter page, everything it loads (uncompressed)
MAX_REQUESTS = 45

# axe-core's findings that come from the theme (pydata-sphinx-theme / sphinx-book-theme) and
# that the course cannot fix from its own stylesheet or content: {rule id: why}. Listed in
# README.md. Anything else fails the test.
THEME_OWN: dict[str, str] = {}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


@contextmanager
def serve(folder: Path):
    """An http.server on 127.0.0.1 at a free port, serving `folder`; yields its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Visit:
    """A page's problems and traffic, as the browser reports them."""

    def __init__(self, page, base: str):
        self.base = base
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.local_failures: list[str] = []
        self.external: list[str] = []
        self.finished = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("requestfailed", self._failed)
        page.on("requestfinished", lambda request: self.finished.append(request))
        page.on("response", self._response)

    def is_local(self, url: str) -> bool:
        return url.startswith(self.base)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and not self.is_local(url):
            return  # a refused request to another host: counted in `external`
        self.console_errors.append(f"{message.text} ({url})")

    def _failed(self, request) -> None:
        if self.is_local(request.url):
            self.local_failures.append(request.url)

    def _response(self, response) -> None:
        if self.is_local(response.url) and response.status >= 400:
            self.local_failures.append(f"{response.status} {response.url}")

    def weight(self) -> tuple[int, int]:
        """(bytes, requests) of everything the page loaded."""
        total = 0
        for request in self.finished:
            try:
                total += request.sizes()["responseBodySize"]
            except Exception:  # a request without a body
                pass
        return total, len(self.finished)


def offline(page, visit: Visit) -> None:
    """Refuse every request to another host, and remember it."""

    def handle(route):
        url = route.request.url
        if visit.is_local(url):
            return route.continue_()
        visit.external.append(url)
        return route.abort()

    page.route("**/*", handle)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def toc_pages() -> list[str]:
    from sphinx_external_toc.parsing import parse_toc_yaml

    from conftest import ROOT

    site_map = parse_toc_yaml(ROOT / "_toc.yml")
    return [site_map.root.docname] + [d for d in site_map if d != site_map.root.docname]


PAGES = toc_pages()

# What the browser measures on a page, once MathJax has typeset it.
MEASURE = r"""async () => {
  const article = document.querySelector("article.bd-article") || document.body;
  const code = [...article.querySelectorAll("div.highlight pre, .cell_output pre")]
    .filter(pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => ({over: pre.scrollWidth - pre.clientWidth, text: pre.innerText.split("\n")[0]}));

  const prose = article.cloneNode(true);
  prose.querySelectorAll("pre, code, mjx-container, script, style, .highlight, .cell_output")
    .forEach(el => el.remove());
  const raw = (prose.textContent.match(/\\[A-Za-z]+|\\[_{}]|\$\$?[^$\n]{0,40}/g) || []);

  const images = [...document.querySelectorAll("img")]
    .filter(img => !img.closest("button, .navbar-brand, .bd-header-article .dropdown"))
    .map(img => ({src: img.getAttribute("src"), alt: img.getAttribute("alt"),
                  ok: img.complete && img.naturalWidth > 0,
                  width: img.getBoundingClientRect().width,
                  height: img.getBoundingClientRect().height,
                  figure: !!img.closest(".cell_output")}));

  // The smallest text of each SVG figure as displayed: matplotlib draws text as glyph paths
  // scaled by fontsize / 100 (in the SVG's units), and the image is shown at some width.
  const figures = [];
  for (const img of article.querySelectorAll(".cell_output img")) {
    const src = img.getAttribute("src") || "";
    if (!src.endsWith(".svg")) continue;
    const svg = await (await fetch(img.src)).text();
    const box = svg.match(/viewBox="[-0-9.]+ [-0-9.]+ ([0-9.]+) [0-9.]+"/);
    const scales = [...svg.matchAll(/scale\(([0-9.]+) -\1\)/g)].map(m => parseFloat(m[1]) * 100);
    if (!box || !scales.length) continue;
    const shown = img.getBoundingClientRect().width / parseFloat(box[1]);
    figures.push({src, alt: img.getAttribute("alt"), minTextPx: Math.min(...scales) * shown,
                  shownWidth: img.getBoundingClientRect().width});
  }

  const wide = [...article.querySelectorAll("div.math, .pst-scrollable-table-container")]
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => ({kind: box.matches("div.math") ? "equation" : "table",
                  marked: box.hasAttribute("data-course-scrolls") && box.tabIndex === 0,
                  cue: getComputedStyle(box).backgroundImage.includes("gradient"),
                  scrolls: ["auto", "scroll"].includes(getComputedStyle(box).overflowX)}));
  return {code, raw, images, figures, wide,
          pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          math: document.querySelectorAll("mjx-container").length,
          mathErrors: document.querySelectorAll("mjx-merror").length,
          outputFigures: article.querySelectorAll(".cell_output img, .cell_output svg").length};
}"""


def wait_for_mathjax(page) -> None:
    if page.evaluate("() => !document.querySelector('.math, div.math, span.math')"):
        return  # a page without formulas: Sphinx loads no MathJax there
    try:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
    except Exception:
        pytest.fail(
            "MathJax did not load: the website serves it from _build/html/mathjax/, "
            "copied by `rnn-course book` from the django-static-mathjax package"
        )
    page.evaluate("() => MathJax.startup.promise")


_AUDITS: dict[tuple[str, str], dict] = {}


def audit(book, browser, docname: str, width: str) -> dict:  # noqa: F811
    """Load the page at `width` once, measure it, run axe-core, take its screenshot."""
    key = (docname, width)
    if key in _AUDITS:
        return _AUDITS[key]
    from axe_playwright_python.sync_playwright import Axe

    w, h = WIDTHS[width]
    with serve(book.html) as base:
        context = browser.new_context(viewport={"width": w, "height": h})
        page = context.new_page()
        visit = Visit(page, base)
        offline(page, visit)
        page.goto(f"{base}/{docname}.html", wait_until="load")
        wait_for_mathjax(page)
        page.wait_for_load_state("networkidle")
        page.evaluate("() => Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
        result = page.evaluate(MEASURE)
        result["bytes"], result["requests"] = visit.weight()
        result["urls"] = [r.url.replace(base, "") for r in visit.finished]
        # The page's own errors, before axe-core runs: axe fetches stylesheets itself and
        # resolves an @import against the wrong folder (a 404 that no reader's browser makes).
        result["errors"] = visit.page_errors + visit.console_errors + visit.local_failures
        result["external"] = list(visit.external)
        # axe-core's default rules, and label-content-name-mismatch (marked experimental): a
        # control whose spoken name is not its visible text
        axe = Axe().run(page, options={"rules": {"label-content-name-mismatch": {"enabled": True}}})
        result["axe"] = [
            {"id": v["id"], "help": v["help"], "targets": [", ".join(map(str, n["target"])) for n in v["nodes"]]}
            for v in axe.response["violations"]
        ]
        shots = book.root / "_build" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        target = shots / f"{docname.replace('/', '-')}-{w}.png"
        page.screenshot(path=str(target), full_page=True)
        result["screenshot"] = target
        context.close()
    with (shots / "page-weight.txt").open("a") as log:
        log.write(f"{docname} at {w} px: {result['bytes'] / 1e6:.2f} MB in {result['requests']} requests\n")
    _AUDITS[key] = result
    return result


PAGE_WIDTHS = [(d, w) for d in PAGES for w in WIDTHS]
IDS = [f"{d}@{w}" for d, w in PAGE_WIDTHS]


@pytest.mark.parametrize("docname, width", PAGE_WIDTHS, ids=IDS)
def test_the_page_loads_offline_without_errors(book, browser, docname, width):  # noqa: F811
    found = audit(book, browser, docname, width)
    assert found["external"] == [], "the website must need nothing from the network"
    assert found["errors"] == []
    assert found["mathErrors"] == 0, "MathJax could not parse some math"
    assert found["screenshot"].stat().st_size > 20_000


@pytest.mark.parametrize("docname, width", PAGE_WIDTHS, ids=IDS)
def test_no_raw_tex_in_the_prose(book, browser, docname, width):  # noqa: F811
    assert audit(book, browser, docname, width)["raw"] == []


@pytest.mark.parametrize("docname", PAGES)
def test_code_fits_the_column_on_a_desktop(book, browser, docname):  # noqa: F811
    overflowing = audit(book, browser, docname, "desktop")["code"]
    assert overflowing == [], f"code blocks that scroll sideways at 1280 px: {overflowing}"


@pytest.mark.parametrize("docname, width", PAGE_WIDTHS, ids=IDS)
def test_every_image_has_alt_text_and_loads(book, browser, docname, width):  # noqa: F811
    for image in audit(book, browser, docname, width)["images"]:
        assert image["ok"], f"broken image {image['src']}"
        alt = (image["alt"] or "").strip()
        assert len(alt) >= 8 and "/" not in alt and not re.search(r"\.(svg|png)$", alt), (
            f"{image['src']}: alt text {alt!r} (give the figure cell metadata mystnb.image.alt)"
        )


@pytest.mark.parametrize("docname", PAGES)
def test_figures_are_legible_on_a_desktop(book, browser, docname):  # noqa: F811
    for figure in audit(book, browser, docname, "desktop")["figures"]:
        assert figure["minTextPx"] >= MIN_FIGURE_TEXT_PX, (
            f"a figure shows text of {figure['minTextPx']:.1f} px ({figure['alt']!r}, shown "
            f"{figure['shownWidth']:.0f} px wide): draw it at the size it is shown"
        )


@pytest.mark.parametrize("docname", PAGES)
def test_wide_equations_and_tables_scroll_with_a_cue_on_a_phone(book, browser, docname):  # noqa: F811
    found = audit(book, browser, docname, "phone")
    assert found["pageOverflow"] <= 0, "the page itself scrolls sideways on a phone"
    for box in found["wide"]:
        assert box["scrolls"] and box["cue"] and box["marked"], box


@pytest.mark.parametrize("docname, width", PAGE_WIDTHS, ids=IDS)
def test_axe_finds_nothing_of_the_course_s_making(book, browser, docname, width):  # noqa: F811
    violations = [v for v in audit(book, browser, docname, width)["axe"] if v["id"] not in THEME_OWN]
    assert violations == [], json.dumps(violations, indent=1)


@pytest.mark.parametrize("docname", PAGES)
def test_the_page_is_light(book, browser, docname):  # noqa: F811
    found = audit(book, browser, docname, "desktop")
    assert not any("fontawesome.js" in url for url in found["urls"]), "the icons are loaded twice"
    assert found["bytes"] <= MAX_PAGE_BYTES and found["requests"] <= MAX_REQUESTS, (
        f"{found['bytes']:,} bytes in {found['requests']} requests"
    )


def test_a_chapter_has_its_math_figures_and_buttons(book, browser):  # noqa: F811
    found = audit(book, browser, f"chapters/{CHAPTER}", "desktop")
    assert found["math"] >= 10
    figures = [i for i in found["images"] if i["figure"]]
    assert len(figures) >= 5, "the diagrams and the training plots"
    assert all(i["width"] > 100 and i["height"] > 100 for i in figures), figures


@pytest.fixture(scope="module")
def chapter_page(book, browser):  # noqa: F811
    with serve(book.html) as base:
        context = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]})
        page = context.new_page()
        visit = Visit(page, base)
        offline(page, visit)
        page.goto(f"{base}/chapters/{CHAPTER}.html", wait_until="load")
        yield page
        context.close()


def test_the_launch_and_download_buttons_exist(chapter_page):
    page = chapter_page
    assert page.locator(f'a[href="{COLAB}"]').count() == 1
    download = page.locator("a.btn-download-source-button")
    assert download.count() == 1
    href = download.get_attribute("href")
    assert href.endswith(f"chapters/{CHAPTER}.ipynb")
    response = page.request.get(page.url.rsplit("/", 1)[0] + "/" + href)
    assert response.ok and b'"nbformat"' in response.body()
    assert b"Show the solution" not in response.body()


def test_hints_and_the_solution_unfold_on_a_click(chapter_page):
    page = chapter_page
    hint = page.locator("details.course-hint").first
    assert hint.locator("p").first.is_hidden()
    hint.locator("summary").click()
    assert hint.locator("p").first.is_visible()
    solution = page.locator("details.course-solution").first
    assert solution.get_attribute("open") is None
    assert solution.locator("pre").first.is_hidden()  # a student sees it only after asking
    solution.locator("summary").click()
    assert solution.locator("pre").first.is_visible()


def test_a_figure_opens_full_size(chapter_page):
    link = chapter_page.locator(".cell_output a.course-figure").first
    assert link.get_attribute("href").endswith(".svg")
    assert link.locator("img").count() == 1


CAPTION_GRID_ALT = "Eight test pictures, each with the caption the trained model wrote"


def test_the_captions_chapter_shows_pictures_with_the_captions_written(book, browser):  # noqa: F811
    from autograde.embeddings_captions import scenes

    docname = "chapters/embeddings-captions"
    images = audit(book, browser, docname, "desktop")["images"]
    grids = [i for i in images if (i["alt"] or "").startswith(CAPTION_GRID_ALT)]
    assert len(grids) == 1, "the grid of captioned test pictures is missing (looked for its alt text)"
    grid = grids[0]
    assert grid["ok"] and grid["figure"] and grid["width"] >= 600 and grid["height"] >= 250, grid
    svg = ((book.html / docname).parent / grid["src"]).read_text()
    assert svg.count("data:image/png;base64,") == 8, "the grid shows eight pictures"
    # matplotlib writes each line of text it draws as an XML comment before its glyphs
    text = " ".join(" ".join(line.split()) for line in re.findall(r"<!-- (.*?) -->", svg, re.S))
    assert len(re.findall("[\u2713\u2717]", text)) == 8, "each picture is marked right or wrong"
    _, truths = scenes.load("test", 8)
    for truth in truths:  # above the picture when written right, below it ("true: ...") if not
        assert truth in text, f"the true caption {truth!r} is not in the grid"
