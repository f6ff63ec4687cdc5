"""Render the workshop report: one self-contained HTML file that works offline.

The page has a summary (collection metadata, counts, coverage gaps, build warnings), the audit
findings with their evidence, and an interactive picture of the graph drawn with cytoscape.js,
which is inlined from `assets/` together with its licence. Jinja2 escapes every value. The
picture reaches the page's script as JSON inside `<script type="application/json">` through the
`tojson` filter, which escapes `<`, `>`, `&` and `'`. So a name taken from a cluster is shown as
text and never parsed as markup, and its control characters are shown as escapes.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import jinja2

from blastradius import __version__
from blastradius.queries.picture import Picture
from blastradius.render.escape import html_value
from blastradius.render.palette import EDGE_STYLES, FOCUS_BORDER, NODE_COLOURS

TEMPLATE = "report.html.j2"
ASSETS = ("cytoscape.min.js", "report.js", "report.css")
THIRD_PARTY_LICENCES = (("cytoscape.js 3.35.0", "LICENSE.cytoscape"),)


def render_html(
    picture: Picture,
    *,
    summary: dict[str, Any],
    stats: dict[str, Any],
    warnings: list[str],
    findings: list[dict[str, Any]] | None,
    title: str = "blastradius report",
) -> str:
    """Return the report page.

    `summary` is `snapshot.summary.summarize`'s result, `stats` the graph's `stats()`, and
    `findings` the audit's findings as rows (`audit.result.finding_row`), or None when no audit
    ran (the page then states that no audit ran instead of showing an empty list).
    """
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("blastradius.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=html_value,
    )
    template = environment.get_template(TEMPLATE)
    return template.render(
        title=title,
        version=__version__,
        summary=summary,
        stats=stats,
        warnings=warnings,
        findings=findings,
        picture=picture,
        picture_data=picture.to_dict(),
        style_data=_style_data(),
        assets={name: _script_safe(_asset(name), name) for name in ASSETS},
        licences=[(project, _asset(name)) for project, name in THIRD_PARTY_LICENCES],
    )


def _style_data() -> dict[str, Any]:
    return {
        "nodes": {category: {"fill": fill, "border": border, "words": words}
                  for category, (fill, border, words) in NODE_COLOURS.items()},
        "edges": {grants: {"colour": colour, "style": style, "words": words}
                  for grants, (colour, style, words) in EDGE_STYLES.items()},
        "focus": FOCUS_BORDER,
    }


def _asset(name: str) -> str:
    return resources.files("blastradius.render").joinpath("assets", name).read_text(encoding="utf-8")


def _script_safe(text: str, name: str) -> str:
    """Return an asset that is inlined in a `<script>` or `<style>` element, after checking it cannot end it early."""
    lowered = text.lower()
    for marker in ("</script", "</style", "<!--"):
        if marker in lowered:
            raise ValueError(f"asset {name} contains {marker!r} and cannot be inlined into the report")
    return text
