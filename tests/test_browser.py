"""The built website in a real browser: Debian's Chromium, driven by Playwright.

The pages are served from _build/html by a local http.server on 127.0.0.1. Every request
to another host is refused, except MathJax's, which is answered from a local copy of
MathJax 3 when one is installed (the django-static-mathjax package), so the test runs offline.
"""

from __future__ import annotations

import functools
import http.server
import mimetypes
import threading
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

import pytest

from book_build import CHAPTER, book  # noqa: F401  (the session's build, a fixture)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COLAB = ("https://colab.research.google.com/github/rnn-course/rnn-course/blob/main/"
         f"chapters/{CHAPTER}.ipynb")
MATHJAX_ES5 = "/mathjax@3/es5/"  # the path of Sphinx's default MathJax URL on the CDN


def local_mathjax() -> Path | None:
    """MathJax 3's es5 folder from the django-static-mathjax package, if it is installed."""
    try:
        folder = Path(metadata.distribution("django-static-mathjax")
                      .locate_file("mathjax/static/mathjax/es5"))
    except metadata.PackageNotFoundError:
        return None
    return folder if (folder / "tex-mml-chtml.js").is_file() else None


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
    """A page's problems, as the browser reports them."""

    def __init__(self, page, base: str):
        self.base = base
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.local_failures: list[str] = []
        self.external_blocked: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def is_local(self, url: str) -> bool:
        return url.startswith(self.base)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        # a refused request to another host logs "Failed to load resource": not the page's fault
        if "Failed to load resource" in message.text and not self.is_local(url):
            return
        self.console_errors.append(f"{message.text} ({url})")

    def _failed(self, request) -> None:
        (self.local_failures if self.is_local(request.url) else self.external_blocked).append(request.url)

    def _response(self, response) -> None:
        if self.is_local(response.url) and response.status >= 400:
            self.local_failures.append(f"{response.status} {response.url}")


def route_requests(page, base: str) -> None:
    mathjax = local_mathjax()

    def handle(route):
        url = route.request.url
        if url.startswith(base):
            return route.continue_()
        path = urlparse(url).path
        if MATHJAX_ES5 in path:
            if mathjax is None:
                return route.continue_()  # the CDN, where this machine can reach it
            file = mathjax / path.split(MATHJAX_ES5, 1)[1]
            if file.is_file():  # the fonts are cross-origin requests: CORS must allow them
                return route.fulfill(body=file.read_bytes(), status=200,
                                     content_type=mimetypes.guess_type(file.name)[0] or "",
                                     headers={"Access-Control-Allow-Origin": "*"})
        return route.abort()

    page.route("**/*", handle)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def chapter(book, browser):  # noqa: F811
    """The chapter page, loaded and typeset: (page, visit)."""
    with serve(book.html) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        route_requests(page, base)
        visit = Visit(page, base)
        page.goto(f"{base}/chapters/{CHAPTER}.html", wait_until="load")
        wait_for_mathjax(page)
        yield page, visit
        context.close()


def wait_for_mathjax(page) -> None:
    try:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=30_000)
    except Exception:
        pytest.fail("MathJax did not load. The pages take it from the CDN; offline, this test "
                    "serves it from the django-static-mathjax package: pip install "
                    "django-static-mathjax==3.2.2.1")
    page.evaluate("() => MathJax.startup.promise")


def test_math_is_typeset(chapter):
    page, _ = chapter
    assert page.locator("mjx-container").count() >= 10
    assert page.locator("mjx-merror").count() == 0, "MathJax could not parse some math"


def test_every_image_has_a_size(chapter):
    page, visit = chapter
    page.evaluate("""() => Promise.all([...document.images].map(
        img => img.decode().catch(() => null)))""")
    broken = page.evaluate("""() => [...document.images]
        .filter(img => !(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0))
        .map(img => img.getAttribute('src'))""")
    assert broken == [], f"broken images: {broken}; failed requests: {visit.local_failures}"
    figures = page.evaluate("""() => [...document.querySelectorAll(
            '.cell_output img, .cell_output svg')]
        .filter(el => !el.closest('button'))  // the copy buttons' icons
        .map(el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; })""")
    assert len(figures) >= 5, "the diagrams and the training plots"
    assert all(width > 100 and height > 100 for width, height in figures), figures


def test_the_launch_and_download_buttons_exist(chapter):
    page, _ = chapter
    assert page.locator(f'a[href="{COLAB}"]').count() == 1
    download = page.locator("a.btn-download-source-button")
    assert download.count() == 1
    href = download.get_attribute("href")
    assert href.endswith(f"chapters/{CHAPTER}.ipynb")
    response = page.request.get(page.url.rsplit("/", 1)[0] + "/" + href)
    assert response.ok and b'"nbformat"' in response.body()


def test_no_errors_that_matter(chapter):
    _, visit = chapter
    assert visit.page_errors == []
    assert visit.console_errors == []
    assert visit.local_failures == []


def test_screenshot(book, chapter):  # noqa: F811
    page, _ = chapter
    target = book.root / "_build" / "screenshots" / f"{CHAPTER}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000


def toc_pages() -> list[str]:
    from sphinx_external_toc.parsing import parse_toc_yaml

    from conftest import ROOT

    site_map = parse_toc_yaml(ROOT / "_toc.yml")
    return [site_map.root.docname] + [d for d in site_map if d != site_map.root.docname]


@pytest.mark.parametrize("docname", toc_pages())
def test_every_page_loads_with_its_math_and_images(book, browser, docname):  # noqa: F811
    with serve(book.html) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        route_requests(page, base)
        visit = Visit(page, base)
        page.goto(f"{base}/{docname}.html", wait_until="load")
        wait_for_mathjax(page)
        page.evaluate("() => Promise.all([...document.images].map(img => img.decode().catch(() => null)))")
        broken = page.evaluate("""() => [...document.images]
            .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute('src'))""")
        assert broken == [], broken
        assert page.locator("mjx-merror").count() == 0, "MathJax could not parse some math"
        assert visit.page_errors == [] and visit.console_errors == [] and visit.local_failures == []
        if docname.startswith("chapters/"):
            assert page.locator("mjx-container").count() >= 5
            assert page.locator(".cell_output img, .cell_output svg").count() >= 2  # a diagram, a training plot
        if docname == "reference-results":
            assert page.locator("table").first.inner_text().count("\n") >= 7  # d2l's seven models
        target = book.root / "_build" / "screenshots" / f"{docname.replace('/', '-')}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target), full_page=True)
        context.close()
