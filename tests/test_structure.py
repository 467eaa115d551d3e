"""The package's layout: no import circles (every import counted, module-level or inside a function,
package faces followed), and ``import awmkit`` loads neither the experiments nor the optional extras."""

import ast
import json
import pathlib
import subprocess
import sys

import awmkit

ROOT = pathlib.Path(awmkit.__file__).parent


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(("awmkit", *path.relative_to(ROOT).with_suffix("").parts))
        mods[name.removesuffix(".__init__")] = path
    return mods


def _targets(mods, module: str, node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    parts = module.split(".") if mods[module].name == "__init__.py" else module.split(".")[:-1]
    if node.level:
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]


def _graph() -> dict[str, set[str]]:
    """Implementation files -> the implementation files they import; an import of a package face
    counts as importing every file the face (transitively) re-exports."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(mods, m, node):
                    while t not in mods and "." in t:
                        t = t.rsplit(".", 1)[0]
                    if t in mods and t != m:
                        edges[m].add(t)
    is_face = lambda m: mods[m].name == "__init__.py"  # noqa: E731
    graph = {}
    for m in (m for m in mods if not is_face(m)):
        out, stack, seen = set(), [t for t in edges[m]], set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            if is_face(t):
                stack.extend(edges[t])
            elif t != m:
                out.add(t)
        graph[m] = out
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.add(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        out.append(component)
    return out


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [{"a", "b", "c"}]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    graph = _graph()
    assert "awmkit.experiments._figures._registry" in graph  # the walk sees the sub-packages
    assert "awmkit.experiments._figures._spec" in graph["awmkit.experiments._figures._pendulum"]
    circles = _circles(graph)
    assert not circles, f"import circles: {[sorted(c) for c in circles]}"


def test_import_awmkit_loads_no_experiment_plotting_or_ray():
    code = (
        "import json, sys\n"
        "def loaded(*prefixes):\n"
        "    return sorted(m for m in sys.modules if m.split('.')[0] in prefixes or m.startswith(prefixes))\n"
        "import awmkit\n"
        "after_awmkit = loaded('awmkit.experiments', 'awmkit.plotting', 'matplotlib', 'ray')\n"
        "import awmkit.experiments, awmkit.cli\n"
        "awmkit.cli.build_parser()\n"
        "after_cli = loaded('matplotlib', 'ray')\n"
        "print(json.dumps([after_awmkit, after_cli, type(awmkit.experiments.figures).__name__]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    after_awmkit, after_cli, figures_type = json.loads(out.stdout.strip().splitlines()[-1])
    assert after_awmkit == [], f"`import awmkit` loaded {after_awmkit}"
    assert after_cli == [], f"the experiments and the CLI parser loaded {after_cli}"
    # The public function awmkit.experiments.figures is not shadowed by a sub-package of that name.
    assert figures_type == "function"
