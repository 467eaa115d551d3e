"""The documentation stays complete and correct: every public name has an API entry, every Python
snippet on the prose pages runs, the generated CLI and benchmark sections cover what exists, and every
gallery example has its page, figure and code include."""

import importlib
import json
import pathlib
import pkgutil
import re
import subprocess
import sys
import types

import pytest

import awmkit

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(ROOT / "examples"))

import gen_benchmarks  # noqa: E402
import gen_cli  # noqa: E402
import make_gallery  # noqa: E402


def _public_namespaces() -> list[types.ModuleType]:
    """``awmkit`` and each of its public submodules (``cli`` is documented on its own page)."""
    modules = [awmkit]
    for info in pkgutil.iter_modules(awmkit.__path__):
        if not info.name.startswith("_") and info.name != "cli":
            modules.append(importlib.import_module(f"awmkit.{info.name}"))
    return modules


def _public_names(module: types.ModuleType) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name in dir(module):
        obj = getattr(module, name)
        if name.startswith("_") or isinstance(obj, types.ModuleType):
            continue
        # Plain modules (e.g. awmkit/policies.py) also hold their imports: keep only their own names.
        if not hasattr(module, "__path__") and getattr(obj, "__module__", module.__name__) != module.__name__:
            continue
        names.append(name)
    return names


def test_every_public_name_is_in_the_api_reference():
    api = "\n".join(p.read_text() for p in sorted((DOCS / "api").glob("*.md")))
    documented = set(re.findall(r"^::: ([\w.]+)", api, flags=re.MULTILINE))
    missing = [
        f"{module.__name__}.{name}"
        for module in _public_namespaces()
        for name in _public_names(module)
        if f"{module.__name__}.{name}" not in documented
    ]
    assert not missing, f"public names missing from docs/api/*.md: {missing}"
    assert "awmkit.envs.make" in documented  # the check itself sees the pages


def test_api_reference_points_at_existing_objects():
    api = "\n".join(p.read_text() for p in sorted((DOCS / "api").glob("*.md")))
    for path in re.findall(r"^::: ([\w.]+)", api, flags=re.MULTILINE):
        module_name, _, name = path.rpartition(".")
        module = importlib.import_module(module_name)
        assert hasattr(module, name), f"docs/api lists {path}, which does not exist"


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    missing = [p for p in pages if p not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


# Pages whose ```python blocks form one runnable script each (blocks on a page build on each other;
# illustrative fragments that cannot run alone are fenced ```py instead). Pages that train models or
# policies are in the slow group.
SNIPPET_PAGES = sorted(
    ["getting-started.md", "faq.md"] + [f"envs/{p.name}" for p in (DOCS / "envs").glob("*.md")]
)
SLOW_SNIPPET_PAGES = ["models.md", "bpo.md", "diagnostics.md", "baselines.md", "sweeps.md"]
SLOW_SNIPPET_PAGES.append("ssm.md")
SLOW_SNIPPET_PAGES.append("logging.md")  # trains a tiny BPO run with both loggers


def _python_blocks(page: str) -> str:
    text = (DOCS / page).read_text()
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", text, flags=re.MULTILINE | re.DOTALL)
    # Blocks indented inside lists or admonitions are dedented by their fence's indentation.
    return "\n".join(
        "\n".join(line[len(indent) :] for line in body.splitlines())
        for indent, body in blocks
        if "--8<--" not in body
    )


def test_snippets_found():
    assert "awmkit.envs.make" in _python_blocks("getting-started.md")
    assert "register" in _python_blocks("envs/custom.md")


def _run_snippets(pages, tmp_path):
    # One fresh interpreter (as a user would run them, without pytest's runtime type-checking hook),
    # one fresh namespace per page.
    scripts = {page: _python_blocks(page) for page in pages}
    runner = tmp_path / "run_snippets.py"
    runner.write_text(
        "import json, sys, traceback\n"
        "scripts = json.load(open(sys.argv[1]))\n"
        "failed = []\n"
        "for page, code in scripts.items():\n"
        "    try:\n"
        "        exec(compile(code, page, 'exec'), {'__name__': '__snippet__'})\n"
        "    except Exception:\n"
        "        failed.append(page)\n"
        "        traceback.print_exc()\n"
        "print('FAILED', json.dumps(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    (tmp_path / "scripts.json").write_text(json.dumps(scripts))
    result = subprocess.run(
        [sys.executable, str(runner), str(tmp_path / "scripts.json")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


def test_prose_snippets_run(tmp_path):
    _run_snippets(SNIPPET_PAGES, tmp_path)


@pytest.mark.slow
def test_slow_prose_snippets_run(tmp_path):
    _run_snippets(SLOW_SNIPPET_PAGES, tmp_path)


def test_every_snippet_page_is_checked():
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "```python" in p.read_text()]
    unchecked = (
        set(pages)
        - set(SNIPPET_PAGES)
        - set(SLOW_SNIPPET_PAGES)
        - {f"examples/{p.name}" for p in (DOCS / "examples").glob("*.md")}
        # Run by docs/gen_recipes.py; tests/test_docs_recipes.py checks the recordings.
        - {f"recipes/{p.name}" for p in (DOCS / "recipes").glob("*.md")}
    )
    assert not unchecked, f"pages with ```python blocks that no test runs: {sorted(unchecked)}"


def test_getting_started_shows_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.DOTALL)[:2]
    assert len(commands) == 2
    page = (DOCS / "getting-started.md").read_text()
    for command in commands:
        assert command in page, f"docs/getting-started.md lacks the README command {command!r}"


def test_cli_reference_covers_every_subcommand():
    from awmkit.cli import _COMMANDS

    text = gen_cli.render()
    for name in _COMMANDS:
        assert f"## `awmkit {name}`" in text
        assert f"usage: awmkit {name}" in text
    assert "<!-- awmkit:cli -->" in (DOCS / "cli.md").read_text()


def test_benchmark_tables_cover_every_results_file(tmp_path):
    assert "No benchmark results" in gen_benchmarks.render(tmp_path)
    (tmp_path / "b.json").write_text(
        json.dumps(
            {
                "benchmark": "toy_bench",
                "machine": {"cpu_count": 2},
                "results": [
                    {"env": "a", "euler": {"err": 0.123456}, "times": [1, 2]},
                    {"env": "b|c", "extra": True},
                ],
            }
        )
    )
    (tmp_path / "a.json").write_text(json.dumps({"rows": []}))
    text = gen_benchmarks.render(tmp_path)
    assert "Files with no rows: `benchmarks/results/a.json`" in text and "## a\n" not in text
    # Readable headers; a nested object gets a table of its own, the identifying column repeated.
    assert "| env | euler: err |" in text and "| env | times | extra |" in text
    assert "| b\\|c | true |" not in text and "| b\\|c | - | true |" in text
    assert "| a | 0.1235 |" in text and "| a | 1, 2 | - |" in text
    assert "cpu_count 2" in text and "long" not in text
    (tmp_path / "c.json").write_text(
        json.dumps(
            {"benchmark": "by_model", "models": {"m1": {"t": 1.0, "long": list(range(20))}, "m2": {"t": 2.0}}}
        )
    )
    text = gen_benchmarks.render(tmp_path)
    assert "| name | t |" in text and "| m1 | 1 |" in text and "| m2 | 2 |" in text
    real = gen_benchmarks.render()
    for path in sorted(gen_benchmarks.RESULTS.glob("*.json")):
        assert f"benchmarks/results/{path.name}" in real


def test_benchmarks_page_is_curated_and_flags_noise(tmp_path):
    """Every committed results file has a curated spec (one short table, a takeaway, machine and date);
    a negative time is flagged, never printed as a number; a GPU file is shown beside its CPU one."""
    real = gen_benchmarks.render()
    for path in sorted(gen_benchmarks.RESULTS.glob("*.json")):
        assert gen_benchmarks._key(path)[0] in gen_benchmarks.SPECS, f"{path.name} has no spec"
    assert "holds no rows" not in real
    row = {"env": "cancer_treatment", "model": "markovian", "horizon": 100, "seeds": 10, "collect_s": 0.1,
           "model_update_s": -0.044, "policy_update_s": 0.02, "paper_budget": {"hours": -1.07}}  # fmt: skip
    for dev in ("cpu", "gpu"):
        (tmp_path / f"bpo_throughput_{dev}.json").write_text(
            json.dumps({"results": [row], "note": f"n-{dev}"})
        )
    text = gen_benchmarks.render(tmp_path)
    assert "-0.044" not in text and "-1.07" not in text and text.count(gen_benchmarks.NOISE) >= 4
    assert text.index("*CPU:") < text.index("*GPU:") and "n-cpu" in text and "n-gpu" in text
    assert "`bpo_throughput_gpu.json`, shown beside the CPU ones" in text


def test_gallery_is_complete():
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py")} - {"make_gallery"}
    assert scripts == set(make_gallery.EXAMPLES), "examples/*.py and make_gallery.EXAMPLES differ"
    index = (DOCS / "examples" / "index.md").read_text()
    for name in make_gallery.EXAMPLES:
        page = (DOCS / "examples" / f"{name}.md").read_text()
        assert f'--8<-- "examples/{name}.py"' in page
        assert f"img/{name}.png" in page
        assert (DOCS / "examples" / "img" / f"{name}.png").stat().st_size > 10_000
        assert f"({name}.md)" in index
        source = (ROOT / "examples" / f"{name}.py").read_text()
        assert '"--quick"' in source and '"--out"' in source and f"docs/examples/img/{name}.png" in source


@pytest.mark.parametrize("page", ["index.md", "examples/double_pendulum_gradient_norm.md"])
def test_pages_reference_existing_images(page):
    text = (DOCS / page).read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images
    for image in images:
        assert ((DOCS / page).parent / image).exists(), image
