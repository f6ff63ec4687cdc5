"""Renderers: turn query results into text, JSON, CSV, HTML, DOT, GraphML and SARIF; they compute nothing."""
