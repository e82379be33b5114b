"""Every ```python block of the README, core's README and docs/*.md runs as written.

A ``print(...)  # expected`` line must print ``expected``. Blocks run in-process, each
in a fresh namespace, from a temporary working directory.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCUMENTS = [REPO / "README.md", REPO / "packages" / "core" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
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
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, where, "exec"), {"__name__": "__docs__"})
    lines = printed.getvalue().splitlines()
    expected = _expected_prints(code)
    assert lines[: len(expected)] == expected, (where, lines, expected)
