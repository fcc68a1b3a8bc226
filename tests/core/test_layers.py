"""The package's layers: no module imports a higher layer (not even inside a function), and no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "src" / "emscale"

# Lowest first. Operation packages share one layer; they may use each other but never the workflows above them.
LAYERS = {
    "core": 0,
    "engine": 1,
    "io": 2,
    "spectroscopy": 3, "decomposition": 3, "plotting": 3, "tomography": 3, "sampling": 3, "inpainting": 3,
    "viewer": 3,
    "workflows": 4,
    "__init__": 5,  # the public API: imports every operation package so that each declares its operations
    "cli": 6,
    "__main__": 7,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in LAYERS:
        raise AssertionError(f"{module}: package {top!r} has no layer; add it to LAYERS in {__file__}")
    return LAYERS[top]


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every emscale module ``module`` imports, at module level or inside functions."""
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "emscale"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "emscale":
                continue
            for a in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m != module}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: {t for t in _imports(m, p, known) if t in known} for m, p in known.items()}


def test_every_package_has_a_layer():
    for m in _modules():
        _layer(m)


def test_no_module_imports_a_higher_layer():
    upward = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
              for m, targets in _graph().items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    # A test that cannot fail is a defect: the walker must flag an upward import hidden in a function.
    fake = tmp_path / "emscale" / "core"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("def f():\n    from ..workflows import demo\n    from . import y\n")
    found = _imports("emscale.core.x", fake / "x.py", {"emscale.workflows.demo": Path(), "emscale.core.y": Path()})
    assert found == {"emscale.workflows.demo", "emscale.core.y"}
    with pytest.raises(AssertionError, match="has no layer"):
        _layer("emscale.nowhere.z")
