"""Render audit findings as SARIF 2.1.0, the format GitHub code scanning and other CI tools ingest.

One run, whose driver lists every check of the catalogue as a rule. A finding's location is its
first object that was read from a manifest: the file as given to `collect`, and the object's line.
Its other objects with a file are related locations. For a finding about AWS entities only, the
location is the `--aws-json` file of the account when there is exactly one, without a line. A
finding with neither has only logical locations, which GitHub code scanning may not display.
`partialFingerprints` hash the check id and the objects' kind, namespace and name, never file or
line, so a finding keeps its identity when the manifests move around.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any, Iterable
from urllib.parse import quote

from blastradius import __version__
from blastradius.queries.audit import CHECKS, Check, Finding
from blastradius.render.escape import json_controls_escaped

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
# NOTE: the project publishes no home page yet; the driver's informationUri names it by URN until it does.
INFORMATION_URI = "urn:blastradius:audit"
FINGERPRINT_KEY = "blastradiusFinding/v1"

# SARIF levels and GitHub's security-severity scores (critical > 9.0, high 7.0-8.9, medium 4.0-6.9,
# low 0.1-3.9). `info` has no score, so code scanning lists those results without a security severity.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
# The system a check id's prefix names, as a rule tag.
SYSTEM_TAGS = {"ESO": "external-secrets", "K8S": "kubernetes", "IAM": "aws-iam", "IRSA": "aws-iam", "SNAPSHOT": "coverage"}
_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]+:[^:]*:[^:]*:(\d{12}):")


def render_sarif(findings: list[Finding], levels: dict[str, str], aws_files: dict[str, str] | None = None,
                 checks: Iterable[Check] = CHECKS) -> str:
    """Return the SARIF log of an audit as JSON text.

    `levels` maps each check id to its severity after configuration overrides (the rules' default
    level). `aws_files` maps an AWS account id to the one `--aws-json` file it was read from.
    """
    rules = [_rule(check, levels.get(check.id, check.severity)) for check in checks]
    rule_index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = [_result(finding, rule_index, aws_files or {}) for finding in findings]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "blastradius", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    # Names stay readable (ensure_ascii=False), and the controls that JSON writes raw are escaped
    # so that printing the log on a terminal runs no escape sequence.
    return json_controls_escaped(json.dumps(log, indent=2, ensure_ascii=False))


def aws_bundle_files(snapshot: dict[str, Any]) -> dict[str, str]:
    """Return account id → `--aws-json` file for each account read from exactly one file."""
    files = {}
    for account in snapshot.get("aws_accounts", []):
        origin = account.get("origin")
        if isinstance(origin, list) and len(origin) == 1:
            files[account["account_id"]] = origin[0]
    return files


def _rule(check: Check, severity: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"tags": ["security", SYSTEM_TAGS.get(check.id.split("-", 1)[0], "configuration")],
                                  "precision": "high"}
    if severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    help_text = f"{check.why}\n\nRecommendation: {check.recommendation}\n\nScope: {check.scope}"
    help_markdown = f"{check.why}\n\n**Recommendation:** {check.recommendation}\n\n**Scope:** {check.scope}"
    return {
        "id": check.id,
        "name": _rule_name(check.title),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": check.detects},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": properties,
    }


def _rule_name(title: str) -> str:
    """Return a title as an UpperCamelCase identifier: `Broad ClusterSecretStore` → `BroadClusterSecretStore`."""
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(word[0].upper() + word[1:] for word in words)


def _result(finding: Finding, rule_index: dict[str, int], aws_files: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "ruleIndex": rule_index[finding.check_id],
        "level": LEVELS[finding.severity],
        "message": {"text": finding.message},
    }
    located = [item for item in finding.objects if item.get("file")]
    if located:
        result["locations"] = [_location(located[0])]
        if len(located) > 1:
            result["relatedLocations"] = [dict(_location(item), id=number) for number, item in enumerate(located[1:], 1)]
    else:
        bundle = _bundle_file(finding.objects, aws_files)
        if bundle is not None:
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": _uri(bundle)}},
                                    "logicalLocations": _logical(finding.objects)}]
        elif finding.objects:
            result["locations"] = [{"logicalLocations": _logical(finding.objects)}]
    result["partialFingerprints"] = {FINGERPRINT_KEY: _fingerprint(finding)}
    result["properties"] = {"severity": finding.severity, "recommendation": finding.recommendation}
    return result


def _location(item: dict[str, Any]) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(item["file"])}}
    if item.get("line"):
        physical["region"] = {"startLine": int(item["line"])}
    return {"physicalLocation": physical, "logicalLocations": _logical([item])}


def _logical(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    logical = []
    for item in items:
        name = f"{item['namespace']}/{item['name']}" if item.get("namespace") else str(item.get("name"))
        logical.append({"name": str(item.get("name")), "fullyQualifiedName": f"{item.get('kind')}/{name}",
                        "kind": "resource"})
    return logical


def _uri(path: str) -> str:
    """Return a file path as a URI reference: relative paths stay relative (percent-encoded), absolute become file URIs."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return "file://" + quote(str(posix))
    return quote(str(posix))


def _bundle_file(items: list[dict[str, Any]], aws_files: dict[str, str]) -> str | None:
    for item in items:
        match = _ACCOUNT_IN_ARN.match(str(item.get("name")))
        if match and match.group(1) in aws_files:
            return aws_files[match.group(1)]
    return None


def _fingerprint(finding: Finding) -> str:
    identity = [finding.check_id] + [f"{item.get('kind')}|{item.get('namespace') or ''}|{item.get('name')}"
                                     for item in finding.objects]
    return hashlib.sha256("\n".join(identity).encode("utf-8")).hexdigest()
