"""MkDocs hooks: fill generated sections into pages at build time.

A page containing ``<!-- awmkit:cli -->`` gets the command-line reference (``gen_cli.py``) and one
containing ``<!-- awmkit:benchmarks -->`` gets the benchmark tables (``gen_benchmarks.py``) and one containing
``<!-- awmkit:reproducing -->`` the committed figure reports (``gen_reproducing.py``).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import gen_benchmarks  # noqa: E402
import gen_cli  # noqa: E402
import gen_reproducing  # noqa: E402

MARKERS = {
    "<!-- awmkit:cli -->": gen_cli.render,
    "<!-- awmkit:benchmarks -->": gen_benchmarks.render,
    "<!-- awmkit:reproducing -->": gen_reproducing.render,
}


def on_page_markdown(markdown, page, config, files):
    for marker, render in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
