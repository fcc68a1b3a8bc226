"""Figures display as images in a Jupyter kernel without ``%matplotlib inline``, and none is pyplot's
(plotting.notebook, plotting._new_figure)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import emscale as em
from emscale.plotting import notebook


class _Kernel:  # what tells a kernel's shell from a terminal's: its ``kernel``
    pass


@pytest.fixture
def kernel_shell(monkeypatch):
    import IPython
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.setattr(shell, "kernel", _Kernel(), raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(notebook, "_done", False)
    yield shell
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].pop(Figure, None)
    InteractiveShell.clear_instance()


def _cube():
    rng = np.random.default_rng(0)
    axes = [{"name": "y", "units": "nm"}, {"name": "x", "units": "nm"}, {"name": "Energy", "units": "keV",
                                                                          "scale": 0.01}]
    return em.Signal(rng.poisson(3, (12, 14, 64)).astype(np.uint16), axes=axes, signal_type="EDS_TEM")


def test_a_kernel_shows_a_signal_figure_as_a_png_without_matplotlib_inline(kernel_shell):
    # before: the figure's text/plain only, "<Figure size 1100x440 with 3 Axes>"
    fig = _cube().plot()
    data, _ = kernel_shell.display_formatter.format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert notebook.show_inline() is False  # once: a second call does nothing


def test_matplotlib_inline_keeps_its_own_printer(kernel_shell):
    from matplotlib.figure import Figure

    png = kernel_shell.display_formatter.formatters["image/png"]
    theirs = object()
    png.for_type(Figure, theirs)
    assert notebook.show_inline() is False and png.lookup_by_type(Figure) is theirs


def test_no_shell_or_a_terminal_shell_registers_nothing(monkeypatch):
    import IPython

    monkeypatch.setattr(notebook, "_done", False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert notebook.show_inline() is False


def test_the_scree_is_no_pyplot_figure():
    # plot_scree built its figure with pyplot: a notebook showed it twice, 25 calls left 25 figures open (and
    # matplotlib's "More than 20 figures" warning)
    import matplotlib.pyplot as plt

    d = em.decompose(_cube(), method="pca", n_components=2)
    before = len(plt.get_fignums())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(25):
            fig = d.plot_scree()
    assert len(plt.get_fignums()) == before
    assert fig.axes[0].get_title() == "pca scree"


@pytest.mark.slow
def test_a_fresh_kernel_draws_every_figure_once(tmp_path, monkeypatch):
    """The reviewer's notebook: s.plot(), plot_factors, plot_loadings, a cluster's plot and plot_scree in a fresh
    kernel, without %matplotlib inline."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = tmp_path / "s.zarr"
    _cube().save(path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"import emscale as em\ns = em.load({str(path)!r})\ns.plot()"),
                nbformat.v4.new_code_cell("d = em.decompose(s, method='pca', n_components=3)\nd.plot_scree()"),
                nbformat.v4.new_code_cell("d.plot_factors()"), nbformat.v4.new_code_cell("d.plot_loadings()"),
                nbformat.v4.new_code_cell("d.cluster(n_clusters=2).plot()")]
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own backend (inline), not the tests' Agg
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    for cell in nb.cells:
        shown = [o for o in cell.outputs if o.output_type in ("execute_result", "display_data")]
        assert len(shown) == 1 and "image/png" in shown[0]["data"], (cell.source, cell.outputs)


def test_no_kernel_yet_leaves_the_printer_to_a_kernel_started_later(monkeypatch):
    """A figure made where IPython was imported but no kernel ran (a script importing IPython) marked the printer
    done: a kernel started later in the process never got it."""
    import IPython

    monkeypatch.setattr(notebook, "_done", False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert notebook.show_inline() is False and notebook._done is False
