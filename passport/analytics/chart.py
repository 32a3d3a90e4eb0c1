"""The success-rate chart: one bar per group with its 95 % interval as a whisker;
suppressed cells drawn as hatched, empty bars labelled « secret statistique ». SVG made with
Matplotlib's object API (no pyplot state: safe in a threaded server), text kept as text."""

from __future__ import annotations

import io
from typing import Any

import matplotlib as mpl
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

#: More bars than this do not read: the chart shows the largest cohorts and says so.
MAX_BARS = 40
AXIS_LABELS = {
    "certification": "Certification",
    "organisation": "Organisme de formation (SIRET)",
    "access_route": "Modalité d'accès",
    "year": "Année de sortie de formation",
}
SUPPRESSED_LABEL = "secret statistique"


def _label(group: dict[str, Any]) -> str:
    if "certification" in group:
        return str(group["certification"])
    return str(next(iter(group.values())) or "non renseigné")


def render(result: dict[str, Any]) -> bytes:
    """The SVG document of a `success_rates` result."""
    query = result["parameters"]
    rows = result["rows"]
    shown = rows
    if len(rows) > MAX_BARS:
        shown = sorted(rows, key=lambda r: -(r["cohort"] or 0))[:MAX_BARS]
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "passport",
                         "font.family": "DejaVu Sans"}):
        figure = Figure(figsize=(max(6.0, 0.45 * len(shown) + 2), 4.8))
        FigureCanvasSVG(figure)
        axes = figure.add_subplot()
        positions = list(range(len(shown)))
        for x, row in zip(positions, shown, strict=True):
            if row["suppressed"]:
                axes.bar(x, 1.0, color="none", edgecolor="#9a9a9a", hatch="///", linewidth=0.8)
                axes.text(x, 0.5, SUPPRESSED_LABEL, rotation=90, ha="center", va="center",
                          fontsize=7, color="#555555", gid=f"secret-{x}")
                continue
            low, high = row["interval"]["low"], row["interval"]["high"]
            axes.bar(x, row["rate"], color="#000091", gid=f"bar-{x}")
            axes.errorbar(x, row["rate"], yerr=[[row["rate"] - low], [high - row["rate"]]],
                          color="#e1000f", capsize=4, linewidth=1.2)
        axes.set_xticks(positions, [_label(r["group"]) for r in shown], rotation=45,
                        ha="right", fontsize=8)
        axes.set_ylim(0, 1.05)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0, symbol=" %"))
        axes.set_ylabel("Taux de réussite (intervalle de confiance à 95 %)")
        axes.set_xlabel(AXIS_LABELS[query["group_by"]])
        first, last = query.get("year_from"), query.get("year_to")
        period = ("toutes années" if first is None else str(first) if first == last
                  else f"{first}–{last}")
        title = (f"Taux de réussite à la certification, sorties {period}, "
                 f"fenêtre de {query['window_months']} mois")
        if len(shown) < len(rows):
            title += f"\n({len(shown)} plus grandes cohortes sur {len(rows)})"
        axes.set_title(title, fontsize=10)
        if not rows:
            axes.text(0.5, 0.5, "Aucune donnée pour ces critères", transform=axes.transAxes,
                      ha="center", va="center")
        figure.text(0.01, 0.01, f"Cellules de moins de {result['min_cell']} personnes : "
                    f"{SUPPRESSED_LABEL}. Source : passeport de compétences.", fontsize=7,
                    color="#555555")
        figure.tight_layout(rect=(0, 0.04, 1, 1))
        out = io.BytesIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
