"""The package's imports flow one way (README: Files): every module imports only modules of
earlier layers, inside functions too (a lazy import is still an import), and nothing imports
itself back through a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sentvae"

# Left to right: a module may import only modules to its left. `summarize` is a subpackage: its
# modules form one layer (inside it, only the no-cycle rule applies).
LAYERS = ["errors", "config", "text", "corpus", "tokenizer", "data", "splits", "noise", "cross_entropy", "tied_adaptive", "model", "objective",
          "prior", "likelihood", "latent", "metrics", "decoding", "checkpoint", "pipeline", "quality", "evaluate", "distributed", "kernel_cache", "step", "run", "signals",
          "train", "plot", "summarize", "cli", "__main__"]


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PACKAGE.parent).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The sentvae modules that `path` imports, at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sentvae":
                continue
            found.add(target)
            for alias in node.names:  # `from . import x` where x is a module
                if (PACKAGE.parent / target.replace(".", "/") / f"{alias.name}.py").exists():
                    found.add(f"{target}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "sentvae")
    found.discard(name)
    return found


GRAPH = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1


def test_every_module_has_a_layer():
    assert [m for m in GRAPH if m != "sentvae" and _layer(m) < 0] == []


def _not_to_the_left(module: str, imports: set[str]) -> list[str]:
    return sorted(target for target in imports if target != "sentvae"
                  and target.split(".")[:2] != module.split(".")[:2]  # the same subpackage
                  and _layer(target) >= _layer(module))


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "sentvae"))
def test_imports_only_flow_left(module):
    wrong = _not_to_the_left(module, GRAPH[module])
    assert wrong == [], f"{module} imports {wrong}, which are not to its left in {LAYERS}"


def test_no_import_cycle():
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(trail + [module])}"
        state[module] = "open"
        for target in GRAPH.get(module, ()):
            if target in GRAPH and target != "sentvae":
                visit(target, trail + [module])
        state[module] = "done"

    for module in GRAPH:
        visit(module, [])


def test_the_checks_see_a_lazy_import_that_flows_right(tmp_path):
    """The rule can fail: an import inside a function, of a module to the right, is caught."""
    source = tmp_path / "sentvae" / "model.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from .pipeline import VAEPipeline\n")
    globals()["PACKAGE"] = source.parent
    try:
        imports = _imports(source)
    finally:
        globals()["PACKAGE"] = Path(__file__).resolve().parent.parent / "sentvae"
    assert imports == {"sentvae.pipeline"}
    assert _not_to_the_left("sentvae.model", imports) == ["sentvae.pipeline"]
