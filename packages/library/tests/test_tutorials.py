"""Every python block of the tutorials and the porting guide runs, in order, as one script per page.

A block whose first line is ``# requires: tf`` (or ``jax``) runs only where that
runtime is installed and selected (``RECOSIM_TEST_RUNTIMES``); the page's other
blocks run regardless.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from recosim.core.testing import runtime_names

REPO = Path(__file__).resolve().parents[3]
PAGES = ["docs/tutorials/basics.md", "docs/tutorials/uncertainty.md", "docs/porting.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
REQUIRES = re.compile(r"#\s*requires:\s*(\w+)")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced python block of a Markdown page."""
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_block_extraction_sees_fences_and_line_numbers():
    text = "intro\n```python\nx = 1\n```\ntext\n```text\nnot code\n```\n```python\n# requires: tf\ny = 2\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "# requires: tf\ny = 2\n")]


@pytest.mark.every_session  # a block marked "# requires: tf" runs in the TF session
@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a page writes lands here
    text = (REPO / page).read_text()
    blocks = python_blocks(text)
    assert blocks, f"{page} has no python blocks"
    available = set(runtime_names())
    namespace: dict[str, object] = {"__name__": f"page:{page}"}
    ran = 0
    for line, code in blocks:
        needs = REQUIRES.match(code)
        if needs and needs.group(1) not in available:
            continue
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{page}, the python block at line {line} failed: {type(err).__name__}: {err}") from err
        ran += 1
    assert ran >= 1
