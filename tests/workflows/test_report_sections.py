"""What a recipe's report shows of each kind of result: the scree caption that agrees with the rank table, the
sections of dynamic sampling and autonomous spectrum imaging, the figure of a tomogram, readable figures of many
components, and advice a recipe can follow."""

from __future__ import annotations

import html as _html
import re

import pytest

from emscale.workflows.recipes import run_recipe
from emscale.workflows.samples import eds_si


@pytest.fixture(scope="module")
def eds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sections")
    s, _ = eds_si(shape=(24, 28), n_channels=256, scale=0.04, seed=1)
    s.save(folder / "eds.zarr")
    return folder


def _run(folder, text: str, name: str) -> str:
    (folder / f"{name}.toml").write_text(text)
    run_recipe(folder / f"{name}.toml", folder / name)
    return _html.unescape((folder / name / "report.html").read_text())


def _section(text: str, title: str) -> str:
    start = text.index(f"<h2>{title}")
    return text[start:text.index("<h2>", start + 4)]


def test_the_scree_caption_states_the_threshold_the_rank_table_shows(eds):
    # an NMF of a given rank stored no rank evidence ("not-estimated"); the table computed a Marchenko-Pastur
    # threshold, the caption said "no noise threshold: the rank came from not-estimated"
    text = _run(eds, '[input]\npath = "eds.zarr"\n\n[[step]]\nop = "decompose"\nname = "nmf"\nmethod = "nmf"\n'
                     'n_components = 3\n', "nmf")
    section = _section(text, "Decomposition")
    threshold = re.search(r"<td>threshold \(eigenvalues above it count\)</td><td>([^<]+)</td>", section).group(1)
    rank = re.search(r"<td>automatic rank[^<]*</td><td>(\d+)</td>", section).group(1)
    caption = re.search(r"<figcaption>(Scree plot[^<]*)</figcaption>", section).group(1)
    assert "not-estimated" not in caption and "no noise threshold" not in caption
    assert threshold in caption and f"automatic rank {rank}" in caption and "3 component(s) asked for" in caption
