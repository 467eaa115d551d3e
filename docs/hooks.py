"""MkDocs hooks: fill generated sections into pages at build time, and serve MathJax from the site.

A page containing ``<!-- awmkit:cli -->`` gets the command-line reference (``gen_cli.py``) and one
containing ``<!-- awmkit:benchmarks -->`` gets the benchmark tables (``gen_benchmarks.py``) and one containing
``<!-- awmkit:glance -->`` / ``<!-- awmkit:reproducing -->`` the committed figure reports at a glance and in
full (``gen_reproducing.py``).

The math renderer is vendored at build time from the ``django-static-mathjax`` package (MathJax 3,
Apache-2.0; in the ``docs`` extra): its ``tex-mml-chtml`` bundle, the TeX extensions it loads on
demand, the CHTML output with its WOFF fonts and the accessibility components are added to the site
under ``assets/mathjax/``, so the built site renders formulas with no network (no CDN).
"""

import importlib.resources
import pathlib
import sys

from mkdocs.structure.files import File

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import gen_benchmarks  # noqa: E402
import gen_cli  # noqa: E402
import gen_reproducing  # noqa: E402

MARKERS = {
    "<!-- awmkit:cli -->": gen_cli.render,
    "<!-- awmkit:benchmarks -->": gen_benchmarks.render,
    "<!-- awmkit:glance -->": gen_reproducing.glance,
    "<!-- awmkit:reproducing -->": gen_reproducing.render,
}


def on_page_markdown(markdown, page, config, files):
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    if page.file.src_uri.startswith("results/"):  # a figure's report: coloured PASS / FAIL / N/A
        for status in ("PASS", "FAIL", "N/A"):
            markdown = markdown.replace(f"| **{status}** |", f"| {gen_reproducing.badge(status)} |")
    return markdown


MATHJAX_DIR = "assets/mathjax"
# Of MathJax's es5/ folder: the bundle mkdocs.yml loads and everything it may load lazily.
_MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors", "sre", "LICENSE")


def mathjax_root() -> pathlib.Path:
    """MathJax's ``es5`` folder in the installed ``django-static-mathjax`` package."""
    try:
        root = pathlib.Path(str(importlib.resources.files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / "es5" / "tex-mml-chtml.js").is_file():
        raise RuntimeError(
            "the docs serve MathJax from the site: install the docs extra (pip install -e '.[docs]'), "
            "which has django-static-mathjax"
        )
    return root / "es5"


def on_files(files, config):
    root = mathjax_root()
    sources = [root.parent / "LICENSE"]
    for part in _MATHJAX_PARTS[:-1]:
        path = root / part
        sources += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for path in sources:
        rel = "LICENSE" if path.name == "LICENSE" and path.parent == root.parent else path.relative_to(root)
        files.append(File.generated(config, f"{MATHJAX_DIR}/{rel}", abs_src_path=str(path)))
    return files
