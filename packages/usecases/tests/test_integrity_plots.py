"""The integrity figures: count axes labelled with enough plain numbers, PNGs written."""

from __future__ import annotations

import numpy as np
import pytest

from recosim.usecases.integrity import plots


@pytest.mark.parametrize("top", [0.4, 1.0, 3.0, 7.5, 12.0, 13.0, 99.0, 450.0, 3000.0, 2.5e5])
def test_count_axis_ticks_are_plain_whole_numbers_covering_the_data(top):
    ticks = plots.readable_ticks(top)
    assert ticks[0] == 0.0 and ticks == sorted(set(ticks))
    assert all(float(t).is_integer() for t in ticks)  # plain numbers, never 10^k
    assert ticks[-1] >= top and 2 <= len(ticks) <= 10
    if top >= 3:
        assert len(ticks) >= 4  # a reader can place a value between labels


def test_pareto_plot_labels_its_axes_with_plain_numbers(tmp_path):
    rows = []
    for limit in (1.0, 4.0):
        for tau in (2.0, 8.0):
            v, f = 3.0 * limit * tau**1.5, 900.0 / tau**2 / limit
            rows.append({"policy": "p", "rate_limit": limit, "threshold": tau, "victims": v, "victims_se": 0.1 * v,
                         "friction": f, "friction_se": 0.1 * f})
    path = tmp_path / "pareto.png"
    plots.plot_pareto(rows, rows[0], path, title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    # the ticks the figure drew: the ones readable_ticks gives for its data, as plain text
    fig, ax = plots._figure(figsize=(4, 3))
    plots._count_axes(ax, [r["friction"] for r in rows], [r["victims"] for r in rows])
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) >= 4 and all(s.isdigit() for s in labels), labels
    assert np.isclose(float(labels[-1]), max(plots.readable_ticks(max(r["victims"] for r in rows))))
