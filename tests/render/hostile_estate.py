"""An estate whose names carry every payload that could attack the reader of an output.

Kubernetes RBAC lets a User or Group subject have any name, and a Secrets Manager secret in a
snapshot may come from a bundle file that no AWS API validated. So each payload is the name of a
User, of a Group and of an AWS secret, and it sits in an annotation, a tag and an ExternalSecret's
remote key. It is also the resource and detail of a coverage gap, as a live collection could record
from an API server's error. Object names that the collector indexes by (namespace, Role, stores)
stay ordinary.

`PAYLOADS` maps an id to the raw text; the expected escaped form of each payload per output
format is in the tests, written out by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blastradius.snapshot import write_snapshot
from tests.graph import estate
from tests.semantics import iam_fixtures as aws

PAYLOADS = {
    "html": "<img src=x onerror=alert(1)>",
    "dot": 'dot"{x}\\N',
    "ansi": "\x1b[31mred\x1b[0m",
    "osc8": "\x1b]8;;http://127.0.0.1/\x07link\x1b]8;;\x07",
    "controls": "bell\x07nul\x00del\x7fcsi\x9brlo\u202e",
    "newline": "one\ntwo\r\nthree",
    "formula": '=HYPERLINK("http://127.0.0.1/")',
    "plus": "+SUM(1)",
    "minus": "-SUM(1)",
    "at": "@SUM(1)",
    "tab": "\tSUM(1)",
    "cr": "\rSUM(1)",
}
NAMESPACE = "app"
ESO_ACCOUNT = "external-secrets"
ESO_SUBJECT = estate.sa("external-secrets", ESO_ACCOUNT)


def hostile_objects(payloads: dict[str, str] = PAYLOADS) -> list[dict[str, Any]]:
    """Return the Kubernetes objects: one binding to read Secrets of `app` for a User and a Group per
    payload, and an ExternalSecret per payload copying the AWS secret of that name into `app`."""
    subjects = [estate.user_subject(text) for text in payloads.values()]
    subjects += [estate.group_subject(text) for text in payloads.values()]
    annotations = {f"example.com/{key}": text for key, text in payloads.items()}
    return [
        estate.namespace(NAMESPACE),
        estate.secret(NAMESPACE, "db", annotations=annotations),
        estate.role(NAMESPACE, "reader", estate.READ_SECRETS),
        estate.role_binding(NAMESPACE, "reader", ("Role", "reader"), *subjects),
        *estate.eso_controller(),
        estate.cluster_secret_store("global", estate.aws_provider()),
        *(estate.external_secret(NAMESPACE, f"copy-{key}", ("ClusterSecretStore", "global"), key=text, target=f"copy-{key}")
          for key, text in payloads.items()),
    ]


def hostile_account(payloads: dict[str, str] = PAYLOADS) -> dict[str, Any]:
    """Return the AWS account: a secret per payload, tagged with it, that the ESO controller's IRSA role reads."""
    secrets = [aws.secret(text, tags={"owner": text}) for text in payloads.values()]
    return estate.account(secret_entries=secrets,
                          roles=(estate.irsa_role("eso-controller", ESO_SUBJECT, "*"),))


def hostile_snapshot(payloads: dict[str, str] = PAYLOADS) -> dict[str, Any]:
    snapshot = estate.snapshot(hostile_objects(payloads), hostile_account(payloads))
    snapshot["coverage_gaps"] = [{"source": f"kubernetes:{estate.CLUSTER}", "reason": "forbidden", "resource": text,
                                  "namespace": NAMESPACE, "detail": f"HTTP 403: {text}"} for text in payloads.values()]
    return snapshot


def write_hostile_snapshot(path: Path, payloads: dict[str, str] = PAYLOADS) -> Path:
    return write_snapshot(hostile_snapshot(payloads), path)
