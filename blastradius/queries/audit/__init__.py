"""The audit: known misconfigurations of Kubernetes, External Secrets and AWS IAM, checked over a snapshot.

`CHECKS` is the catalogue, `run_audit` runs it and `audit_result` turns findings into rows for
the renderers.
"""

from __future__ import annotations

from blastradius.queries.audit.checks import CHECK_BY_ID, CHECKS, SEVERITIES, Check
from blastradius.queries.audit.result import audit_result
from blastradius.queries.audit.run import Finding, at_or_above, parse_time, run_audit, severities

__all__ = ["CHECKS", "CHECK_BY_ID", "SEVERITIES", "Check", "Finding", "at_or_above", "audit_result", "parse_time",
           "run_audit", "severities"]
