"""Collect a live cluster through its API server into a cluster section of the snapshot.

The collector only lists. It discovers which API groups the server serves, lists every kept kind
across all namespaces in pages, and normalises each object with `k8s_objects.normalize_object`.
What it cannot read becomes a coverage gap: a group that is not served (`crd_not_installed`), a
list rejected with 403 (`forbidden`), 404 (`crd_not_installed`), 429 after retries (`throttled`)
or another error (`error`), including a list that timed out. A list that fails after its first
page keeps none of the objects already listed, so a kind is either complete or absent with a gap.
A server that cannot be reached or that rejects the credentials fails the whole collection with
CollectionError, and nothing is written.

Secrets are listed as metadata only (`PartialObjectMetadataList`), so their values never cross the
wire. Metadata carries neither the Secret's type nor its key names, so a live snapshot records
`type` and `keys` as null, meaning unknown. The one type the analysis needs, legacy ServiceAccount
tokens, is learned from a second metadata-only list filtered with `fieldSelector=type=...`.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Iterator, Self

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from urllib3.util.retry import Retry

from blastradius.collectors.errors import CollectionError
from blastradius.collectors.k8s_objects import (
    ADMISSION_GROUP,
    CORE_GROUP,
    ESO_GROUP,
    GENERATORS_GROUP,
    KYVERNO_GROUP,
    PROMETHEUS_GROUP,
    RBAC_GROUP,
    ObjectError,
    is_kept,
    normalize_object,
)
from blastradius.snapshot.model import Collection, coverage_gap

log = logging.getLogger(__name__)

IN_CLUSTER_NAME = "in-cluster"
PAGE_SIZE = 500
METADATA_ONLY_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
JSON_ACCEPT = "application/json"
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"
ISSUER_DISCOVERY_PATH = "/.well-known/openid-configuration"

# Seconds to connect and to read one response; a page of 500 objects is read well within this.
REQUEST_TIMEOUT = (10.0, 120.0)


class LoggedRetry(Retry):
    """urllib3 retries that log each retry at INFO, naming the request path and what failed."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: urllib3.BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: urllib3.connectionpool.ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        cause = _transport_reason(error) if error is not None else f"HTTP {response.status if response else 'no response'}"
        path = (url or "").partition("?")[0]
        # `total` counts down as retries are used, so the budget is what was used plus what is left.
        budget = len(self.history) + self.total if isinstance(self.total, int) else "unlimited"
        log.info("GET %s failed (%s): retry %d of at most %s", path, cause, len(retry.history), budget)
        return retry


# Retries for throttling (429) and for transient server errors, read timeouts and broken
# connections. Waits grow 0, 1, 2, 4, 8 s. A Retry-After header replaces the wait but is capped at
# 30 s, so a server asking for an hour cannot stall the collection. After the last retry the final
# error response is returned, or the timeout raised, and the list becomes a coverage gap.
RETRIES = LoggedRetry(
    total=5,
    connect=2,
    read=2,
    backoff_factor=0.5,
    backoff_max=10,
    retry_after_max=30,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=("GET",),
    raise_on_status=False,
)

# Groups that every conformant API server serves: one missing is an error, not a missing CRD.
BUILTIN_GROUPS = (CORE_GROUP, RBAC_GROUP, "apps", "batch", ADMISSION_GROUP)
# Groups that CRDs add; one that is not served gives a single `crd_not_installed` gap.
CRD_GROUPS = (ESO_GROUP, GENERATORS_GROUP, KYVERNO_GROUP, PROMETHEUS_GROUP)

GAP_REASON_BY_STATUS = {403: "forbidden", 404: "crd_not_installed", 429: "throttled"}

# The consequence for the analysis when a kind cannot be read, stated in each gap warning.
CONSEQUENCE_BY_KIND = {
    "Secret": "who-can results for Secrets will be incomplete",
    "ServiceAccount": "which cloud identities ServiceAccounts carry will be unknown",
    "Namespace": "namespace labels will be unknown, so ClusterSecretStore namespace selectors cannot be matched",
    "Role": "RBAC grants will be incomplete, so who-can and reach results will be incomplete",
    "ClusterRole": "RBAC grants will be incomplete, so who-can and reach results will be incomplete",
    "RoleBinding": "RBAC grants will be incomplete, so who-can and reach results will be incomplete",
    "ClusterRoleBinding": "RBAC grants will be incomplete, so who-can and reach results will be incomplete",
}
DEFAULT_CONSEQUENCE = "results that depend on them will be reported as unknown"


@dataclass(frozen=True)
class ListTarget:
    """One resource to list cluster-wide: the served version chosen for a kept kind."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """Return the resource as kubectl names it: `secrets`, `externalsecrets.external-secrets.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_path(self) -> str:
        return f"{group_version_path(self.group, self.version)}/{self.plural}"


def group_version_path(group: str, version: str) -> str:
    """Return the discovery path of a group version: `/api/v1` for core, `/apis/<group>/<version>` otherwise."""
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


@dataclass(frozen=True)
class ApiResponse:
    """An API server's response to one GET: the HTTP status and the parsed JSON body ({} if not JSON)."""

    status: int
    body: dict[str, Any]

    @property
    def message(self) -> str:
        """Return `HTTP <status>: <Status.message>`, the form coverage-gap details use."""
        text = self.body.get("message") or self.body.get("reason") or "no message"
        return f"HTTP {self.status}: {text}"


class ApiReadError(CollectionError):
    """A GET that the API server received but did not respond to in time, or whose connection broke.

    It is raised after the retries. During discovery it fails the collection like any
    CollectionError, and during a list it becomes a coverage gap of that resource.
    """

    def __init__(self, server: str, path: str, detail: str) -> None:
        super().__init__(f"GET {path} at {server}: {detail}")
        self.detail = detail


class ListError(Exception):
    """A cluster-wide list that failed, with the coverage-gap reason and a detail that explains the failure."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def collect_cluster(
    *,
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    cluster_name: str | None,
    oidc_issuer: str | None,
    progress: bool,
) -> Collection:
    """Collect one live cluster: its kept objects, its issuer and the coverage gaps.

    The cluster is named `cluster_name`, else the kubeconfig context (the current one when
    `context` is None), else `in-cluster`. `skipped_kinds` stays empty because kinds that
    blastradius does not analyse are never listed. Raises CollectionError when the kubeconfig
    cannot be loaded, the server cannot be reached, or it rejects the credentials.
    """
    configuration, context_name = load_configuration(kubeconfig, context, in_cluster)
    name = cluster_name or context_name
    source = f"kubernetes:{name}"
    log.info("collecting cluster %s from %s", name, configuration.host)

    with client.ApiClient(configuration) as api_client:
        api = ApiReader(api_client, configuration.host)

        served = read_served_versions(api)
        targets, gaps = choose_list_targets(api, served, source)
        issuer = oidc_issuer or read_oidc_issuer(api)
        objects, list_gaps = list_targets(api, targets, source, progress=progress)

    cluster = {
        "name": name,
        "server": configuration.host,
        "manifests": [],
        "oidc_issuer": issuer,
        "objects": objects,
        "skipped_kinds": {},
    }
    log.info("collected %d objects from cluster %s with %d coverage gap(s)", len(objects), name, len(gaps) + len(list_gaps))
    return Collection(clusters=[cluster], coverage_gaps=gaps + list_gaps)


def load_configuration(kubeconfig: str | None, context: str | None, in_cluster: bool) -> tuple[client.Configuration, str]:
    """Return the client configuration and the context name (`in-cluster` inside a pod)."""
    configuration = client.Configuration()
    where = "the in-cluster ServiceAccount" if in_cluster else f"kubeconfig {kubeconfig or 'from $KUBECONFIG or ~/.kube/config'}"
    if context:
        where += f", context {context}"
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            context_name = IN_CLUSTER_NAME
        else:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False)
            context_name = context or config.list_kube_config_contexts(kubeconfig)[1]["name"]
    except (ConfigException, OSError, yaml.YAMLError) as error:
        raise CollectionError(f"cannot load the cluster configuration from {where}: {error}") from error

    # http.client rejects a header value with a line break and quotes the whole value, token
    # included, in its error. The kubernetes client (37.0.1) keeps the newline that ends a
    # token file written with echo.
    if not (configuration.get_api_key_with_prefix("BearerToken") or "").isprintable():
        raise CollectionError(
            f"cannot load the cluster configuration from {where}: its token or password contains a line break or another "
            "unprintable character: remove it (a token file written with echo ends in a newline)"
        )
    configuration.retries = RETRIES
    return configuration, context_name


class ApiReader:
    """GET requests to one API server through the kubernetes client, returning raw JSON dicts.

    The client's typed models are skipped: the body is parsed with `json.loads` only.
    """

    def __init__(self, api_client: client.ApiClient, server: str) -> None:
        self._api_client = api_client
        self._server = server

    def get(self, path: str, query: list[tuple[str, Any]] | None = None, accept: str = JSON_ACCEPT) -> ApiResponse:
        """Send a GET and return the server's response; raise CollectionError on transport or credential failure."""
        request = self._api_client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query or [],
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        try:
            raw_response = self._api_client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            data = raw_response.read()
        except (urllib3.exceptions.HTTPError, client.ApiException) as error:
            read_failure = _read_failure(error)
            if read_failure is not None:
                raise ApiReadError(self._server, path, read_failure) from error
            raise CollectionError(f"cannot reach the API server at {self._server} ({path}): {_transport_reason(error)}") from error

        response = ApiResponse(raw_response.status, _parse_body(data))
        log.debug("GET %s -> %d", path, response.status)
        if response.status == 401:
            raise CollectionError(
                f"the API server at {self._server} rejected the credentials ({response.message}): "
                "log in again for this kubeconfig context, or check the pod's ServiceAccount token when in-cluster"
            )
        return response


def _transport_reason(error: Exception) -> str:
    """Return the innermost cause of a urllib3 failure (connection refused, TLS, timeout)."""
    reason = getattr(error, "reason", None)
    return str(reason or error)


def _read_failure(error: Exception) -> str | None:
    """Return why a request that reached the server got no usable response, or None if it never reached it.

    A read timeout or a connection that broke mid-response means the server is up but failed this
    one request. A refused connection, a TLS failure or a connect timeout means it cannot be reached.
    """
    cause = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    if isinstance(cause, urllib3.exceptions.ReadTimeoutError):
        return f"timed out: no response within {REQUEST_TIMEOUT[1]:g} s"
    if isinstance(cause, urllib3.exceptions.ProtocolError):
        return f"the connection broke before the response was read: {cause}"
    return None


def _parse_body(data: bytes | None) -> dict[str, Any]:
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key for API versions as kube-apiserver orders them: GA, then beta, then alpha, higher first.

    A version outside the `v<N>[alpha|beta<M>]` pattern sorts last, alphabetically.
    """
    major, stage, minor = _split_version(version)
    if major is None:
        return (3, 0, 0, version)
    return ({"": 0, "beta": 1, "alpha": 2}[stage], -major, -minor, version)


def _split_version(version: str) -> tuple[int | None, str, int]:
    if not version.startswith("v"):
        return None, "", 0
    digits = version[1:]
    for stage in ("alpha", "beta"):
        major, found, minor = digits.partition(stage)
        if found and major.isdigit() and minor.isdigit():
            return int(major), stage, int(minor)
    return (int(digits), "", 0) if digits.isdigit() else (None, "", 0)


def read_served_versions(api: ApiReader) -> dict[str, list[str]]:
    """Return the served versions of every API group, most preferred first ("" is the core group).

    This is the first call to the server, so an unreachable server or rejected credentials
    surface here as CollectionError.
    """
    core = api.get("/api")
    groups = api.get("/apis")
    for path, response in (("/api", core), ("/apis", groups)):
        if response.status != 200:
            raise CollectionError(f"API discovery failed at {path}: {response.message}")

    served = {CORE_GROUP: sorted(core.body.get("versions") or [], key=version_priority)}
    for group in groups.body.get("groups") or []:
        versions = [entry.get("version") for entry in group.get("versions") or [] if entry.get("version")]
        served[group.get("name", "")] = sorted(versions, key=version_priority)
    log.info("the API server serves %d API groups", len(served))
    return served


def choose_list_targets(api: ApiReader, served: dict[str, list[str]], source: str) -> tuple[list[ListTarget], list[dict[str, Any]]]:
    """Pick, for every kept kind, the most preferred served version that has it.

    ESO serves ExternalSecret in v1 and v1beta1 but PushSecret only in v1alpha1, so each kind is
    placed on its own version. A CRD group that is not served gives one `crd_not_installed` gap. A
    kept kind that a served group lacks gives no gap: that operator release has no such CRD, so
    no objects of that kind can exist.
    """
    targets: list[ListTarget] = []
    gaps: list[dict[str, Any]] = []
    for group in BUILTIN_GROUPS + CRD_GROUPS:
        versions = served.get(group)
        if not versions:
            gaps.append(_unserved_group_gap(source, group))
            continue
        group_targets, group_gaps = _targets_in_group(api, group, versions, source)
        targets.extend(group_targets)
        gaps.extend(group_gaps)
    return targets, gaps


def _unserved_group_gap(source: str, group: str) -> dict[str, Any]:
    label = group or "core"
    if group in BUILTIN_GROUPS:
        log.warning("the built-in API group %s is not served: its kinds will be missing from the snapshot", label)
        return coverage_gap(source, "error", label, f"the built-in API group {label} is not served by this API server")
    log.warning("API group %s is not served (its CRDs are not installed): no objects of it are collected", group)
    return coverage_gap(source, "crd_not_installed", group, f"API group {group} is not served by this API server")


def _targets_in_group(api: ApiReader, group: str, versions: list[str], source: str) -> tuple[list[ListTarget], list[dict[str, Any]]]:
    targets: dict[str, ListTarget] = {}
    gaps: list[dict[str, Any]] = []
    for version in versions:
        path = group_version_path(group, version)
        try:
            response = api.get(path)
        except ApiReadError as error:
            gaps.append(_discovery_gap(source, group, path, error.detail))
            continue
        if response.status != 200:
            gaps.append(_discovery_gap(source, group, path, response.message))
            continue
        for resource in response.body.get("resources") or []:
            target = ListTarget(group, version, resource.get("name", ""), resource.get("kind", ""))
            if _is_listable_kept(resource, target) and target.kind not in targets:
                targets[target.kind] = target
    return list(targets.values()), gaps


def _discovery_gap(source: str, group: str, path: str, failure: str) -> dict[str, Any]:
    log.warning("discovery of %s failed (%s): its kinds are not collected", path, failure)
    return coverage_gap(source, "error", group or "core", f"discovery of {path} failed: {failure}")


def _is_listable_kept(resource: dict[str, Any], target: ListTarget) -> bool:
    """Return whether a discovered resource is a top-level, listable resource of a kept kind."""
    is_subresource = "/" in target.plural
    return bool(target.plural) and not is_subresource and "list" in (resource.get("verbs") or []) and is_kept(target.group_version, target.kind)


def read_oidc_issuer(api: ApiReader) -> str | None:
    """Return the ServiceAccount token issuer from the server's OIDC discovery document, or None.

    A missing or unreadable document is logged, not recorded as a gap: `--oidc-issuer` supplies it.
    """
    try:
        response = api.get(ISSUER_DISCOVERY_PATH)
    except CollectionError as error:
        log.warning("could not read %s (%s): give --oidc-issuer to match IRSA trust policies", ISSUER_DISCOVERY_PATH, error)
        return None
    issuer = response.body.get("issuer") if response.status == 200 else None
    if not isinstance(issuer, str) or not issuer:
        log.warning("the API server gave no issuer at %s (%s): give --oidc-issuer to match IRSA trust policies", ISSUER_DISCOVERY_PATH, response.message)
        return None
    log.info("ServiceAccount token issuer: %s", issuer)
    return issuer


def list_targets(api: ApiReader, targets: list[ListTarget], source: str, *, progress: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """List every target across all namespaces; return the normalised objects and the gaps."""
    objects: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    with _progress_display(progress) as display:
        for target in _tracked(targets, display):
            log.info("listing %s (%s)", target.resource, target.group_version)
            try:
                items = list_secrets(api, target) if target.kind == "Secret" and target.group == CORE_GROUP else list_all_pages(api, target)
            except ListError as failure:
                gaps.append(_list_gap(source, target, failure))
                continue
            kept, object_gaps = _normalise_items(items, target, source)
            objects.extend(kept)
            gaps.extend(object_gaps)
            log.info("listed %d %s", len(kept), target.resource)
    return objects, gaps


def list_all_pages(api: ApiReader, target: ListTarget, *, accept: str = JSON_ACCEPT, field_selector: str | None = None) -> list[dict[str, Any]]:
    """Return every item of a cluster-wide list, following `continue` tokens page by page.

    When a continue token expires (410 Gone) mid-list, the list restarts once from the first
    page, so every object is still returned exactly once. Raises ListError when a page fails
    after the retries, when a token expires a second time, or when the server repeats a token.
    The items of the pages already read are then dropped, and the error detail states this.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    page = 1
    seen_tokens: set[str] = set()
    restarted = False
    while True:
        response = _get_page(api, target, token, accept, field_selector, page, len(items))

        if response.status == 410 and token:
            if restarted:
                detail = f"{response.message}; the continue token expired again after the list restarted"
                raise ListError("error", _dropped_pages_detail(detail, page, len(items)))
            log.warning("the continue token for %s expired on page %d after %d objects: listing again from the start", target.resource, page, len(items))
            items, token, page, restarted = [], None, 1, True
            seen_tokens.clear()
            continue
        if response.status != 200:
            reason = GAP_REASON_BY_STATUS.get(response.status, "error")
            raise ListError(reason, _dropped_pages_detail(_status_detail(target, response), page, len(items)))

        items.extend(response.body.get("items") or [])
        token = (response.body.get("metadata") or {}).get("continue")
        if not token:
            return items
        if token in seen_tokens:
            # A server that hands out a token it already gave would page forever.
            raise ListError("error", _dropped_pages_detail("the API server repeated a continue token", page, len(items)))
        seen_tokens.add(token)
        page += 1


def _get_page(
    api: ApiReader, target: ListTarget, token: str | None, accept: str, field_selector: str | None, page: int, listed: int
) -> ApiResponse:
    """Request one page of a list. A read timeout or a broken connection raises ListError."""
    query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
    if field_selector:
        query.append(("fieldSelector", field_selector))
    if token:
        query.append(("continue", token))
    try:
        return api.get(target.list_path, query, accept)
    except ApiReadError as error:
        raise ListError("error", _dropped_pages_detail(error.detail, page, listed)) from error


def _status_detail(target: ListTarget, response: ApiResponse) -> str:
    """Return the gap detail for an error status. For a 404 it adds that the resource disappeared after discovery."""
    if response.status != 404:
        return response.message
    return (
        f"{response.message}; discovery listed {target.resource} in {target.group_version}, so it was removed "
        "during the collection (its CRD was deleted or that version is no longer served)"
    )


def _dropped_pages_detail(detail: str, page: int, listed: int) -> str:
    """Add the failed page and the dropped objects to a gap detail when the failure came after page 1."""
    if page == 1 and listed == 0:
        return detail
    return f"{detail}; failed on page {page} after {listed} objects, which are left out rather than stored as a partial list"


def list_secrets(api: ApiReader, target: ListTarget) -> list[dict[str, Any]]:
    """Return all Secrets as metadata only, with `type` set on the legacy ServiceAccount tokens.

    The second, type-filtered list is also metadata only. If it fails, the token Secrets keep
    an unknown type and a warning is logged.
    """
    items = list_all_pages(api, target, accept=METADATA_ONLY_ACCEPT)
    try:
        tokens = list_all_pages(api, target, accept=METADATA_ONLY_ACCEPT, field_selector=f"type={SERVICE_ACCOUNT_TOKEN_TYPE}")
    except ListError as failure:
        log.warning("could not list %s Secrets (%s): their type stays unknown, so tokens they hold are not followed", SERVICE_ACCOUNT_TOKEN_TYPE, failure)
        return items

    token_names = {_namespaced_name(item) for item in tokens}
    return [_with_type(item, SERVICE_ACCOUNT_TOKEN_TYPE) if _namespaced_name(item) in token_names else item for item in items]


def _namespaced_name(item: dict[str, Any]) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return (metadata.get("namespace") or "", metadata.get("name") or "")


def _with_type(item: dict[str, Any], secret_type: str) -> dict[str, Any]:
    """Return the item with `type` set, unless a full Secret (a server that ignored the media type) has one."""
    if item.get("type"):
        return item
    return {**item, "type": secret_type}


def _normalise_items(items: list[dict[str, Any]], target: ListTarget, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Normalise list items, which lack kind and apiVersion; an object that fails becomes a gap."""
    kept: list[dict[str, Any]] = []
    gaps: list[dict[str, Any]] = []
    for item in items:
        try:
            normalised = normalize_object(item, kind=target.kind, api_version=target.group_version)
        except ObjectError as error:
            namespace = (item.get("metadata") or {}).get("namespace") if isinstance(item, dict) else None
            log.warning("left a %s out of the snapshot and recorded a coverage gap: %s", target.kind, error)
            gaps.append(coverage_gap(source, "error", target.resource, str(error), namespace=namespace or None))
            continue
        kept.append(_typed_partial_secret(item, normalised))
    return kept, gaps


def _typed_partial_secret(item: dict[str, Any], normalised: dict[str, Any]) -> dict[str, Any]:
    """Carry the type learned from the type-filtered list onto a metadata-only Secret."""
    if normalised.get("kind") == "Secret" and normalised.get("type") is None and item.get("type"):
        normalised["type"] = item["type"]
    return normalised


def _list_gap(source: str, target: ListTarget, failure: ListError) -> dict[str, Any]:
    consequence = CONSEQUENCE_BY_KIND.get(target.kind, DEFAULT_CONSEQUENCE)
    log.warning("%s could not be listed cluster-wide (%s, %s): %s", target.resource, failure.reason, failure.detail, consequence)
    return coverage_gap(source, failure.reason, target.resource, failure.detail)


@contextmanager
def _progress_display(enabled: bool) -> Iterator[Progress | None]:
    """Yield a transient progress bar on stderr when enabled and stderr is a terminal, else None."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    columns = (TextColumn("listing {task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as display:
        yield display


def _tracked(targets: list[ListTarget], display: Progress | None) -> Iterator[ListTarget]:
    """Yield each target, showing it on the progress bar while it is listed."""
    if display is None:
        yield from targets
        return
    task = display.add_task("", total=len(targets))
    for target in targets:
        display.update(task, description=target.resource)
        yield target
        display.advance(task)
