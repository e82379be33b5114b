"""Every ```python block of the README, core's README and docs/*.md runs as written.

A ``print(...)  # expected`` line must print ``expected``. Blocks run in-process, each
in a fresh namespace, from a temporary working directory. A block that imports a
package this test environment lacks is skipped, naming it (core's session has core
only; the gym session, which installs core, library, the JAX runtime, the use cases and
gym, runs them all). A block whose first line is ``# requires: NAME`` runs only where
the runtime NAME is installed, and ``# requires: the files of `COMMAND` `` marks a block
that reads what a command writes (it is shown, not run). The porting guide and the
tutorials run page by page in packages/library/tests/test_tutorials.py.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PAGE_BY_PAGE = {"porting.md"}  # run as whole pages, blocks in order, by packages/library/tests/test_tutorials.py
DOCUMENTS = [
    REPO / "README.md",
    REPO / "packages" / "core" / "README.md",
    *sorted(p for p in (REPO / "docs").glob("*.md") if p.name not in PAGE_BY_PAGE),
]
_REQUIRES = re.compile(r"#\s*requires:\s*(.+)")
_OPTIONAL = ("recosim.", "jax", "tensorflow", "gymnasium", "arviz", "optax", "blackjax", "ray", "pyarrow", "matplotlib")
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCUMENTS:
        text = doc.read_text()
        for match in _BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{doc.relative_to(REPO)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_the_documents_have_python_blocks():
    assert len(BLOCKS) >= 3, [where for where, _ in BLOCKS]


def _expected_prints(code: str) -> list[str]:
    return [line.split("  # ", 1)[1].strip() for line in code.splitlines()
            if line.startswith("print(") and "  # " in line]


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_each_python_block_runs_as_written(where, code, tmp_path, monkeypatch):
    requires = _REQUIRES.match(code)
    if requires:
        need = requires.group(1).strip()
        from recosim.core.testing import runtime_names

        if need not in runtime_names():
            pytest.skip(f"{where} requires {need}")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, where, "exec"), {"__name__": "__docs__"})
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith(_OPTIONAL):
            raise
        pytest.skip(f"{where} imports {err.name}, which this environment does not install")
    lines = printed.getvalue().splitlines()
    expected = _expected_prints(code)
    assert lines[: len(expected)] == expected, (where, lines, expected)
