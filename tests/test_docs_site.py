"""The built documentation site works offline: no page loads a script, stylesheet, font or image from
outside the site (MathJax and its fonts are vendored into it by ``docs/hooks.py``; Material's Google
Fonts are off), and, where Chromium is installed, formulas render with the network unavailable. Every
link between pages resolves; "Reproducing the paper" opens with the tally; no report shows a Python
literal where a reader expects prose; figures zoom with the site's own GLightbox."""

import functools
import html.parser
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading

import pytest

# One build per test session: the tests of this module share a worker (pytest-xdist --dist loadgroup).
pytestmark = pytest.mark.xdist_group("docs_site")

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXTERNAL = re.compile(r"^(https?:)?//", re.IGNORECASE)
# Attributes through which a page loads something (links to other sites, <a href>, are fine).
_LOADS = {"script": "src", "img": "src", "source": "src", "iframe": "src", "video": "src", "audio": "src"}
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)|@import\s+["']([^"']+)""")


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> pathlib.Path:
    """One ``mkdocs build --strict`` of this checkout per test session."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


class _Loads(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in _LOADS and attrs.get(_LOADS[tag]):
            self.urls.append(attrs[_LOADS[tag]])
        if tag == "link" and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower()
            if any(
                r in rel for r in ("stylesheet", "preload", "preconnect", "icon", "modulepreload", "manifest")
            ):
                self.urls.append(attrs["href"])
        if attrs.get("style"):
            self.urls += [a or b for a, b in _CSS_URL.findall(attrs["style"])]


def test_no_page_loads_anything_from_outside_the_site(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    offenders = []
    for page in pages:
        parser = _Loads()
        text = page.read_text()
        parser.feed(text)
        for style in re.findall(r"<style[^>]*>(.*?)</style>", text, re.DOTALL):
            parser.urls += [a or b for a, b in _CSS_URL.findall(style)]
        offenders += [f"{page.relative_to(site)}: {url}" for url in parser.urls if EXTERNAL.match(url)]
    for sheet in sorted(site.rglob("*.css")):
        for a, b in _CSS_URL.findall(sheet.read_text()):
            if EXTERNAL.match(a or b):
                offenders.append(f"{sheet.relative_to(site)}: {a or b}")
    assert not offenders, "external assets:\n" + "\n".join(offenders)


def test_mathjax_and_its_fonts_are_served_from_the_site(site):
    mathjax = site / "assets" / "mathjax"
    assert (mathjax / "tex-mml-chtml.js").stat().st_size > 500_000
    assert (mathjax / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").is_file()
    assert (mathjax / "input" / "tex" / "extensions" / "physics.js").is_file()  # autoloaded packages
    assert "Apache License" in (mathjax / "LICENSE").read_text()
    page = (site / "bpo" / "index.html").read_text()
    assert 'src="../assets/mathjax/tex-mml-chtml.js"' in page
    assert 'class="arithmatex"' in page  # the page has formulas for it to render


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_formulas_render_offline_in_chromium(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/concepts/"
        dom = subprocess.run(
            [
                _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                # Every host but this server is unreachable: the page must need nothing else.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://0.0.0.0:9",
                "--proxy-bypass-list=127.0.0.1", "--virtual-time-budget=20000", "--dump-dom", url,
            ],
            capture_output=True, text=True, timeout=300,
        ).stdout  # fmt: skip
    finally:
        server.shutdown()
    # MathJax replaced every TeX formula (``<span class="arithmatex">\(...\)</span>``) by CHTML.
    assert dom.count("<mjx-container") >= 50, dom[:2000]
    assert not re.search(r'class="arithmatex">\s*\\[(\[]', dom), "formulas left as raw TeX"


class _Text(html.parser.HTMLParser):
    """The visible text of a page's article and the href of every link in it."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # inside <article>
        self.skip = 0  # inside <script>/<style>
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.depth += tag == "article"
        self.skip += tag in ("script", "style")
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        self.depth -= tag == "article" and self.depth > 0
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if self.depth and not self.skip and data.strip():
            self.text.append(data.strip())


def _parse(page: pathlib.Path) -> _Text:
    parser = _Text()
    parser.feed(page.read_text())
    return parser


def test_every_link_between_pages_resolves(site):
    broken = []
    for page in sorted(site.rglob("*.html")):
        if "assets" in page.relative_to(site).parts:
            continue
        for href in _parse(page).links:
            if EXTERNAL.match(href) or href.startswith(("#", "mailto:", "javascript:", "data:")):
                continue
            path = href.split("#")[0].split("?")[0]
            base = site if path.startswith("/") else page.parent  # 404.html links from the site root
            target = (base / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {href}")
    assert not broken, "links to missing pages:\n" + "\n".join(broken[:40])


def test_reproducing_page_opens_with_the_tally(site):
    sys.path.insert(0, str(ROOT))
    from awmkit.experiments._glance import collect_reports, tally

    totals = tally(collect_reports(ROOT / "docs" / "results"))["small"]
    page = site / "reproducing" / "index.html"
    words = " ".join(_parse(page).text).split()
    first_screen = " ".join(words[:120])  # the heading, two sentences, then the tally
    expected = (
        f"PASS {totals['PASS']} FAIL {totals['FAIL']} N/A {totals['N/A']} claims over {totals['figures']}"
    )
    assert expected in first_screen, first_screen
    html_text = page.read_text()
    # A thumbnail per figure linking to its report, before the methodology.
    glance, _, rest = html_text.partition('id="how-it-works"')
    assert rest, "the methodology section is missing"
    for name in ("figure2", "figure5a", "figure10"):
        assert f'href="../results/{name}/small/report/"' in glance and f"{name}.png" in glance
    assert glance.count('class="awm-badge awm-pass"') >= totals["PASS"]
    for home in ("index.html", "getting-started/index.html", "faq/index.html"):
        assert "reproducing/#results-at-a-glance" in (site / home).read_text(), home
    assert "docs/reproducing.md#results-at-a-glance" in (ROOT / "README.md").read_text()


_LITERAL = re.compile(r"\[\s*['\"]|\{\s*['\"]|\[\d+(,\s*\d+)*\]")


def test_no_report_shows_a_python_literal_in_ours(site):
    pages = sorted(site.glob("results/*/small/report/index.html")) + [site / "reproducing" / "index.html"]
    assert len(pages) >= 12
    for page in pages:
        rows = re.findall(r"<tr>(.*?)</tr>", page.read_text(), re.DOTALL)
        claims = [r for r in rows if "awm-badge" in r]
        assert claims, page
        for row in claims:
            ours = re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)[-1])
            assert not _LITERAL.search(html.unescape(ours)), f"{page.relative_to(site)}: {ours}"


def test_figures_zoom_with_the_sites_own_lightbox(site):
    assert (site / "assets" / "javascripts" / "glightbox.min.js").stat().st_size > 10_000
    page = (site / "examples" / "return_landscapes" / "index.html").read_text()
    assert 'class="glightbox"' in page and "glightbox.min.js" in page
    gallery = (site / "examples" / "index.html").read_text()
    assert gallery.count('class="awm-card"') == 9 and gallery.count("img/") >= 9
