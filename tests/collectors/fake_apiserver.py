"""An in-process stand-in for a Kubernetes API server, for collector tests.

The server binds to 127.0.0.1 on a free port and serves what a list-only client needs from a real
kube-apiserver. It serves discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`),
`/version` and the service-account issuer document. Its cluster-wide list endpoints page for real
(`limit`, `continue`, `metadata.continue`, `remainingItemCount`). Error responses carry a `Status`
body shaped like the real server's. Every request is recorded so tests can assert on what the
client sent, for example that Secrets were only ever listed as metadata.

Faults can be injected per resource (`forbid`, `fail`), per page of a list (`fail_page`,
`stall_page`), per path (`stall`) and on continue tokens (`expire_continue`, `loop_continue`), to
test how the collector retries and which coverage gaps it records.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

import yaml

METADATA_ONLY_MEDIA_TYPE = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
TEST_TOKEN = "fake-apiserver-bearer-token"
TEST_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
COLLECTOR_USER = "system:serviceaccount:blastradius:collector"


@dataclass(frozen=True)
class ServedResource:
    """One resource of one group version, as discovery lists it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_path(self) -> str:
        """Return the cluster-wide list path, across all namespaces for a namespaced resource."""
        prefix = "/api" if not self.group else "/apis"
        return f"{prefix}/{self.group_version}/{self.plural}"


def _resources(group: str, version: str, kinds: Iterable[tuple[str, str, bool]]) -> tuple[ServedResource, ...]:
    return tuple(ServedResource(group, version, plural, kind, namespaced) for plural, kind, namespaced in kinds)


BUILTIN_RESOURCES = (
    _resources(
        "",
        "v1",
        [
            ("namespaces", "Namespace", False),
            ("serviceaccounts", "ServiceAccount", True),
            ("secrets", "Secret", True),
            ("pods", "Pod", True),
            ("replicationcontrollers", "ReplicationController", True),
            ("configmaps", "ConfigMap", True),
        ],
    )
    + _resources(
        "rbac.authorization.k8s.io",
        "v1",
        [
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        ],
    )
    + _resources(
        "apps",
        "v1",
        [
            ("deployments", "Deployment", True),
            ("statefulsets", "StatefulSet", True),
            ("daemonsets", "DaemonSet", True),
            ("replicasets", "ReplicaSet", True),
        ],
    )
    + _resources("batch", "v1", [("jobs", "Job", True), ("cronjobs", "CronJob", True)])
    + _resources(
        "admissionregistration.k8s.io",
        "v1",
        [
            ("validatingadmissionpolicies", "ValidatingAdmissionPolicy", False),
            ("validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", False),
            ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
        ],
    )
)

_ESO_STORE_KINDS = [
    ("secretstores", "SecretStore", True),
    ("clustersecretstores", "ClusterSecretStore", False),
    ("externalsecrets", "ExternalSecret", True),
    ("clusterexternalsecrets", "ClusterExternalSecret", False),
]
ESO_V1_RESOURCES = _resources("external-secrets.io", "v1", _ESO_STORE_KINDS)
ESO_V1BETA1_RESOURCES = _resources("external-secrets.io", "v1beta1", _ESO_STORE_KINDS)
ESO_V1ALPHA1_RESOURCES = _resources(
    "external-secrets.io",
    "v1alpha1",
    [("pushsecrets", "PushSecret", True), ("clusterpushsecrets", "ClusterPushSecret", False)],
)
ESO_GENERATOR_RESOURCES = _resources(
    "generators.external-secrets.io",
    "v1alpha1",
    [
        ("ecrauthorizationtokens", "ECRAuthorizationToken", True),
        ("fakes", "Fake", True),
        ("clustergenerators", "ClusterGenerator", False),
    ],
)
ESO_RESOURCES = ESO_V1_RESOURCES + ESO_V1BETA1_RESOURCES + ESO_V1ALPHA1_RESOURCES + ESO_GENERATOR_RESOURCES
POLICY_RESOURCES = _resources(
    "kyverno.io", "v1", [("policies", "Policy", True), ("clusterpolicies", "ClusterPolicy", False)]
) + _resources("monitoring.coreos.com", "v1", [("prometheusrules", "PrometheusRule", True)])
ALL_RESOURCES = BUILTIN_RESOURCES + ESO_RESOURCES + POLICY_RESOURCES


_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")
_STAGE_ORDER = {None: 0, "beta": 1, "alpha": 2}


def _version_priority(version: str) -> tuple[int, int, int]:
    """Order versions the way the API server does: GA before beta before alpha, higher numbers first."""
    match = _VERSION.fullmatch(version)
    assert match is not None, f"not a Kubernetes API version: {version!r}"
    major, stage, minor = match.groups()
    return (_STAGE_ORDER[stage], -int(major), -int(minor or 0))


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a `Status` object as the API server sends it with an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


@dataclass
class PageFault:
    """A fault on one page of a list: an error status, or a stall that ends with no response.

    Pages count from 1 in the order the client follows continue tokens. The fault hits the first
    `times` requests for that page, or every request when `times` is None.
    """

    page: int
    status: int | None = None
    retry_after: str | None = None
    stall_seconds: float = 0.0
    times: int | None = None


@dataclass
class RecordedRequest:
    """One request as the server received it; header names are lower case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeApiServer:
    """A fake kube-apiserver holding objects in memory; start it with `with FakeApiServer() as server:`."""

    resources: list[ServedResource] = field(default_factory=lambda: list(ALL_RESOURCES))
    token: str = TEST_TOKEN
    issuer: str | None = TEST_ISSUER
    ignore_metadata_accept: bool = False
    expire_first_continue: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)
    _objects: dict[ServedResource, list[dict[str, Any]]] = field(default_factory=dict)
    _errors: dict[str, int] = field(default_factory=dict)
    _page_faults: dict[str, list[PageFault]] = field(default_factory=dict)
    _stalled_paths: dict[str, float] = field(default_factory=dict)
    _looping_paths: set[str] = field(default_factory=set)
    _expiries_left: int = 0
    _expiries_left_by_path: dict[str, int] = field(default_factory=dict)
    _faults_lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.expire_first_continue:
            self._expiries_left = 1

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, *objects: dict[str, Any]) -> None:
        """Store objects under the served resource that their apiVersion and kind name."""
        for obj in objects:
            resource = self._resource_for(obj["apiVersion"], obj["kind"])
            self._objects.setdefault(resource, []).append(copy.deepcopy(obj))

    def forbid(self, plural: str, group: str = "") -> None:
        """Return 403 Forbidden for every list of this resource, as RBAC without `list` does."""
        self._errors[self._path_for(plural, group)] = 403

    def fail(self, plural: str, status: int, group: str = "") -> None:
        """Return `status` (404, 429, 500, 503, ...) for every list of this resource."""
        self._errors[self._path_for(plural, group)] = status

    def fail_page(
        self, plural: str, status: int, *, page: int, group: str = "", times: int | None = None, retry_after: str | None = None
    ) -> None:
        """Return `status` for one page of this resource's list; `retry_after` replaces the 429 default of "1"."""
        fault = PageFault(page=page, status=status, retry_after=retry_after, times=times)
        self._page_faults.setdefault(self._path_for(plural, group), []).append(fault)

    def stall_page(self, plural: str, *, page: int, seconds: float, group: str = "", times: int | None = None) -> None:
        """Hold requests for one page of this resource's list for `seconds`, then close the connection unanswered."""
        fault = PageFault(page=page, stall_seconds=seconds, times=times)
        self._page_faults.setdefault(self._path_for(plural, group), []).append(fault)

    def stall(self, path: str, seconds: float) -> None:
        """Hold every request to `path` (discovery or list) for `seconds`, then close the connection unanswered."""
        self._stalled_paths[path] = seconds

    def loop_continue(self, plural: str, group: str = "") -> None:
        """Hand out the continue token of page 2 on every page of this resource, as a server with a paging bug would."""
        self._looping_paths.add(self._path_for(plural, group))

    def expire_continue(self, plural: str, times: int, group: str = "") -> None:
        """Respond with 410 Expired to the next `times` requests for this resource that carry a continue token."""
        self._expiries_left_by_path[self._path_for(plural, group)] = times

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def write_kubeconfig(self, folder: Path, *, context: str = "prod-eks", token: str | None = None) -> Path:
        """Write a kubeconfig with one context that reaches this server over plain HTTP with a bearer token."""
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": f"{context}-cluster", "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": {"cluster": f"{context}-cluster", "user": f"{context}-user"}}],
            "current-context": context,
        }
        path = folder / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
        return path

    def __enter__(self) -> FakeApiServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-apiserver", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _resource_for(self, api_version: str, kind: str) -> ServedResource:
        for resource in self.resources:
            if resource.group_version == api_version and resource.kind == kind:
                return resource
        raise ValueError(f"the fake API server does not serve {kind} in {api_version}; add it to `resources`")

    def _path_for(self, plural: str, group: str) -> str:
        for resource in self.resources:
            if resource.plural == plural and resource.group == group:
                return resource.list_path
        prefix = "/api/v1" if not group else f"/apis/{group}/v1"
        return f"{prefix}/{plural}"

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Return (status, JSON body, extra headers) for one request, or None to close the connection unanswered."""
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, status_body(401, "Unauthorized", "Unauthorized"), {}
        if request.path in self._stalled_paths:
            self._stopping.wait(self._stalled_paths[request.path])
            return None

        if request.path == "/version":
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.1", "platform": "linux/amd64"}, {}
        if request.path == "/.well-known/openid-configuration":
            return self._issuer_document()
        if request.path == "/api":
            return 200, self._core_versions(), {}
        if request.path == "/apis":
            return 200, self._group_list(), {}

        discovery = self._resource_list(request.path)
        if discovery is not None:
            return 200, discovery, {}
        resource = next((item for item in self.resources if item.list_path == request.path), None)
        if resource is None:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource"), {}
        return self._list(resource, request)

    def _issuer_document(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.issuer is None:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource"), {}
        document = {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/keys",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        return 200, document, {}

    def _core_versions(self) -> dict[str, Any]:
        address = self.url.removeprefix("http://")
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }

    def _group_list(self) -> dict[str, Any]:
        groups: dict[str, set[str]] = {}
        for resource in self.resources:
            if resource.group:
                groups.setdefault(resource.group, set()).add(resource.version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(name, versions) for name, versions in sorted(groups.items())]}

    @staticmethod
    def _group(name: str, versions: set[str]) -> dict[str, Any]:
        ordered = sorted(versions, key=_version_priority)
        entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in ordered]
        return {"name": name, "versions": entries, "preferredVersion": entries[0]}

    def _resource_list(self, path: str) -> dict[str, Any] | None:
        served = [resource for resource in self.resources if resource.list_path.rsplit("/", 1)[0] == path]
        if not served:
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": served[0].group_version,
            "resources": [
                {
                    "name": resource.plural,
                    "singularName": resource.kind.lower(),
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                }
                for resource in served
            ],
        }

    def _list(self, resource: ServedResource, request: RecordedRequest) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        status = self._errors.get(resource.list_path)
        if status is not None:
            return self._error_for(status, resource)

        items = self._matching(resource, request.query.get("fieldSelector"))
        if items is None:
            message = f'"{request.query["fieldSelector"]}" is not a known field selector: only "metadata.name", "metadata.namespace" and, for secrets, "type"'
            return 400, status_body(400, "BadRequest", message), {}

        start = 0
        token = request.query.get("continue")
        if token:
            if self._take_expiry(resource):
                message = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
                return 410, status_body(410, "Expired", message), {}
            start = json.loads(base64.urlsafe_b64decode(token))["start"]

        limit = int(request.query.get("limit") or 0)
        fault = self._take_page_fault(resource, start // limit + 1 if limit else 1)
        if fault is not None:
            return self._apply(fault, resource)

        end = start + limit if limit else len(items)
        page = items[start:end]
        metadata: dict[str, Any] = {"resourceVersion": "421337"}
        if end < len(items):
            next_start = limit if resource.list_path in self._looping_paths else end
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps({"start": next_start}).encode()).decode()
            metadata["remainingItemCount"] = len(items) - end

        if METADATA_ONLY_MEDIA_TYPE in request.headers.get("accept", "") and not self.ignore_metadata_accept:
            return 200, self._metadata_list(page, metadata), {}
        list_kind = f"{resource.kind}List"
        return 200, {"kind": list_kind, "apiVersion": resource.group_version, "metadata": metadata, "items": page}, {}

    def _take_expiry(self, resource: ServedResource) -> bool:
        """Return whether this continue token is to expire: first per resource, then the one-off `expire_first_continue`."""
        with self._faults_lock:
            if self._expiries_left_by_path.get(resource.list_path, 0) > 0:
                self._expiries_left_by_path[resource.list_path] -= 1
                return True
            if self._expiries_left > 0:
                self._expiries_left -= 1
                return True
            return False

    def _take_page_fault(self, resource: ServedResource, page: int) -> PageFault | None:
        """Return the fault for this page and count it against its `times`, or None when no fault is left."""
        with self._faults_lock:
            for fault in self._page_faults.get(resource.list_path, []):
                if fault.page != page or fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _apply(self, fault: PageFault, resource: ServedResource) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if fault.status is None:
            self._stopping.wait(fault.stall_seconds)
            return None
        status, body, headers = self._error_for(fault.status, resource)
        if fault.retry_after is not None:
            headers = {**headers, "Retry-After": fault.retry_after}
        return status, body, headers

    def _matching(self, resource: ServedResource, field_selector: str | None) -> list[dict[str, Any]] | None:
        """Return the stored objects in etcd key order that match the field selector, or None for an unknown one."""
        items = sorted(
            self._objects.get(resource, []),
            key=lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]),
        )
        items = [_without_type_meta(obj) for obj in items]
        if not field_selector:
            return items
        name, _, value = field_selector.replace("==", "=").partition("=")
        readers = {"metadata.name": lambda obj: obj["metadata"]["name"], "metadata.namespace": lambda obj: obj["metadata"].get("namespace")}
        if resource.kind == "Secret":
            readers["type"] = lambda obj: obj.get("type", "Opaque")
        if name not in readers:
            return None
        return [obj for obj in items if readers[name](obj) == value]

    @staticmethod
    def _metadata_list(page: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
        items = [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]} for obj in page]
        return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": items}

    @staticmethod
    def _error_for(status: int, resource: ServedResource) -> tuple[int, dict[str, Any], dict[str, str]]:
        if status == 403:
            scope = "at the cluster scope"
            message = f'{resource.plural} is forbidden: User "{COLLECTOR_USER}" cannot list resource "{resource.plural}" in API group "{resource.group}" {scope}'
            return 403, status_body(403, "Forbidden", message, {"kind": resource.plural}), {}
        if status == 404:
            return 404, status_body(404, "NotFound", "the server could not find the requested resource"), {}
        if status == 429:
            return 429, status_body(429, "TooManyRequests", "Too many requests, please try again later."), {"Retry-After": "1"}
        reason = "ServiceUnavailable" if status == 503 else "InternalError"
        return status, status_body(status, reason, f"Internal error occurred: listing {resource.plural} failed"), {}


def _without_type_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the object as a list item: the API server leaves out `kind` and `apiVersion` there."""
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


def _handler_for(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes. Nagle's algorithm with delayed ACKs would then
        # add about 40 ms to every request on a keep-alive connection (measured on Linux).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            request = RecordedRequest(
                method="GET",
                path=url.path,
                query=dict(parse_qsl(url.query)),
                headers={name.lower(): value for name, value in self.headers.items()},
            )
            answer = server.respond(request)
            if answer is None:
                self.close_connection = True
                return
            status, body, headers = answer
            payload = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet: requests are in `server.requests`."""

    return Handler
