"""The import structure of every package: no circles, no private names across packages, core's layers.

The imports are read from the source (``ast``), so deferred imports inside
functions count as much as module-level ones, and no framework has to be
installed to check a package that uses one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCE_ROOTS = sorted([*REPO.glob("packages/*/src"), *REPO.glob("examples/*/src")])


@dataclass(frozen=True)
class Import:
    """One imported module (and, for ``from m import n``, the name ``n``), at a line of a file."""

    importer: str
    target: str
    name: str | None
    line: int


def module_files(roots: Iterable[Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the source roots."""
    out: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def is_package(modules: dict[str, Path], name: str) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def own_package(modules: dict[str, Path], name: str) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to the package itself)."""
    return name if is_package(modules, name) else name.rpartition(".")[0]


def imports_of(modules: dict[str, Path], name: str) -> Iterator[Import]:
    """Every import statement of module ``name``, wherever it appears in the file."""
    tree = ast.parse(modules[name].read_text(), filename=str(modules[name]))
    package = own_package(modules, name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "__future__":
                continue
            for alias in node.names:
                yield Import(name, target, alias.name, node.lineno)


def edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the repository modules whose code runs when it imports what it imports.

    ``from p import m`` runs ``p`` and, when ``m`` is a module, ``p.m``; importing
    ``a.b.c`` also runs the packages ``a.b`` and ``a`` unless the importer is
    already inside them.
    """
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name in modules:
        ancestors = set()
        pkg = own_package(modules, name)
        while pkg:
            ancestors.add(pkg)
            pkg = pkg.rpartition(".")[0]
        for imp in imports_of(modules, name):
            sub = f"{imp.target}.{imp.name}" if imp.name is not None else ""
            target = sub if sub in modules else imp.target
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != name and (prefix not in ancestors or prefix == target):
                    graph[name].add(prefix)
    for name in graph:
        graph[name].discard(name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` for every strongly connected component with more than one module.

    Each component may hold more circles; the one shown runs through its first module.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_through(graph, set(c), c[0]) for c in components]


def _cycle_through(graph: dict[str, set[str]], members: set[str], start: str) -> list[str]:
    """A shortest path from ``start`` back to itself inside one component (breadth first)."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    chain = [v]
                    while chain[-1] != start:
                        chain.append(parents[chain[-1]])
                    return [*reversed(chain), start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_imports(modules: dict[str, Path], root: Path = REPO) -> list[str]:
    """Imports of a private name from another module, or of a private module from outside its package."""
    problems = []
    for name in modules:
        package = own_package(modules, name)
        for imp in imports_of(modules, name):
            where = f"{modules[name].relative_to(root)}:{imp.line}"
            full = imp.target
            if imp.name is not None:
                sub = f"{imp.target}.{imp.name}"
                if sub in modules:
                    full = sub
                elif _private(imp.name):
                    problems.append(f"{where}: {name} imports the private name {imp.name!r} from {imp.target}")
                    continue
            parts = full.split(".")
            for i, part in enumerate(parts):
                if _private(part):
                    home = ".".join(parts[:i])
                    if home != package:
                        problems.append(
                            f"{where}: {name} imports the private module {'.'.join(parts[: i + 1])} "
                            f"from outside its package {home}"
                        )
                    break
    return list(dict.fromkeys(problems))


# -- the rules, on the repository ---------------------------------------------------------------

MODULES = module_files(SOURCE_ROOTS)


def test_the_walk_sees_every_package():
    tops = {".".join(m.split(".")[:2]) for m in MODULES if m.startswith("recosim.")}
    assert {"recosim.core", "recosim.library", "recosim.tf", "recosim.jax", "recosim.usecases"} <= tops
    assert "recosim_example_plugin.plugin" in MODULES


def test_no_import_circles():
    graph = edges(MODULES)
    cycles = find_cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_imported_across_packages():
    problems = private_imports(MODULES)
    assert not problems, "\n".join(problems)


def _layers_from_docs() -> list[tuple[int, set[str]]]:
    """The layer table of docs/architecture.md: ``(layer number, core modules)`` rows."""
    text = (REPO / "docs" / "architecture.md").read_text()
    rows = []
    for line in text.splitlines():
        match = re.match(r"\|\s*(\d)\s+[^|]*\|([^|]*)\|", line)
        if match:
            rows.append((int(match.group(1)), set(re.findall(r"`([\w.]+)`", match.group(2)))))
    return rows


def test_core_modules_import_only_their_own_layer_or_lower():
    rows = _layers_from_docs()
    assert rows, "docs/architecture.md has no layer table"
    layer_of: dict[str, int] = {}
    for number, names in rows:
        for short in names:
            module = "recosim.core" if short == "__init__" else f"recosim.core.{short}"
            assert module not in layer_of, f"{short} is in two layers"
            layer_of[module] = number
    core = {m for m in MODULES if m == "recosim.core" or m.startswith("recosim.core.")}
    def layer(module: str) -> int | None:
        """The layer of a core module, or of the core subpackage (``plugins``) holding it."""
        while module not in layer_of and module.count(".") > 2:
            module = module.rpartition(".")[0]
        return layer_of.get(module)

    unplaced = sorted(m for m in core if layer(m) is None)
    assert not unplaced, f"core modules missing from the layer table of docs/architecture.md: {unplaced}"

    graph = edges(MODULES)
    upward = [
        f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
        for m in sorted(core)
        for t in sorted(graph[m])
        if layer(t) is not None and layer(m) is not None and layer(t) > layer(m)  # type: ignore[operator]
    ]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


# which recosim packages each package may import (every package is listed: a new one must be placed)
ALLOWED = {
    "recosim.core": set(),
    "recosim.library": {"recosim.core"},
    "recosim.tf": {"recosim.core"},
    "recosim.jax": {"recosim.core"},
    "recosim.inference": {"recosim.core", "recosim.tf", "recosim.jax"},
    "recosim.usecases": {"recosim.core", "recosim.library", "recosim.inference"},
    "recosim.sweep": {"recosim.core"},
    "recosim.gym": {"recosim.core", "recosim.library", "recosim.usecases"},
}

# The modules that may import a numerical framework: the two runtimes and inference's per-framework operations.
FRAMEWORKS = ("jax", "jaxlib", "tensorflow", "tensorflow_probability", "tf_keras", "keras", "edward2",
              "optax", "blackjax", "numpyro", "flax")
FRAMEWORK_MODULES = ("recosim.jax", "recosim.tf", "recosim.inference._jax", "recosim.inference._tf")


def test_every_package_is_placed():
    tops = {".".join(m.split(".")[:2]) for m in MODULES if m.startswith("recosim.")}
    assert tops == set(ALLOWED), f"packages without a place in ALLOWED: {sorted(tops - set(ALLOWED))}"


def _may_import_frameworks(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in FRAMEWORK_MODULES)


def framework_imports(modules: dict[str, Path]) -> list[str]:
    """``module:line imports framework`` for every framework import outside the modules allowed one."""
    found = []
    for name in sorted(modules):
        if _may_import_frameworks(name):
            continue
        for imp in imports_of(modules, name):
            if imp.target.split(".")[0] in FRAMEWORKS:
                found.append(f"{name}:{imp.line} imports {imp.target}")
    return found


def test_only_the_runtimes_and_inference_ops_import_a_framework():
    found = framework_imports({m: p for m, p in MODULES.items() if m.startswith("recosim.")})
    assert not found, "framework imports outside the runtime packages:\n" + "\n".join(found)


def test_packages_import_only_the_packages_below_them():
    wrong = []
    for name in MODULES:
        top = ".".join(name.split(".")[:2])
        if top not in ALLOWED:
            continue
        for imp in imports_of(MODULES, name):
            other = ".".join(imp.target.split(".")[:2])
            if other.startswith("recosim.") and other != top and other not in ALLOWED[top]:
                wrong.append(f"{name} imports {imp.target}")
    assert not wrong, "\n".join(wrong)


# -- the checks can fail: a small tree with every kind of problem ------------------------------


@pytest.fixture
def broken_tree(tmp_path: Path) -> dict[str, Path]:
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f():\n    from pkg import b  # deferred\n",
        "pkg/b.py": "import pkg.c\n",
        "pkg/c.py": "from pkg.a import f\n",
        "pkg/_hidden.py": "X = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from pkg import _hidden\nfrom pkg.c import _secret\nfrom pkg.sub import e\n",
        "pkg/sub/e.py": "from . import d\n",
        "pkg/fine.py": "from pkg import _hidden\nfrom pkg._hidden import X\n",
        "pkg/jitted.py": "def f():\n    import jax.numpy as jnp  # deferred\n    from tensorflow import math\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return module_files([tmp_path])


def test_cycle_finder_sees_deferred_and_relative_imports(broken_tree):
    cycles = {tuple(c) for c in find_cycles(edges(broken_tree))}
    assert ("pkg.a", "pkg.b", "pkg.c", "pkg.a") in cycles
    assert ("pkg.sub.d", "pkg.sub.e", "pkg.sub.d") in cycles


def test_private_import_finder_names_module_and_name(broken_tree):
    problems = private_imports(broken_tree, root=next(iter(broken_tree.values())).parents[1])
    assert len(problems) == 2, problems
    assert "pkg.sub.d imports the private module pkg._hidden from outside its package pkg" in problems[0]
    assert "pkg.sub.d imports the private name '_secret' from pkg.c" in problems[1]


def test_framework_import_finder_sees_deferred_and_from_imports(broken_tree):
    assert framework_imports(broken_tree) == ["pkg.jitted:2 imports jax.numpy", "pkg.jitted:3 imports tensorflow"]
