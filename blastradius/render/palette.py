"""Colours and line styles shared by the HTML and DOT pictures, so both read the same in a workshop.

Node colours follow the family of a node (`CATEGORY_BY_KIND` in the picture query); edge styles
follow what an edge grants, from the edge catalogue.
"""

from __future__ import annotations

# Fill and border colour per node family, with the legend's name for it.
NODE_COLOURS: dict[str, tuple[str, str, str]] = {
    "subject": ("#dbeafe", "#1d4ed8", "Kubernetes subject"),
    "rbac": ("#ede9fe", "#6d28d9", "RBAC role, as a binding grants it"),
    "kubernetes": ("#f1f5f9", "#475569", "pods, workloads and sets of a namespace"),
    "eso": ("#ffedd5", "#c2410c", "External Secrets store or credential"),
    "identity": ("#fef9c3", "#a16207", "AWS identity or KMS key"),
    "cloud_secret": ("#fee2e2", "#b91c1c", "Secrets Manager secret"),
    "kubernetes_secret": ("#fce7f3", "#be185d", "Kubernetes Secret"),
}

# Line colour and style per `grants` value, with the legend's words for it.
EDGE_STYLES: dict[str, tuple[str, str, str]] = {
    "control": ("#334155", "solid", "controls or acts as"),
    "read": ("#1d4ed8", "solid", "obtains the value"),
    "overwrite": ("#dc2626", "dashed", "can overwrite"),
    "use_read": ("#c2410c", "dotted", "ESO reads with this identity on the subject's behalf"),
    "use_write": ("#c2410c", "dotted", "ESO writes with this identity on the subject's behalf"),
}

FOCUS_BORDER = "#111827"
