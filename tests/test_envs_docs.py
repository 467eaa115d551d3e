"""Every ```python snippet in the docstrings of awmkit.envs runs."""

import inspect
import re

import jax
import pytest

import awmkit.envs

_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _docstrings():
    seen = set()
    yield "awmkit.envs", awmkit.envs.__doc__ or ""
    for name in sorted(dir(awmkit.envs)):
        obj = getattr(awmkit.envs, name)
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        yield f"awmkit.envs.{name}", inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and not attr.startswith("_") and member not in seen:
                    seen.add(member)
                    yield f"awmkit.envs.{name}.{attr}", inspect.getdoc(member) or ""


SNIPPETS = [
    pytest.param(code, id=f"{where}[{i}]")
    for where, doc in _docstrings()
    for i, code in enumerate(_BLOCK.findall(doc))
]


def test_every_system_has_a_snippet():
    documented = {p.id.split("[")[0] for p in SNIPPETS}
    for name in awmkit.envs.registered():
        cls = type(awmkit.envs.make(name, 2).problem).__name__
        assert f"awmkit.envs.{cls}" in documented, cls
        assert inspect.getdoc(getattr(awmkit.envs, cls)).rstrip().endswith("```"), cls


@pytest.mark.parametrize("code", SNIPPETS)
def test_snippet_runs(code):
    namespace = {"__name__": "snippet"}
    exec(compile(code, "<docstring snippet>", "exec"), namespace)
    # Anything the snippet computed is finite and fully evaluated.
    for value in namespace.values():
        if isinstance(value, jax.Array):
            assert bool(jax.numpy.all(jax.numpy.isfinite(value)))
