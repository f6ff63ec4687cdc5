"""Write the capability graph as GraphML, for Gephi, yEd and other graph tools.

GraphML attributes must be scalars, so every attribute becomes a string: lists and mappings
(`refs`, `evidence`, `conditions`, `origin`) as compact JSON, None as an empty string. Each node
and edge also gets `label` (its display name, or its kind for an edge) because that is the
attribute Gephi and yEd show by default.

XML 1.0 cannot carry most control characters at all, not even as character references, so node
ids and attribute values show them as escapes (`data_text`). Tab, line feed and carriage return
stay as they are. JSON-encoded attributes need no such step, because `json.dumps` escapes every
non-ASCII and control character.
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from blastradius.render.escape import data_text


def render_graphml(graph: nx.MultiDiGraph) -> str:
    """Return GraphML for a capability graph or a focus subgraph of it, attributes flattened to strings."""
    flat = nx.MultiDiGraph()
    # NOTE: a node id with a control character and one that spells out its escape (`\x1b`) map to
    # the same GraphML id, so such a pair would become one node.
    for node, data in graph.nodes(data=True):
        flat.add_node(data_text(node), label=data_text(str(data.get("name", node))), **_flattened(data))
    for source, target, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(data_text(source), data_text(target), key=data_text(str(key)), label=str(data.get("kind", "")), **_flattened(data))
    return "\n".join(nx.generate_graphml(flat, named_key_ids=True)) + "\n"


def _flattened(data: dict[str, Any]) -> dict[str, str]:
    return {key: _string(value) for key, value in data.items() if key != "label"}


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return data_text(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return data_text(str(value))
