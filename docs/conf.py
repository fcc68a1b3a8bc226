"""Sphinx configuration of the emscale documentation (built by docs/build.sh, offline, warnings as errors)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
SRC = ROOT / "src"

# The checkout's code wins over an installed emscale, in autodoc and in the notebook kernels (they inherit
# the environment of this process).
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
# The kernels must use matplotlib's inline backend (ipykernel's default), or the figures are not captured: an
# MPLBACKEND=Agg inherited from a CI environment would silently drop them.
os.environ.pop("MPLBACKEND", None)

import emscale  # noqa: E402

project = "emscale"
author = "the emscale authors"
copyright = "the emscale authors"
release = emscale.__version__
version = release

extensions = [
    "myst_nb",  # MyST markdown pages and text notebooks, executed at build time
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # numpydoc-style sections (Parameters, Returns, References)
    "sphinx.ext.mathjax",
]

exclude_patterns = ["_build", "README.md", "requirements.txt", "build.sh", "Thumbs.db", ".DS_Store",
                    "tutorials/_*.py", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}

# -- MyST / MyST-NB ---------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# CI executes every notebook on every build: one that no longer runs fails it. EMSCALE_DOCS_EXECUTE=off skips the
# execution while editing prose or the API pages (never in CI).
nb_execution_mode = os.environ.get("EMSCALE_DOCS_EXECUTE", "force")
nb_execution_timeout = 180  # seconds per notebook; each runs in well under a minute on 2 cores
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = False  # run in docs/tutorials so the notebooks import their _data/_compare helpers
nb_merge_streams = True

# -- API reference ------------------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
# ignore-module-all: a package page documents what the package defines, not what its __all__ re-exports from its
# modules (those are documented on the module's page; documenting them twice makes every cross-reference to
# them ambiguous).
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False,
                           "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"  # the docstrings describe the parameters; "description" would add a second list
autodoc_mock_imports: list[str] = []
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# The code's docstrings often put a short description in the type slot ("n_components : an int; 'auto' for..."):
# rendered as a plain field list, not as :type: fields whose every word becomes a cross-reference (an ambiguous
# one, e.g. "options", would be a warning).
napoleon_use_param = False
# "Attributes" sections (the result dataclasses, the microscope) rendered like "Parameters": a field list in the
# class's description. Napoleon's default turns each entry into an ``.. attribute::`` directive, which duplicates the
# entry autodoc already writes for the same dataclass field or property (a "duplicate object description" warning
# for every attribute) and makes the description in the type slot a cross-reference.
napoleon_custom_sections = [("Attributes", "params_style")]

# -- offline ------------------------------------------------------------------------------------------------
# No intersphinx (it fetches inventories); no linkcheck in the build.
html_theme = "pydata_sphinx_theme"
html_title = f"emscale {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_end": ["navbar-icon-links"],  # no version switcher / theme switcher fetched at run time
}
html_static_path: list[str] = []
html_show_sourcelink = False
html_last_updated_fmt = None


# -- docstrings -----------------------------------------------------------------------------------------------
_PARAM = re.compile(r"^(\s*)([A-Za-z_][\w, ]*) : (.*)$")


def _rst_safe_docstring(app, what, name, obj, options, lines):
    """Two docstring habits of the code that are fine in a terminal but not valid reStructuredText; fixed here
    (before napoleon reads the docstring) rather than with a blanket warning filter, so every other docstring
    error still fails the build:

    * ``|x|`` (an absolute value in prose) is a substitution reference in reST: escaped.
    * ``name : description`` where the description (in napoleon's *type* slot) opens a ````literal```` on one line
      and closes it on the next: napoleon cuts the type at the line end, leaving the literal unterminated. Such an
      entry is rewritten as ``name`` with the text as its description.
    """
    for i, line in enumerate(lines):
        line = re.sub(r"(?<![\\`])\|(\w+)\|", r"\\|\1\\|", line)
        m = _PARAM.match(line)
        if m and m.group(3).count("``") % 2:
            line = f"{m.group(1)}{m.group(2)}\n{m.group(1)}    {m.group(3)}"
        lines[i] = line
    # a rewritten entry spans two lines: split them so later processing sees one line each
    lines[:] = [part for line in lines for part in line.split("\n")]


def setup(app):
    app.connect("autodoc-process-docstring", _rst_safe_docstring, priority=400)  # napoleon runs at 500
