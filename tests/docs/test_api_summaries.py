"""Every summary the API pages show is valid reStructuredText (the docs build fails on a warning).

Autosummary's tables show each public function's, class's and method's first sentence: the text up to the first
``". "`` of the docstring's first paragraph, cut there even inside an inline literal. A first sentence such as
``(z . u)`` within double backquotes becomes an unclosed literal in the table, an error only the full docs build
(minutes, every notebook executed) used to find: vca's helpers made public (12107bd), 6 errors.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import docutils.core
import docutils.nodes
import pytest
from docutils.parsers.rst import roles
from sphinx.ext.autosummary import extract_summary

import emscale

# Sphinx's roles, unknown to bare docutils: read as literals, which is all a summary's validity needs of them.
for _role in ("func", "class", "meth", "mod", "data", "attr", "obj", "exc", "doc", "ref", "math", "term", "py:func",
              "py:class", "py:meth", "py:mod", "py:data", "py:attr", "py:obj", "py:exc", "any"):
    roles.register_local_role(_role, lambda name, raw, text, lineno, inliner, options=None, content=None:
                              ([docutils.nodes.literal(raw, text)], []))


def _documented():
    """``(qualified name, docstring)`` of every public function, class and method autosummary lists."""
    for info in pkgutil.walk_packages(emscale.__path__, "emscale."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (the docs build installs them all)
            continue
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{module.__name__}.{name}", inspect.getdoc(obj)
            if inspect.isclass(obj):
                for meth, member in vars(obj).items():
                    if not meth.startswith("_") and inspect.isfunction(member):
                        yield f"{module.__name__}.{name}.{meth}", inspect.getdoc(member)


def _problems(summary: str) -> list[str]:
    doc = docutils.core.publish_doctree(summary, settings_overrides={"report_level": 5, "halt_level": 5})
    return [m.astext() for m in doc.findall(docutils.nodes.system_message) if m["level"] >= 2]


def test_the_summary_check_finds_an_inline_literal_cut_at_a_period():
    """The case that broke the build: the first sentence ends inside ``z / (z . u)``."""
    doc = "``(positions, radii)``: the noise of a position ``z / (z . u)`` is ``noise / |z . u|``."
    summary = extract_summary(doc.splitlines(), docutils.frontend.get_default_settings(
        docutils.parsers.rst.Parser))
    assert summary == "``(positions, radii)``: the noise of a position ``z / (z ."
    assert any("Inline literal start-string without end-string" in p for p in _problems(summary))


@pytest.mark.parametrize("qualname, doc", list(_documented()), ids=lambda v: v if "\n" not in str(v) else "")
def test_every_api_summary_is_valid_restructuredtext(qualname, doc):
    if not doc:
        return
    settings = docutils.frontend.get_default_settings(docutils.parsers.rst.Parser)
    summary = extract_summary(doc.splitlines(), settings)
    assert not _problems(summary), f"{qualname}: its API-page summary {summary!r} is not valid reStructuredText"
