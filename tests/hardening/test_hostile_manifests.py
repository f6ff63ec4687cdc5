"""One field of one object of the payments estate set to a well-formed value of the wrong type, through the CLI.

Each row runs `collect`, then `query who-can` and `audit` on the snapshot. A field that the
collector keeps and checks is rejected at collection: exit 2 and one line naming the file, line,
document, object and field. A field that only the analysis reads gives exit 0 and a warning that
names the object and its file, and the rest of the estate is still analysed. No row may end in
a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from blastradius.cli.app import app
from blastradius.collectors.manifests import collect_manifests
from tests.hardening import estate

# (id, kind, name, field path, value, 1-based line of the object, document number, message after the location)
REJECTED = [
    ("rules-string", "Role", "db-reader", ("rules",), "everything", 44, 7,
     "Role payments/db-reader: rules must be a list of mappings"),
    ("rule-scalar", "Role", "db-reader", ("rules", 0), "get", 44, 7,
     "Role payments/db-reader: rules must be a list of mappings"),
    ("name-number", "Role", "db-reader", ("metadata", "name"), 5, 44, 7,
     "Role in namespace payments: metadata.name must be a string, got integer"),
    ("name-list", "Role", "db-reader", ("metadata", "name"), ["db-reader"], 44, 7,
     "Role in namespace payments: metadata.name must be a string, got list"),
    ("kind-number", "Role", "db-reader", ("kind",), 5, 44, 7,
     "object without kind payments/db-reader: kind must be a string, got integer"),
    ("api-version-null", "Role", "db-reader", ("apiVersion",), None, 44, 7,
     "Role payments/db-reader: missing apiVersion"),
    ("namespace-number", "Role", "db-reader", ("metadata", "namespace"), 5, 44, 7,
     "Role db-reader: metadata.namespace must be a string, got integer"),
    ("labels-list", "Role", "db-reader", ("metadata", "labels"), ["team"], 44, 7,
     "Role payments/db-reader: metadata.labels must be a mapping, got list"),
    ("label-value-number", "Namespace", "payments", ("metadata", "labels", "env"), 5, 1, 1,
     "Namespace payments: metadata.labels must map strings to strings"),
    ("roleref-string", "RoleBinding", "alice-db-reader", ("roleRef",), "db-reader", 60, 8,
     "RoleBinding payments/alice-db-reader: roleRef must be a mapping, got string"),
    ("subjects-string", "RoleBinding", "alice-db-reader", ("subjects",), "alice", 60, 8,
     "RoleBinding payments/alice-db-reader: subjects must be a list of mappings"),
    ("secret-string-data-list", "Secret", "db", ("stringData",), ["password"], 13, 3,
     "Secret payments/db: stringData must be a mapping, got list"),
    ("secret-type-number", "Secret", "db", ("type",), 5, 13, 3,
     "Secret payments/db: type must be a string, got integer"),
    ("sa-secrets-string", "ServiceAccount", "api", ("secrets",), "api-token", 30, 5,
     "ServiceAccount payments/api: secrets must be a list of mappings"),
    ("sa-automount-string", "ServiceAccount", "api", ("automountServiceAccountToken",), "yes", 30, 5,
     "ServiceAccount payments/api: automountServiceAccountToken must be true or false, got string"),
    ("pod-sa-name-mapping", "Deployment", "api", ("spec", "template", "spec", "serviceAccountName"), {"name": "api"}, 167, 15,
     "Deployment payments/api: serviceAccountName must be a string, got mapping"),
    ("replicas-string", "Deployment", "api", ("spec", "replicas"), "2", 167, 15,
     "Deployment payments/api: the replica count must be an integer, got string"),
    ("containers-string", "Deployment", "api", ("spec", "template", "spec", "containers"), "api", 167, 15,
     "Deployment payments/api: containers must be a list of mappings"),
    ("store-spec-string", "SecretStore", "aws", ("spec",), "aws", 193, 16,
     "SecretStore payments/aws: spec must be a mapping, got string"),
]

# (id, kind, name, field path, value, object named by the warning, warning text after its location)
WARNED = [
    ("verbs-string", "Role", "db-reader", ("rules", 0, "verbs"), "get", "Role payments/db-reader",
     "rules[0].verbs: expected a list of strings, got 'get'; the API server would reject this Role, so it grants nothing"),
    ("verbs-null", "Role", "db-reader", ("rules", 0, "verbs"), None, "Role payments/db-reader",
     "rules[0].verbs: a rule needs at least one verb; the API server would reject this Role, so it grants nothing"),
    ("verbs-numbers", "Role", "db-reader", ("rules", 0, "verbs"), [1, 2], "Role payments/db-reader",
     "rules[0].verbs: expected a list of strings, got [1, 2]; the API server would reject this Role, so it grants nothing"),
    ("resources-string", "Role", "db-reader", ("rules", 0, "resources"), "secrets", "Role payments/db-reader",
     "rules[0].resources: expected a list of strings, got 'secrets'; the API server would reject this Role, so it "
     "grants nothing"),
    ("api-groups-string", "Role", "db-reader", ("rules", 0, "apiGroups"), "", "Role payments/db-reader",
     "rules[0].apiGroups: expected a list of strings, got ''; the API server would reject this Role, so it grants nothing"),
    ("resource-names-string", "Role", "db-reader", ("rules", 0, "resourceNames"), "db", "Role payments/db-reader",
     "rules[0].resourceNames: expected a list of strings, got 'db'; the API server would reject this Role, so it grants "
     "nothing"),
    ("aggregation-selectors-string", "ClusterRole", "sre-aggregate", ("aggregationRule", "clusterRoleSelectors"), "team=sre",
     "ClusterRole sre-aggregate",
     "aggregationRule.clusterRoleSelectors: an aggregation rule needs at least one selector; the API server would reject "
     "this ClusterRole, so it grants nothing"),
    ("match-labels-list", "ClusterRole", "sre-aggregate", ("aggregationRule", "clusterRoleSelectors", 0, "matchLabels"),
     ["team"], "ClusterRole sre-aggregate",
     "aggregationRule.clusterRoleSelectors[0].matchLabels: expected a mapping of label keys to values, got ['team']; the "
     "API server would reject this ClusterRole, so it grants nothing"),
    ("roleref-null", "RoleBinding", "alice-db-reader", ("roleRef",), None, "RoleBinding payments/alice-db-reader",
     "roleRef is missing or has no name; the binding grants nothing"),
    ("roleref-name-number", "RoleBinding", "alice-db-reader", ("roleRef", "name"), 5, "RoleBinding payments/alice-db-reader",
     "roleRef.name: expected a string, got 5; the binding grants nothing"),
    ("roleref-kind-unknown", "RoleBinding", "alice-db-reader", ("roleRef", "kind"), "Banana",
     "RoleBinding payments/alice-db-reader", "roleRef.kind 'Banana' is not Role or ClusterRole; the binding grants nothing"),
    ("subject-name-number", "RoleBinding", "alice-db-reader", ("subjects", 0, "name"), 5, "RoleBinding payments/alice-db-reader",
     "subjects[0].name: expected a string, got 5; the subject is ignored"),
    ("subject-kind-unknown", "RoleBinding", "alice-db-reader", ("subjects", 0, "kind"), "Robot",
     "RoleBinding payments/alice-db-reader",
     "subjects[0].kind: 'Robot' is not one of User, Group, ServiceAccount; the subject is ignored"),
    ("subject-namespace-null", "ClusterRoleBinding", "sre", ("subjects", 1, "namespace"), None, "ClusterRoleBinding sre",
     "subjects[1]: ServiceAccount api has no namespace, so it matches no one"),
    ("provider-string", "SecretStore", "aws", ("spec", "provider"), "aws", "SecretStore payments/aws",
     "spec.provider must be a mapping, got string"),
    ("aws-auth-list", "SecretStore", "aws", ("spec", "provider", "aws", "auth"), ["jwt"], "SecretStore payments/aws",
     "spec.provider.aws has a field of the wrong type ('list' object has no attribute 'get'); whose identity ESO uses "
     "is unknown"),
    ("service-account-ref-string", "SecretStore", "aws", ("spec", "provider", "aws", "auth", "jwt", "serviceAccountRef"),
     "api", "SecretStore payments/aws", "auth.jwt.serviceAccountRef does not name a ServiceAccount"),
    ("vault-auth-list", "SecretStore", "vault", ("spec", "provider", "vault", "auth", "kubernetes"), ["api"],
     "SecretStore payments/vault",
     "spec.provider.vault has a field of the wrong type ('list' object has no attribute 'get'); whose identity ESO uses "
     "is unknown"),
    ("store-conditions-string", "ClusterSecretStore", "aws-keys", ("spec", "conditions"), "payments",
     "ClusterSecretStore aws-keys", "spec.conditions must be a list, got string"),
    ("condition-namespaces-string", "ClusterSecretStore", "aws-keys", ("spec", "conditions", 0, "namespaces"), "payments",
     "ClusterSecretStore aws-keys", "spec.conditions[0].namespaces must be a list, got string"),
    ("condition-selector-string", "ClusterSecretStore", "aws-keys", ("spec", "conditions", 0, "namespaceSelector"),
     "env=prod", "ClusterSecretStore aws-keys", "namespaceSelector must be a mapping, got string"),
    ("store-ref-string", "ExternalSecret", "db", ("spec", "secretStoreRef"), "aws", "ExternalSecret payments/db",
     "spec.secretStoreRef must be a mapping, got string"),
    ("es-data-string", "ExternalSecret", "db", ("spec", "data"), "password", "ExternalSecret payments/db",
     "spec.data must be a list, got string"),
    ("remote-key-mapping", "ExternalSecret", "db", ("spec", "data", 0, "remoteRef", "key"), {"name": "payments/db"},
     "ExternalSecret payments/db", "spec.data[0].remoteRef.key must be a string, got mapping"),
    ("target-string", "ExternalSecret", "db", ("spec", "target"), "db", "ExternalSecret payments/db",
     "spec.target must be a mapping, got string"),
    ("refresh-interval-number", "ExternalSecret", "db", ("spec", "refreshInterval"), 60, "ExternalSecret payments/db",
     "spec.refreshInterval: invalid duration 60: write it as a quoted Go duration such as \"1h\" or \"0\""),
    ("data-from-mapping", "ExternalSecret", "db", ("spec", "dataFrom"), {"find": {}}, "ExternalSecret payments/db",
     "spec.dataFrom must be a list, got mapping"),
    ("find-regexp-list", "ExternalSecret", "db", ("spec", "dataFrom", 0, "find", "name", "regexp"), ["^payments/"],
     "ExternalSecret payments/db", "spec.dataFrom[0].find.name.regexp must be a string, got list"),
    ("find-path-number", "ExternalSecret", "db", ("spec", "dataFrom", 0, "find", "path"), 5,
     "ExternalSecret payments/db", "spec.dataFrom[0].find.path must be a string, got integer"),
    ("namespace-selectors-string", "ClusterExternalSecret", "shared-tls", ("spec", "namespaceSelectors"), "env=prod",
     "ClusterExternalSecret shared-tls", "spec.namespaceSelectors must be a list, got string"),
    ("push-store-refs-string", "PushSecret", "db-backup", ("spec", "secretStoreRefs"), "aws", "PushSecret payments/db-backup",
     "secretStoreRefs must be a list, got string"),
]

# (id, kind, name, apiVersion, warning text after `file:line: document N: Kind namespace/name: `)
UNUSUAL_API_VERSIONS = [
    ("role-core-group", "Role", "db-reader", "v1",
     "apiVersion v1 is not an API group blastradius reads Role from (rbac.authorization.k8s.io). The object is skipped, so "
     "what it grants or mounts is missing from the snapshot. Correct the apiVersion if it is meant as one"),
    ("deployment-extensions-group", "Deployment", "api", "extensions/v1beta1",
     "apiVersion extensions/v1beta1 is not an API group blastradius reads Deployment from (apps). The object is skipped, "
     "so what it grants or mounts is missing from the snapshot. Correct the apiVersion if it is meant as one"),
    ("role-unknown-version", "Role", "db-reader", "rbac.authorization.k8s.io/v2",
     "apiVersion rbac.authorization.k8s.io/v2 is not a version blastradius supports (it reads v1, v1alpha1, v1beta1 of this "
     "API group), so the analysis may misread or skip it"),
    ("external-secret-unknown-version", "ExternalSecret", "db", "external-secrets.io/v2",
     "apiVersion external-secrets.io/v2 is not a version blastradius supports (it reads v1, v1alpha1, v1beta1 of this API "
     "group), so the analysis may misread or skip it"),
]

# The role reads the AWS secret through its own policy, which no manifest change can affect.
UNAFFECTED_READER = "role/payments-api"


def collect_changed(folder: Path, kind: str, name: str, path: tuple[Any, ...], value: Any) -> tuple[Path, Path, Result]:
    """Write the estate with one field changed, run `collect`, and return the manifest, snapshot and result."""
    objects = estate.manifests()
    estate.set_field(estate.find(objects, kind, name), path, value)
    manifest = estate.write_manifests(folder, objects)
    snapshot = folder / "snapshot.json"
    result = CliRunner().invoke(app, ["collect", "--manifests", str(manifest), "--aws-json", str(estate.write_bundle(folder)),
                                      "--oidc-issuer", estate.ISSUER, "-o", str(snapshot)])
    return manifest, snapshot, result


def assert_no_traceback(result: Result) -> None:
    assert not isinstance(result.exception, Exception), result.exception


def readers_and_warnings(snapshot: Path) -> tuple[list[str], list[str]]:
    """Run who-can on the AWS secret and return the principals found and the warning lines on stderr."""
    result = CliRunner().invoke(app, ["query", "who-can", "-s", str(snapshot), estate.DB_SECRET, "-o", "json"])
    assert_no_traceback(result)
    assert result.exit_code == 0
    principals = sorted(row["principal"] for row in json.loads(result.stdout)["rows"])
    return principals, result.stderr.splitlines()


def audit_finishes(snapshot: Path) -> None:
    """Run the audit and check it ends with findings or none, never a traceback."""
    result = CliRunner().invoke(app, ["audit", "-s", str(snapshot), "-o", "json"])
    assert_no_traceback(result)
    assert result.exit_code in (0, 1)
    json.loads(result.stdout)


@pytest.mark.parametrize(("kind", "name", "path", "value", "line", "document", "message"),
                         [row[1:] for row in REJECTED], ids=[row[0] for row in REJECTED])
def test_wrong_type_rejected_at_collect(tmp_path: Path, kind: str, name: str, path: tuple[Any, ...], value: Any,
                                        line: int, document: int, message: str) -> None:
    manifest, snapshot, result = collect_changed(tmp_path, kind, name, path, value)

    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == f"error: {manifest}:{line}: document {document}: {message}; no snapshot was written\n"
    assert estate.CANARY not in result.stderr
    assert not snapshot.exists()


@pytest.mark.parametrize(("kind", "name", "path", "value", "label", "warning"),
                         [row[1:] for row in WARNED], ids=[row[0] for row in WARNED])
def test_wrong_type_warned_and_analysed(tmp_path: Path, kind: str, name: str, path: tuple[Any, ...], value: Any,
                                        label: str, warning: str) -> None:
    manifest, snapshot, result = collect_changed(tmp_path, kind, name, path, value)
    assert result.exit_code == 0, result.stderr
    readers, warnings = readers_and_warnings(snapshot)

    assert [line for line in warnings if f"{label} ({manifest}:" in line and line.endswith(f"): {warning}")]
    assert UNAFFECTED_READER in readers
    assert not [line for line in warnings if estate.CANARY in line]
    audit_finishes(snapshot)


@pytest.mark.parametrize(("kind", "name", "api_version", "warning"),
                         [row[1:] for row in UNUSUAL_API_VERSIONS], ids=[row[0] for row in UNUSUAL_API_VERSIONS])
def test_unusual_api_version_warned(tmp_path: Path, kind: str, name: str, api_version: str, warning: str) -> None:
    manifest, snapshot, result = collect_changed(tmp_path, kind, name, ("apiVersion",), api_version)
    collect_warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]

    assert result.exit_code == 0
    assert len(collect_warnings) == 1
    assert collect_warnings[0].startswith(f"WARNING blastradius.collectors.manifests: {manifest}:")
    assert collect_warnings[0].endswith(f": {kind} payments/{name}: {warning}")
    assert UNAFFECTED_READER in readers_and_warnings(snapshot)[0]
    audit_finishes(snapshot)


def test_null_rules_grant_nothing(tmp_path: Path) -> None:
    _, snapshot, result = collect_changed(tmp_path, "Role", "db-reader", ("rules",), None)
    readers = CliRunner().invoke(app, ["query", "who-can", "-s", str(snapshot), "secret:payments/db", "-o", "json"])

    assert result.exit_code == 0
    assert "user:alice" not in [row["principal"] for row in json.loads(readers.stdout)["rows"]]


def test_unknown_kind_same_group_counted(tmp_path: Path) -> None:
    _, snapshot, result = collect_changed(tmp_path, "Role", "db-reader", ("kind",), "RoleTemplate")
    summary = CliRunner().invoke(app, ["snapshot", "show", str(snapshot), "-o", "json"])

    assert result.exit_code == 0
    assert "WARNING" not in result.stderr
    assert json.loads(summary.stdout)["clusters"][0]["skipped_kinds"] == {"RoleTemplate": 1}


def test_unusual_api_version_warned_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    legacy = [{"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": name, "namespace": "payments"},
               "spec": {"template": {"spec": {"containers": [{"name": name, "image": "payments/batch:2"}]}}}}
              for name in ("ledger", "reports", "exports")]
    manifest = estate.write_manifests(tmp_path, estate.manifests() + legacy)

    collect_manifests([str(manifest)], "payments")

    assert [record.getMessage() for record in caplog.records if record.levelname == "WARNING"] == [
        f"{manifest}:392: document 27: Deployment payments/ledger (and 2 more of this apiVersion and kind): apiVersion "
        "extensions/v1beta1 is not an API group blastradius reads Deployment from (apps). The object is skipped, so what "
        "it grants or mounts is missing from the snapshot. Correct the apiVersion if it is meant as one"
    ]
