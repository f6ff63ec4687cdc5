"""Tests for the manifests collector: file discovery, YAML and JSON parsing, origins and bad input."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from blastradius.collectors.errors import CollectionError
from blastradius.collectors.manifests import ManifestError, collect_manifests

CANARY = "CANARY-do-not-store-7f3a9c"
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "data" / "manifests"
# Unedited third-party files, kept in a folder next to the repository rather than inside it.
REAL_INPUTS = REPO_ROOT.parent / "shared" / "real-inputs"


def _section(paths: list[str], **options: object) -> dict:
    collection = collect_manifests(paths, "test", **options)
    assert len(collection.clusters) == 1
    return collection.clusters[0]


def _kinds(section: dict) -> dict[str, int]:
    return dict(Counter(obj["kind"] for obj in section["objects"]))


def _origins(section: dict) -> list[tuple[str, str, int]]:
    return [(obj["metadata"]["name"], obj["origin"]["file"], obj["origin"]["line"]) for obj in section["objects"]]


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


# --- the fixture estate ----------------------------------------------------------------------------


def test_fixture_folder_kind_counts() -> None:
    section = _section([str(FIXTURES)])

    assert _kinds(section) == {
        "ClusterSecretStore": 1,
        "ExternalSecret": 1,
        "Namespace": 2,
        "ServiceAccount": 1,
        "Deployment": 1,
        "Role": 1,
        "RoleBinding": 1,
        "Secret": 2,
    }
    assert section["skipped_kinds"] == {"ConfigMap": 1, "Service": 1}


def test_fixture_folder_section_fields() -> None:
    section = _section([str(FIXTURES)], oidc_issuer="https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE")

    assert section["name"] == "test"
    assert section["server"] is None
    assert section["manifests"] == [str(FIXTURES)]
    assert section["oidc_issuer"] == "https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def test_folder_walk_sorted_recursive_order() -> None:
    section = _section([str(FIXTURES)])

    files = list(dict.fromkeys(obj["origin"]["file"] for obj in section["objects"]))

    assert files == [
        os.path.join(str(FIXTURES), "external-secrets/stores.yaml"),
        os.path.join(str(FIXTURES), "namespaces.yaml"),
        os.path.join(str(FIXTURES), "payments/api.yaml"),
        os.path.join(str(FIXTURES), "payments/rbac.json"),
        os.path.join(str(FIXTURES), "payments/secrets.yaml"),
    ]


def test_fixture_secret_values_absent() -> None:
    section = _section([str(FIXTURES)])

    text = json.dumps(section)

    assert CANARY not in text
    assert "Q0FOQVJZLWRvLW5vdC1zdG9yZS03ZjNhOWM=" not in text


# --- YAML documents and line numbers ---------------------------------------------------------------


def test_helm_output_documents_and_lines(tmp_path: Path) -> None:
    text = (
        "---\n"  # 1
        "# Source: payments/templates/namespace.yaml\n"  # 2
        "apiVersion: v1\n"  # 3
        "kind: Namespace\n"
        "metadata:\n"
        "  name: payments\n"
        "---\n"  # 7
        "# Source: payments/templates/empty.yaml\n"
        "---\n"  # 9
        "# Source: payments/templates/serviceaccount.yaml\n"
        "\n"
        "apiVersion: v1\n"  # 12
        "kind: ServiceAccount\n"
        "metadata:\n"
        "  name: payments-api\n"
        "  namespace: payments\n"
        "---\n"
    )
    path = _write(tmp_path, "rendered.yaml", text)

    section = _section([path])

    assert _origins(section) == [("payments", path, 3), ("payments-api", path, 12)]


def test_yaml_list_items_keep_lines(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\n"  # 1
        "items:\n"
        "- apiVersion: v1\n"  # 3
        "  kind: Namespace\n"
        "  metadata:\n"
        "    name: a\n"
        "- apiVersion: v1\n"  # 7
        "  kind: ConfigMap\n"
        "  metadata:\n"
        "    name: settings\n"
        "- apiVersion: v1\n"  # 11
        "  kind: Namespace\n"
        "  metadata:\n"
        "    name: b\n"
        "kind: List\n"
        "metadata:\n"
        "  resourceVersion: \"\"\n"
    )
    path = _write(tmp_path, "dump.yaml", text)

    section = _section([path])

    assert _origins(section) == [("a", path, 3), ("b", path, 11)]
    assert section["skipped_kinds"] == {"ConfigMap": 1}


def test_typed_list_flattened(tmp_path: Path) -> None:
    text = (
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: RoleBindingList\n"
        "metadata: {}\n"
        "items:\n"
        "- metadata:\n"  # 5
        "    name: reader\n"
        "    namespace: payments\n"
        "  apiVersion: rbac.authorization.k8s.io/v1\n"
        "  kind: RoleBinding\n"
        "  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n"
        "  subjects: [{kind: ServiceAccount, name: api, namespace: payments}]\n"
    )
    path = _write(tmp_path, "bindings.yaml", text)

    section = _section([path])

    assert _origins(section) == [("reader", path, 5)]
    assert section["objects"][0]["subjects"] == [{"kind": "ServiceAccount", "name": "api", "namespace": "payments"}]


def test_empty_list_adds_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.yaml", "apiVersion: v1\nkind: List\nitems: []\nmetadata: {}\n")

    section = _section([path])

    assert section["objects"] == []
    assert section["skipped_kinds"] == {}


def test_kind_named_list_without_items(tmp_path: Path) -> None:
    text = "apiVersion: example.com/v1\nkind: AllowList\nmetadata:\n  name: egress\nspec: {}\n"
    path = _write(tmp_path, "allow.yaml", text)

    section = _section([path])

    assert section["skipped_kinds"] == {"AllowList": 1}


def test_yaml_timestamps_stay_strings(tmp_path: Path) -> None:
    text = (
        "apiVersion: external-secrets.io/v1\n"
        "kind: ExternalSecret\n"
        "metadata:\n"
        "  name: db\n"
        "  namespace: payments\n"
        "  creationTimestamp: 2026-11-30T09:12:44Z\n"
        "spec:\n"
        "  refreshInterval: 1h\n"
        "status:\n"
        "  refreshTime: 2026-12-04T08:00:00Z\n"
        "  binding: !!binary ZGI=\n"
    )
    path = _write(tmp_path, "es.yaml", text)

    status = _section([path])["objects"][0]["status"]

    assert status == {"refreshTime": "2026-12-04T08:00:00Z", "binding": "ZGI="}


def test_yaml_duplicate_key_rejected(tmp_path: Path) -> None:
    manifest = tmp_path / "concatenated.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n"
    )

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(manifest)], "test")

    assert str(raised.value) == (
        f"{manifest}:5: invalid YAML: duplicate key 'apiVersion' in one mapping (a missing '---' between documents?)"
    )


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = (
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        "kind: Role\n"
        "metadata:\n"
        "  name: reader\n"
        "  namespace: payments\n"
        "rules:\n"
        "- &read {apiGroups: [''], resources: [secrets], verbs: [get, list]}\n"
        "- <<: *read\n"
        "  resources: [configmaps]\n"
    )
    path = _write(tmp_path, "role.yaml", text)

    rules = _section([path])["objects"][0]["rules"]

    assert rules == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
    ]


def test_yaml_scalar_types_follow_yaml_1_1(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: payments\n"
        "automountServiceAccountToken: no\n"
    )
    path = _write(tmp_path, "sa.yaml", text)

    assert _section([path])["objects"][0]["automountServiceAccountToken"] is False


# --- JSON --------------------------------------------------------------------------------------


def test_json_list_items_keep_lines() -> None:
    path = str(FIXTURES / "payments" / "rbac.json")

    section = _section([path])

    assert _origins(section) == [("secret-reader", path, 4), ("payments-api-secret-reader", path, 20)]


def test_json_single_object(tmp_path: Path) -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}}
    path = _write(tmp_path, "ns.json", "\n\n" + json.dumps(obj, indent=2) + "\n")

    assert _origins(_section([path])) == [("payments", path, 3)]


def test_json_stream_of_objects(tmp_path: Path) -> None:
    first = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    second = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}, indent=1)
    path = _write(tmp_path, "stream.json", f"{first}\n{second}\n")

    assert _origins(_section([path])) == [("a", path, 1), ("b", path, 2)]


def test_json_content_in_yaml_file(tmp_path: Path) -> None:
    text = '{"apiVersion": "v1", "kind": "List", "items": [\n  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}\n]}\n'
    path = _write(tmp_path, "dump.yaml", text)

    assert _origins(_section([path])) == [("a", path, 2)]


def test_flow_yaml_in_yaml_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "flow.yaml", "{apiVersion: v1, kind: Namespace, metadata: {name: flow}}\n")

    assert _origins(_section([path])) == [("flow", path, 1)]


# --- stdin and paths ---------------------------------------------------------------------------


def test_stdin_text_stream() -> None:
    section = _section(["-"], stdin=io.StringIO("---\n" + NAMESPACE.format(name="from-stdin")))

    assert _origins(section) == [("from-stdin", "<stdin>", 2)]
    assert section["manifests"] == ["-"]


def test_stdin_byte_stream_json() -> None:
    payload = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "piped"}}).encode()

    section = _section(["-"], stdin=io.TextIOWrapper(io.BytesIO(payload), encoding="utf-8"))

    assert _origins(section) == [("piped", "<stdin>", 1)]


def test_stdin_given_twice_rejected() -> None:
    with pytest.raises(ManifestError, match=r"^standard input \(-\) is given more than once: give it once$"):
        collect_manifests(["-", "-"], "test", stdin=io.StringIO(""))


def test_folder_skips_hidden_and_other_files(tmp_path: Path) -> None:
    _write(tmp_path, "ns.yml", NAMESPACE.format(name="kept"))
    _write(tmp_path, ".github/workflows/ci.yml", "on: push\njobs: {}\n")
    _write(tmp_path, ".hidden.yaml", NAMESPACE.format(name="hidden"))
    _write(tmp_path, "README.md", "# manifests\n")
    _write(tmp_path, "chart/values.txt", "replicas: 3\n")

    section = _section([str(tmp_path)])

    assert _origins(section) == [("kept", os.path.join(str(tmp_path), "ns.yml"), 1)]


def test_same_file_twice_read_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "ns.yaml", NAMESPACE.format(name="once"))

    section = _section([str(tmp_path), path])

    assert len(section["objects"]) == 1


def test_utf16_file_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "powershell.yaml"
    path.write_bytes(NAMESPACE.format(name="windows").encode("utf-16"))

    assert _origins(_section([str(path)])) == [("windows", str(path), 1)]


def test_kustomization_counted_not_rejected(tmp_path: Path) -> None:
    text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ns.yaml\n"
    path = _write(tmp_path, "kustomization.yaml", text)

    assert _section([path])["skipped_kinds"] == {"Kustomization": 1}


# --- real third-party files ----------------------------------------------------------------------


def _real_inputs(folder: str) -> Path:
    path = REAL_INPUTS / folder
    if not path.is_dir():
        pytest.skip(f"real inputs not found at {path}: the shared folder must sit next to the repository")
    return path


def test_kubernetes_bootstrap_rbac_counts() -> None:
    folder = _real_inputs("kubernetes-bootstrap-rbac")

    section = _section([str(path) for path in sorted(folder.iterdir())])

    assert _kinds(section) == {"ClusterRole": 52, "ClusterRoleBinding": 37, "Role": 7, "RoleBinding": 7}
    assert section["skipped_kinds"] == {}


def test_kubernetes_bootstrap_rbac_item_lines() -> None:
    folder = _real_inputs("kubernetes-bootstrap-rbac")
    path = str(folder / "namespace-roles.yaml")

    section = _section([path])

    first = section["objects"][0]
    assert (first["metadata"]["name"], first["origin"]["line"]) == ("system:controller:bootstrap-signer", 3)


def test_eso_examples_counts() -> None:
    folder = _real_inputs("eso-examples")

    section = _section([str(path) for path in sorted(folder.iterdir())])

    assert _kinds(section) == {
        "ClusterSecretStore": 1,
        "ECRAuthorizationToken": 1,
        "ExternalSecret": 1,
        "PushSecret": 1,
        "SecretStore": 1,
    }
    assert section["skipped_kinds"] == {}


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "broken.yaml",
            f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: \"{CANARY}\n",
            ":7: invalid YAML: while scanning a quoted scalar that starts at line 6, found unexpected end of stream",
        ),
        (
            "tabs.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: x\n",
            ":4: invalid YAML: while scanning for the next token, found character that cannot start any token",
        ),
        (
            "nokind.yaml",
            NAMESPACE.format(name="a") + "---\napiVersion: v1\nmetadata:\n  name: orphan\n  namespace: payments\n",
            ":6: document 2: object without kind payments/orphan: missing kind",
        ),
        (
            "noname.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  namespace: payments\ndata:\n  password: c2VjcmV0\n",
            ":1: document 1: Secret in namespace payments: missing metadata.name",
        ),
        (
            "noapiversion.yaml",
            "kind: Namespace\nmetadata:\n  name: a\n",
            ":1: document 1: Namespace a: missing apiVersion",
        ),
        (
            "listitem.yaml",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  metadata: {name: b}\n",
            ":7: document 1, item 2: object without kind b: missing kind",
        ),
        (
            "items.yaml",
            "apiVersion: v1\nkind: List\nitems: {a: 1}\n",
            ":1: document 1: List items must be a list",
        ),
        (
            "scalar.yaml",
            "just some text\n",
            ":1: document 1: expected a Kubernetes object (a mapping), got string",
        ),
        (
            "badtype.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules: everything\n",
            ":1: document 1: Role r: rules must be a list of mappings",
        ),
        (
            "tag.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: !Ref NamespaceName\n",
            ":4: invalid YAML: unsupported YAML tag !Ref",
        ),
        (
            "bad.json",
            '{\n  "apiVersion": "v1",\n  "kind": "Namespace",\n}\n',
            ":4: invalid JSON: Expecting property name enclosed in double quotes",
        ),
    ],
    ids=["yaml-syntax", "yaml-tab", "missing-kind", "missing-name", "missing-api-version", "list-item", "items-type", "scalar-document", "field-type", "unknown-tag", "json-syntax"],
)
def test_malformed_file_rejected(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = _write(tmp_path, name, text)

    with pytest.raises(ManifestError) as raised:
        collect_manifests([path], "test")

    assert str(raised.value) == f"{path}{message}"
    assert CANARY not in str(raised.value)


def test_duplicate_object_names_both_locations(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", NAMESPACE.format(name="payments"))
    second = _write(tmp_path, "b.yaml", "---\n" + NAMESPACE.format(name="other") + "---\n" + NAMESPACE.format(name="payments"))

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(tmp_path)], "test")

    assert str(raised.value) == (
        f"{second}:7: document 2: duplicate object Namespace payments: it is also defined at {first}:1, document 1. "
        "Remove one of them"
    )


def test_duplicate_needs_same_group(tmp_path: Path) -> None:
    text = (
        "apiVersion: kyverno.io/v1\nkind: Policy\nmetadata:\n  name: p\n  namespace: payments\nspec: {}\n---\n"
        "apiVersion: kyverno.io/v2beta1\nkind: Policy\nmetadata:\n  name: q\n  namespace: payments\nspec: {}\n"
    )
    path = _write(tmp_path, "policies.yaml", text)

    assert len(_section([path])["objects"]) == 2


def test_same_name_other_namespace_allowed(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: a\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: b\n"
    )
    path = _write(tmp_path, "sa.yaml", text)

    assert len(_section([path])["objects"]) == 2


def test_missing_path_rejected(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")

    with pytest.raises(ManifestError) as raised:
        collect_manifests([missing], "test")

    assert str(raised.value) == f"{missing}: manifest path not found"


def test_folder_without_manifests_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "notes.txt", "nothing here\n")

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(tmp_path)], "test")

    assert str(raised.value) == f"{tmp_path}: no *.yaml, *.yml or *.json files in this folder"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file (it contains NUL bytes): expected YAML or JSON manifests"),
        (b"apiVersion: v1\nkind: \xff\xfeNamespace\n", "not a text file: invalid utf-8 at byte 21: expected YAML or JSON manifests"),
    ],
    ids=["nul-bytes", "invalid-utf8"],
)
def test_binary_file_rejected(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(payload)

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(path)], "test")

    assert str(raised.value) == f"{path}: {message}"


def test_manifest_error_is_collection_error() -> None:
    assert issubclass(ManifestError, CollectionError)


# --- properties --------------------------------------------------------------------------------

_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./", min_size=1, max_size=10)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=15),
)
_values = st.recursive(_scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4), max_leaves=20)


def _prometheus_rule(spec: dict) -> dict:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "rules", "namespace": "monitoring"}, "spec": spec}


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5))
def test_yaml_parse_matches_safe_load(spec: dict) -> None:
    text = yaml.safe_dump(_prometheus_rule(spec), default_flow_style=False, allow_unicode=True)

    parsed = _section(["-"], stdin=io.StringIO(text))["objects"][0]["spec"]

    assert parsed == yaml.safe_load(text)["spec"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5), st.sampled_from([None, 1, 4]))
def test_json_parse_round_trips(spec: dict, indent: int | None) -> None:
    text = json.dumps(_prometheus_rule(spec), indent=indent, ensure_ascii=False)

    parsed = _section(["-"], stdin=io.StringIO(text))["objects"][0]["spec"]

    assert parsed == spec


def test_yaml_alias_bomb_rejected(tmp_path: Path) -> None:
    levels = ["a: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{index}: &a{index} [{', '.join([f'*a{index - 1}'] * 10)}]" for index in range(1, 8)]
    manifest = tmp_path / "bomb.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n"
                        + "\n".join(f"  {line}" for line in levels) + "\n")

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(manifest)], "test")

    assert str(raised.value) == (
        f"{manifest}:1: document 1 expands its YAML aliases to more than 1,000,000 values; expand or remove the anchors"
    )


def test_yaml_deep_nesting_rejected(tmp_path: Path) -> None:
    manifest = tmp_path / "deep.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  a: " + "[" * 900 + "]" * 900 + "\n")

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(manifest)], "test")

    assert str(raised.value) == f"{manifest}: document 1 is nested too deeply to be a Kubernetes object"


@pytest.mark.parametrize("file_name", ["deep.json", "deep.yaml"], ids=["json-file", "json-content-in-yaml-file"])
def test_json_deep_nesting_rejected(tmp_path: Path, file_name: str) -> None:
    manifest = tmp_path / file_name
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "deep", "namespace": "a"}}
    manifest.write_text(json.dumps(role)[:-1] + ', "rules": ' + "[" * 1000 + "]" * 1000 + "}")

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(manifest)], "test")

    assert str(raised.value) == f"{manifest}: JSON nested too deeply to parse"


def test_symlink_loop_in_folder_rejected(tmp_path: Path) -> None:
    (tmp_path / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n")
    (tmp_path / "loop1.yaml").symlink_to("loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to("loop1.yaml")

    with pytest.raises(ManifestError) as raised:
        collect_manifests([str(tmp_path)], "test")

    assert str(raised.value) == f"{tmp_path / 'loop1.yaml'}: symbolic link loop; remove the link or give the target file"
