/* Draw the blastradius picture with cytoscape.js and explain the node a reader clicks.
 *
 * Everything comes from the JSON blocks that the report embeds; this script computes no
 * reachability. Text from the snapshot reaches the page only through textContent and
 * cytoscape's canvas labels, never as markup.
 */
(function () {
  "use strict";

  var COLUMN_WIDTH = 340;
  var ROW_HEIGHT = 58;

  var picture = JSON.parse(document.getElementById("picture-data").textContent);
  var palette = JSON.parse(document.getElementById("style-data").textContent);
  var explanations = picture.explanations || {};
  var stepTable = explanations.steps || [];
  var explained = explanations.nodes || {};
  var nodesById = {};

  // Columns are centred on the tallest one, so short columns sit beside the middle of long ones.
  function columnOffsets() {
    var sizes = {};
    picture.nodes.forEach(function (node) {
      sizes[node.layer] = (sizes[node.layer] || 0) + 1;
    });
    var tallest = Math.max.apply(null, Object.keys(sizes).map(function (layer) { return sizes[layer]; }));
    var offsets = {};
    Object.keys(sizes).forEach(function (layer) {
      offsets[layer] = (tallest - sizes[layer]) * ROW_HEIGHT / 2;
    });
    return offsets;
  }

  function elements() {
    var rows = {};
    var offsets = columnOffsets();
    var list = [];
    picture.nodes.forEach(function (node) {
      nodesById[node.id] = node;
      var row = rows[node.layer] || 0;
      rows[node.layer] = row + 1;
      list.push({
        group: "nodes",
        data: { id: node.id, label: node.name, category: node.category, area: node.area,
                focus: node.focus ? 1 : 0, grouped: node.members.length ? 1 : 0 },
        position: { x: node.layer * COLUMN_WIDTH, y: offsets[node.layer] + row * ROW_HEIGHT }
      });
    });
    picture.edges.forEach(function (edge) {
      var label = edge.count > 1 ? edge.kind + " \u00d7" + edge.count : edge.kind;
      list.push({
        group: "edges",
        data: { id: edge.id, source: edge.source, target: edge.target, kind: edge.kind,
                grants: edge.grants, label: edge.conditional ? label + " (if)" : label }
      });
    });
    return list;
  }

  function styles() {
    var sheet = [
      { selector: "node", style: {
        "shape": "round-rectangle", "width": 262, "height": 44, "label": "data(label)",
        "font-size": 13, "text-valign": "center", "text-halign": "center", "text-wrap": "wrap",
        "text-max-width": 250, "text-overflow-wrap": "anywhere", "border-width": 1.5, "color": "#0f172a" } },
      { selector: "node[grouped = 1]", style: { "border-width": 4, "border-style": "double" } },
      { selector: "node[focus = 1]", style: { "border-width": 4, "border-color": palette.focus } },
      { selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.8, "width": 1.4,
        "label": "data(label)", "font-size": 10, "min-zoomed-font-size": 7, "text-rotation": "autorotate",
        "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 1 } },
      { selector: ".faded", style: { "opacity": 0.12 } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#111827" } },
      { selector: "edge.highlighted", style: { "width": 3 } }
    ];
    Object.keys(palette.nodes).forEach(function (category) {
      var colours = palette.nodes[category];
      sheet.push({ selector: "node[category = '" + category + "']",
                   style: { "background-color": colours.fill, "border-color": colours.border } });
    });
    Object.keys(palette.edges).forEach(function (grants) {
      var line = palette.edges[grants];
      sheet.push({ selector: "edge[grants = '" + grants + "']",
                   style: { "line-color": line.colour, "target-arrow-color": line.colour, "color": line.colour,
                            "line-style": line.style } });
    });
    return sheet;
  }

  var cy = cytoscape({
    container: document.getElementById("graph"),
    elements: elements(),
    style: styles(),
    layout: { name: "preset" },
    minZoom: 0.05,
    maxZoom: 3,
    wheelSensitivity: 0.3
  });

  function isShown(element) {
    return element.style("display") !== "none";
  }

  function updateCounts() {
    document.getElementById("node-count").textContent = String(cy.nodes().filter(isShown).length);
    document.getElementById("edge-count").textContent = String(cy.edges().filter(isShown).length);
  }

  function applyFilters() {
    var areas = {};
    document.querySelectorAll("#area-filters input").forEach(function (box) {
      areas[box.getAttribute("data-area")] = box.checked;
    });
    var kinds = {};
    document.querySelectorAll("#kind-filters input").forEach(function (box) {
      kinds[box.getAttribute("data-kind")] = box.checked;
    });
    cy.batch(function () {
      cy.nodes().forEach(function (node) {
        node.style("display", areas[node.data("area")] === false ? "none" : "element");
      });
      cy.edges().forEach(function (edge) {
        edge.style("display", kinds[edge.data("kind")] === false ? "none" : "element");
      });
    });
    updateCounts();
  }

  function element(tag, text, className) {
    var made = document.createElement(tag);
    if (text !== undefined && text !== null) {
      made.textContent = text;
    }
    if (className) {
      made.className = className;
    }
    return made;
  }

  function pathList(row) {
    var list = element("ol");
    row.steps.forEach(function (index) {
      var step = stepTable[index];
      var item = element("li");
      item.appendChild(element("span", step.from + " "));
      item.appendChild(element("code", "\u2192 " + step.kind + " \u2192"));
      item.appendChild(element("span", " " + step.to));
      item.appendChild(element("div", step.reason, "muted"));
      if (step.conditions.length) {
        item.appendChild(element("div", "only if: " + step.conditions.join("; "), "muted"));
      }
      list.appendChild(item);
    });
    return list;
  }

  function rowSection(title, rows, emptyText) {
    var section = element("section");
    section.appendChild(element("h4", title + " (" + rows.length + ")"));
    if (!rows.length) {
      section.appendChild(element("p", emptyText, "muted"));
      return section;
    }
    rows.forEach(function (row) {
      var block = element("details");
      var verb = row.capability === "overwrite" ? "overwrite" : "read";
      var summary = element("summary");
      summary.appendChild(element("span", row.node));
      summary.appendChild(element("span", " \u2014 " + verb + ", " + row.hops + " step(s)" +
        (row.conditions.length ? ", conditional" : ""), "muted capability-" + row.capability));
      block.appendChild(summary);
      block.appendChild(pathList(row));
      section.appendChild(block);
    });
    return section;
  }

  function showDetails(nodeId) {
    var node = nodesById[nodeId];
    var panel = document.getElementById("details");
    panel.replaceChildren();
    panel.appendChild(element("h3", node.name));
    panel.appendChild(element("p", node.noun + " \u00b7 " + node.area, "muted"));
    if (node.members.length) {
      panel.appendChild(element("p", "Stands for: " + node.members.join(", ")));
    }
    var explanation = explained[nodeId];
    if (!explanation) {
      panel.appendChild(element("p", "This node is drawn from a binding's evidence; click its subjects for their paths.", "muted"));
      return;
    }
    panel.appendChild(rowSection("Reaches", explanation.reaches, "Reaches no secret and no other identity."));
    panel.appendChild(rowSection("Reached by", explanation.reached_by, "No principal reaches it."));
  }

  // The nodes on the paths the explanation lists: graph node ids from its steps, plus the role
  // nodes that only the picture draws, when they sit between two of those nodes.
  function pathElements(node) {
    var onPath = {};
    onPath[node.id()] = true;
    var explanation = explained[node.id()] || { reaches: [], reached_by: [] };
    explanation.reaches.concat(explanation.reached_by).forEach(function (row) {
      row.steps.forEach(function (index) {
        onPath[stepTable[index].from_id] = true;
        onPath[stepTable[index].to_id] = true;
      });
    });
    (nodesById[node.id()].member_ids || []).forEach(function (member) { onPath[member] = true; });
    var nodes = cy.nodes().filter(function (candidate) {
      if (onPath[candidate.id()]) {
        return true;
      }
      var entered = candidate.incomers("node").some(function (source) { return onPath[source.id()]; });
      var left = candidate.outgoers("node").some(function (target) { return onPath[target.id()]; });
      return nodesById[candidate.id()].kind === "role_binding" && entered && left;
    });
    var kept = {};
    nodes.forEach(function (keptNode) { kept[keptNode.id()] = true; });
    var edges = cy.edges().filter(function (edge) {
      return kept[edge.source().id()] && kept[edge.target().id()];
    });
    return nodes.union(edges);
  }

  var selection = null;

  cy.on("tap", "node", function (event) {
    var node = event.target;
    selection = pathElements(node);
    cy.elements().addClass("faded").removeClass("highlighted");
    selection.removeClass("faded");
    selection.edges().addClass("highlighted");
    showDetails(node.id());
  });

  cy.on("tap", function (event) {
    if (event.target === cy) {
      selection = null;
      cy.elements().removeClass("faded").removeClass("highlighted");
    }
  });

  document.querySelectorAll("#area-filters input, #kind-filters input").forEach(function (box) {
    box.addEventListener("change", applyFilters);
  });
  document.getElementById("fit").addEventListener("click", function () {
    cy.fit(cy.elements().filter(isShown), 20);
  });
  document.getElementById("zoom-selection").addEventListener("click", function () {
    cy.fit(selection ? selection.filter(isShown) : cy.elements().filter(isShown), 30);
  });

  cy.fit(undefined, 20);
  updateCounts();
  document.body.setAttribute("data-graph-ready", "true");
}());
