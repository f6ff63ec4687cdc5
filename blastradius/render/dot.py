"""Draw a picture as Graphviz DOT for slides, and as SVG through Graphviz's `dot` program.

The chain reads left to right: subjects, the roles their bindings grant, pods and sets, stores,
AWS identities, cloud secrets, and the Kubernetes Secrets their copies land in. Every namespace,
cluster-wide part and AWS account is a box (a DOT cluster). Edges are labelled with their kind,
with `×N` when they stand for N parallel edges. A legend box explains colours and line styles.

Every name and reason is shown with its control characters as escapes (`terminal_text`), then
passed through `graphviz.escape`, which doubles backslashes so that Graphviz reads no `\\N` or
`\\l` escape in it, and the graphviz package quotes it and escapes its double quotes.
"""

from __future__ import annotations

import html
import logging
import shutil

import graphviz

from blastradius.queries.picture import Picture, PictureEdge, PictureNode
from blastradius.render.escape import terminal_text
from blastradius.render.palette import EDGE_STYLES, FOCUS_BORDER, NODE_COLOURS

log = logging.getLogger(__name__)

INSTALL_HINT = "install Graphviz (Debian and Ubuntu: apt-get install graphviz; macOS: brew install graphviz)"

# Group members listed on a group node before the rest is summarised as "and N more".
MEMBERS_SHOWN = 4


class GraphvizMissingError(RuntimeError):
    """Graphviz's `dot` program is not on PATH, so no SVG can be drawn."""


def render_dot(picture: Picture, *, title: str = "blastradius") -> str:
    """Return the DOT source of a picture, with one cluster per area and a legend."""
    dot = graphviz.Digraph("blastradius", strict=False)
    dot.attr(rankdir="LR", newrank="true", ranksep="1.1", nodesep="0.25",
             fontname="Helvetica", labelloc="t", label=_label(title), fontsize="20")
    dot.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11", margin="0.12,0.06")
    dot.attr("edge", fontname="Helvetica", fontsize="9", arrowsize="0.7")

    # Graphviz reads `a:b` in an edge as node `a`, port `b`, so every node gets a plain DOT id.
    dot_ids = {node.id: f"n{number}" for number, node in enumerate(picture.nodes)}
    nodes_by_area: dict[str, list[PictureNode]] = {}
    for node in picture.nodes:
        nodes_by_area.setdefault(node.area, []).append(node)
    for number, area in enumerate(picture.areas):
        with dot.subgraph(name=f"cluster_{number}") as box:
            box.attr(label=_label(area.label), style="rounded,dashed", color="#94a3b8",
                     fontcolor="#334155", fontsize="13", labeljust="l")
            for node in nodes_by_area.get(area.id, []):
                _add_node(box, node, dot_ids[node.id])

    for edge in picture.edges:
        _add_edge(dot, edge, dot_ids)
    _add_legend(dot, picture)
    return dot.source


def render_svg(dot_source: str) -> bytes:
    """Return the SVG that Graphviz's `dot` draws from DOT source.

    Raises GraphvizMissingError, with how to install Graphviz, when `dot` is not on PATH.
    """
    if shutil.which("dot") is None:
        raise GraphvizMissingError(f"Graphviz's dot program was not found on PATH; {INSTALL_HINT}")
    try:
        return graphviz.Source(dot_source).pipe(format="svg")
    except graphviz.ExecutableNotFound as error:
        raise GraphvizMissingError(f"Graphviz's dot program could not be run ({error}); {INSTALL_HINT}") from None


def _add_node(box: graphviz.Digraph, node: PictureNode, dot_id: str) -> None:
    fill, border, _ = NODE_COLOURS[node.category]
    label = _label(node.name)
    if node.members:
        shown = list(node.members[:MEMBERS_SHOWN])
        if len(node.members) > MEMBERS_SHOWN:
            shown.append(f"and {len(node.members) - MEMBERS_SHOWN} more")
        label = graphviz.nohtml("\\n".join(_label(line) for line in [node.name, *shown]))
    attributes = {"fillcolor": fill, "color": border, "tooltip": graphviz.escape(node.noun)}
    if node.members:
        attributes["peripheries"] = "2"
    if node.focus:
        attributes.update(color=FOCUS_BORDER, penwidth="3")
    box.node(dot_id, label=label, **attributes)


def _add_edge(dot: graphviz.Digraph, edge: PictureEdge, dot_ids: dict[str, str]) -> None:
    colour, style, _ = EDGE_STYLES[edge.grants]
    label = edge.kind if edge.count == 1 else f"{edge.kind} ×{edge.count}"
    if edge.conditional:
        label += " (if)"
    tooltip = "\n".join(terminal_text(reason) for reason in edge.reasons[:5])
    dot.edge(dot_ids[edge.source], dot_ids[edge.target], label=graphviz.escape(label), color=colour, fontcolor=colour, style=style,
             tooltip=graphviz.escape(tooltip))


def _label(text: str) -> str:
    """Return text from the snapshot as a plain DOT string: control characters shown as escapes, never HTML."""
    return graphviz.escape(terminal_text(text))


def _add_legend(dot: graphviz.Digraph, picture: Picture) -> None:
    """Add a legend box: one row per node family present, one per edge style, one per edge kind."""
    categories = sorted({node.category for node in picture.nodes}, key=list(NODE_COLOURS).index)
    grants = sorted({edge.grants for edge in picture.edges}, key=list(EDGE_STYLES).index)
    rows = ['<TR><TD COLSPAN="2"><B>Legend</B></TD></TR>']
    for category in categories:
        fill, border, words = NODE_COLOURS[category]
        rows.append(f'<TR><TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" WIDTH="28"> </TD>'
                    f'<TD ALIGN="LEFT">{html.escape(words)}</TD></TR>')
    for grant in grants:
        colour, style, words = EDGE_STYLES[grant]
        rows.append(f'<TR><TD><FONT COLOR="{colour}">{"───" if style == "solid" else "- - -" if style == "dashed" else "·····"}'
                    f'</FONT></TD><TD ALIGN="LEFT">{html.escape(words)}</TD></TR>')
    for entry in picture.legend["edge_kinds"]:
        rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">{html.escape(entry["kind"])}</FONT></TD>'
                    f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{html.escape(entry["meaning"])}</FONT></TD></TR>')
    table = '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">' + "".join(rows) + "</TABLE>"
    with dot.subgraph(name="cluster_legend") as legend:
        legend.attr(label="", style="rounded", color="#cbd5e1")
        legend.node("legend", label=f"<{table}>", shape="plaintext", style="")
