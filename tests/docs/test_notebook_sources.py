"""Every tutorial's code cells are whole Python, checked without building the site.

The site build (``docs/build.sh``, run by CI with ``EMSCALE_BUILD_DOCS=1``) executes every notebook, but a local
test run skips it; a cell whose closing fence was lost in an edit then reaches CI unseen. Reading the cells and
compiling them costs milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOTEBOOKS = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts and "code-cell" in p.read_text())


def code_cells(text: str) -> list[tuple[int, str]]:
    """(first line number, source) of each ```{code-cell} block; an unclosed or nested fence is an error."""
    cells, source, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```{code-cell}"):
            if source is not None:
                raise AssertionError(f"line {number}: a code cell opens inside the one opened at line {start}")
            source, start = [], number
        elif line.startswith("```") and source is not None:
            if line.strip() != "```":
                raise AssertionError(f"line {number}: a fence inside the code cell opened at line {start}")
            cells.append((start, "\n".join(source)))
            source = None
        elif source is not None:
            source.append(line)
    if source is not None:
        raise AssertionError(f"the code cell opened at line {start} is never closed")
    return cells


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_code_cell_compiles(path: Path):
    cells = code_cells(path.read_text())
    assert cells
    for start, source in cells:
        # Cell magics and shell escapes are IPython's, not Python's.
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!", ":"))]
        compile("\n".join(lines), f"{path.name}, cell at line {start}", "exec")


def test_a_lost_closing_fence_is_caught():
    broken = "```{code-cell} ipython3\nx = 1\n```{code-cell} ipython3\ny = 2\n```\n"
    with pytest.raises(AssertionError, match="opens inside"):
        code_cells(broken)
