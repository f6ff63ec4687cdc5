"""Audit checks on External Secrets stores: who may use them, how they sign in, and what they reach."""

from __future__ import annotations

from typing import Any, Iterator

from blastradius.graph import ids
from blastradius.graph.index import MALFORMED_OBJECT_ERRORS, ClusterIndex
from blastradius.queries.audit.context import (
    AuditContext,
    Hit,
    StoreIdentityRef,
    aws_kind,
    aws_ref,
    object_ref,
    plural,
    short_arn,
    store_label,
)
from blastradius.queries.reachability import reaching
from blastradius.semantics import eso

# Anchors a Go regexp may start or end with, so that it matches whole namespace names only.
_START_ANCHORS = ("^", r"\A")
_END_ANCHORS = ("$", r"\z")


def _names(items: list[str], limit: int = 6) -> str:
    """Return up to `limit` names joined by commas, then how many more there are."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _using_namespaces(ctx: AuditContext, index: ClusterIndex, store: dict[str, Any]) -> list[str]:
    """Return the namespaces whose ExternalSecrets reference a store."""
    return sorted({es["metadata"].get("namespace") for es in ctx.store_users(index, store)})


def _reach_phrase(ctx: AuditContext, identities: list[StoreIdentityRef]) -> str:
    parts = [f"its identity {short_arn(identity.arn)} reads {plural(len(ctx.readable_secrets(identity.arn)), 'secret')}"
             for identity in identities if identity.arn]
    return "; ".join(parts)


def _resolve(ctx: AuditContext, index: ClusterIndex, store: dict[str, Any], namespace: str) -> eso.StoreIdentity | None:
    try:
        return eso.resolve_store_identity(store, using_namespace=namespace, service_accounts=index.service_accounts,
                                          controller=ctx.controller(index), provider=eso.store_providers(store)[0])
    except (eso.EsoError, IndexError, ValueError):
        return None


def _resolutions(ctx: AuditContext, index: ClusterIndex, store: dict[str, Any]) -> list[tuple[str, eso.StoreIdentity]]:
    """Return (using namespace, identity) for a SecretStore's own namespace or each namespace a ClusterSecretStore admits."""
    kind, namespace, _ = eso.store_key(store)
    namespaces = [namespace] if kind == eso.SECRET_STORE else ctx.admitted_namespaces(index, store)
    resolved = []
    for using in namespaces:
        identity = _resolve(ctx, index, store, using or "")
        if identity is not None:
            resolved.append((using or "", identity))
    return resolved


# --- ClusterSecretStore admission -----------------------------------------------------------------


def css_broad(ctx: AuditContext) -> Iterator[Hit]:
    """Find ClusterSecretStores without conditions, or whose conditions admit namespaces that do not use them."""
    for index in ctx.clusters:
        for store in index.eso.get(eso.CLUSTER_SECRET_STORE, []):
            admitted = ctx.admitted_namespaces(index, store)
            used = _using_namespaces(ctx, index, store)
            unused = [namespace for namespace in admitted if namespace not in used]
            conditions = (store.get("spec") or {}).get("conditions")
            identities = ctx.store_identities(index, store)
            reach = _reach_phrase(ctx, identities)
            name = store["metadata"]["name"]
            used_text = f"ExternalSecrets in {', '.join(used)} use it" if used else "no ExternalSecret uses it"
            if not conditions:
                message = (f"ClusterSecretStore {name} has no conditions, so ExternalSecrets in every namespace "
                           f"({len(admitted)}) may use it; {used_text}")
            elif used and unused:
                message = (f"ClusterSecretStore {name} admits {plural(len(unused), 'namespace')} where no ExternalSecret "
                           f"uses it ({_names(unused)}); {used_text}")
            else:
                continue
            if reach:
                message += f"; {reach}"
            yield Hit(message, [object_ref(store)],
                      {"admitted_namespaces": admitted, "using_namespaces": used, "conditions": bool(conditions),
                       "identities": [identity.arn for identity in identities if identity.arn]})


def css_unanchored_regex(ctx: AuditContext) -> Iterator[Hit]:
    """Find `namespaceRegexes` without both anchors, which ESO matches anywhere in a namespace name."""
    for index in ctx.clusters:
        for store in index.eso.get(eso.CLUSTER_SECRET_STORE, []):
            conditions = (store.get("spec") or {}).get("conditions") or []
            try:
                patterns = [str(pattern) for condition in conditions if isinstance(condition, dict)
                            for pattern in condition.get("namespaceRegexes") or []]
            except MALFORMED_OBJECT_ERRORS as error:
                ctx.skip_malformed(index, store, error)
                continue
            loose = [pattern for pattern in patterns
                     if not pattern.startswith(_START_ANCHORS) or not pattern.endswith(_END_ANCHORS)]
            if not loose:
                continue
            admitted = ctx.admitted_namespaces(index, store)
            quoted = ", ".join(f'"{pattern}"' for pattern in loose)
            message = (f"ClusterSecretStore {store['metadata']['name']}: namespaceRegexes {quoted} "
                       f"{'is' if len(loose) == 1 else 'are'} matched unanchored, so any namespace whose name contains "
                       f"a match is admitted, also ones created later; today it admits {_names(admitted) or 'none'}")
            yield Hit(message, [object_ref(store)], {"patterns": loose, "admitted_namespaces": admitted})


def _unqualified_refs(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (path, name) of every `...Ref` in an auth block that names an object without a namespace."""
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = f"{path}.{key}"
            if key.endswith("Ref") and isinstance(child, dict) and child.get("name") and not child.get("namespace"):
                yield child_path, str(child["name"])
            else:
                yield from _unqualified_refs(child, child_path)
    elif isinstance(value, list):
        for position, child in enumerate(value):
            yield from _unqualified_refs(child, f"{path}[{position}]")


def css_referent_auth(ctx: AuditContext) -> Iterator[Hit]:
    """Find ClusterSecretStores whose credentials references have no namespace, so each using namespace supplies them."""
    for index in ctx.clusters:
        for store in index.eso.get(eso.CLUSTER_SECRET_STORE, []):
            provider = ((store.get("spec") or {}).get("provider")) or {}
            if not isinstance(provider, dict):
                continue  # the graph build has already warned that spec.provider is not a mapping
            references = [(f"spec.provider.{name}{path}", ref_name) for name, block in provider.items()
                          if isinstance(block, dict) for path, ref_name in _unqualified_refs(block.get("auth"), ".auth")]
            if not references:
                continue
            resolved = []
            for namespace, identity in _resolutions(ctx, index, store):
                who = f"ServiceAccount {'/'.join(identity.service_account)}" if identity.service_account else "static keys"
                target = f" → {short_arn(identity.cloud_identity)}" if identity.cloud_identity else ""
                resolved.append(f"{namespace}: {who}{target}")
            where = "; ".join(f"{path} names {name}" for path, name in references)
            message = (f"ClusterSecretStore {store['metadata']['name']}: {where} without a namespace, so ESO resolves it "
                       f"in the namespace of each ExternalSecret that uses the store (referent authentication); "
                       f"resolved: {'; '.join(resolved) or 'in no admitted namespace'}")
            yield Hit(message, [object_ref(store)], {"references": [path for path, _ in references], "resolved": resolved})


# --- how stores sign in -----------------------------------------------------------------------------


def store_no_auth(ctx: AuditContext) -> Iterator[Hit]:
    """Find stores without credentials of their own, which act as the ESO controller's identity."""
    for index in ctx.clusters:
        for store in ctx.stores(index):
            resolutions = _resolutions(ctx, index, store)
            controller_uses = [identity for _, identity in resolutions if identity.uses_controller]
            if not controller_uses:
                continue
            identity = controller_uses[0]
            account = "/".join(identity.service_account) if identity.service_account else "unknown"
            cloud = f" → {short_arn(identity.cloud_identity)}" if identity.cloud_identity else ""
            message = (f"{store_label(store)} configures no auth, so ESO signs in with the controller's own identity "
                       f"(ServiceAccount {account}{cloud}); whoever can create ExternalSecrets that use it reads what "
                       f"the controller's identity reads")
            yield Hit(message, [object_ref(store)], {"service_account": account, "cloud_identity": identity.cloud_identity})


def store_static_keys(ctx: AuditContext) -> Iterator[Hit]:
    """Find stores that sign in with access keys kept in a Kubernetes Secret, with who can read that Secret."""
    for index in ctx.clusters:
        for store in ctx.stores(index):
            secrets = sorted({(namespace, name) for _, identity in _resolutions(ctx, index, store)
                              if identity.kind == "static_keys" for namespace, name, _ in identity.credentials_secrets})
            if not secrets:
                continue
            owners = [identity for identity in ctx.store_identities(index, store) if identity.how == "static_keys"]
            owner = next((short_arn(identity.arn) for identity in owners if identity.arn), None)
            readers, hidden = _secret_readers(ctx, index, secrets)
            objects = [object_ref(store)] + [_secret_ref(index, namespace, name) for namespace, name in secrets]
            keys = ", ".join(f"{namespace}/{name}" for namespace, name in secrets)
            message = (f"{store_label(store)} signs in with static AWS keys from Secret {keys} "
                       f"(owner: {owner or 'not recorded; set static_key_owners in the configuration'}); "
                       f"{plural(len(readers), 'principal')} can read them: {_names(readers) or 'none'}")
            if hidden:
                message += f" ({hidden} trusted principal(s) not listed)"
            yield Hit(message, objects, {"secrets": [f"{namespace}/{name}" for namespace, name in secrets],
                                         "owner": owner, "readers": readers, "trusted_readers_hidden": hidden})


def _secret_ref(index: ClusterIndex, namespace: str, name: str) -> dict[str, Any]:
    obj = index.secrets.get((namespace, name))
    if obj is not None:
        return object_ref(obj)
    return {"kind": "Secret", "namespace": namespace, "name": name, "file": None, "line": None}


def _secret_readers(ctx: AuditContext, index: ClusterIndex, secrets: list[tuple[str, str]]) -> tuple[list[str], int]:
    """Return the principals that can obtain any of the Secrets (trusted ones left out), and how many were left out."""
    readers: set[str] = set()
    hidden: set[str] = set()
    for namespace, name in secrets:
        node = ids.secret(index.name, namespace, name)
        if node not in ctx.graph.g:
            continue
        for found in reaching(ctx.graph, node, "read"):
            principal = ctx.graph.name(found.principal)
            (hidden if ctx.config.is_trusted(principal) else readers).add(principal)
    return sorted(readers), len(hidden)


def store_reads_own_credentials(ctx: AuditContext) -> Iterator[Hit]:
    """Find static-key identities that can read the cloud secrets where store credentials are kept."""
    prefixes = ctx.config.credential_prefixes
    for index in ctx.clusters:
        for store in ctx.stores(index):
            for identity in ctx.store_identities(index, store):
                if identity.how != "static_keys" or not identity.arn:
                    continue
                exposed = [arn for arn in ctx.readable_secrets(identity.arn)
                           if ctx.secret_name(arn).startswith(prefixes)]
                if not exposed:
                    continue
                names = [ctx.secret_name(arn) for arn in exposed]
                message = (f"{store_label(store)} signs in as {short_arn(identity.arn)} with the keys in Secret "
                           f"{identity.keys_secret}, and that identity can read {_names(names)}, where store credentials "
                           f"are kept ({', '.join(prefix + '*' for prefix in prefixes)}): whoever holds the keys can "
                           f"read the stored copies of store credentials, its own included")
                objects = [object_ref(store), aws_ref(aws_kind(identity.arn), identity.arn)]
                objects += [aws_ref("SecretsManagerSecret", arn) for arn in exposed]
                yield Hit(message, objects, {"identity": identity.arn, "secrets": exposed})


def store_reach_wide(ctx: AuditContext) -> Iterator[Hit]:
    """Find store identities that can read secrets no ExternalSecret or PushSecret of their stores uses."""
    for index in ctx.clusters:
        by_identity: dict[str, list[dict[str, Any]]] = {}
        for store in ctx.stores(index):
            for identity in ctx.store_identities(index, store):
                if identity.arn:
                    by_identity.setdefault(identity.arn, []).append(store)
        if not by_identity:
            continue
        used_by_store = _used_by_store(ctx, index)
        for arn, stores in sorted(by_identity.items()):
            readable = ctx.readable_secrets(arn)
            used_anywhere = set().union(*(used_by_store.get(eso.store_key(store), set()) for store in stores))
            used = sorted(used_anywhere.intersection(readable))
            unused = [ctx.secret_name(secret) for secret in readable if secret not in used_anywhere]
            if not unused:
                continue
            labels = ", ".join(store_label(store) for store in stores)
            used_names = [ctx.secret_name(secret) for secret in used]
            message = (f"{short_arn(arn)} can read {plural(len(readable), 'secret')}, ESO uses "
                       f"{len(used)} ({_names(used_names) or 'none'}) through {labels}; whoever can use "
                       f"{'that store' if len(stores) == 1 else 'those stores'} also reads {_names(unused)}")
            objects = [aws_ref(aws_kind(arn), arn)] + [object_ref(store) for store in stores]
            yield Hit(message, objects, {"identity": arn, "readable": readable, "used": used})


def _used_by_store(ctx: AuditContext, index: ClusterIndex) -> dict[tuple[str, str | None, str], set[str]]:
    """Map each store key to the cloud secrets that ExternalSecrets copy from it and PushSecrets write to it."""
    used: dict[tuple[str, str | None, str], set[str]] = {}
    for store in ctx.stores(index):
        key = eso.store_key(store)
        for es in ctx.store_users(index, store):
            used.setdefault(key, set()).update(ctx.copied_secrets(index, es))
    namespaces = [{"metadata": {"name": name, "labels": labels}} for name, labels in sorted(index.namespaces.items())]
    for kind in ("PushSecret", "ClusterPushSecret"):
        for push in index.eso.get(kind, []):
            try:
                flows = eso.push_secret_flows(push, namespaces)
            except (eso.EsoError, ValueError, KeyError):
                continue
            for flow in flows:
                if flow.store is not None and isinstance(flow.remote_key, str) and flow.remote_key:
                    key = flow.store.key(flow.push_secret[0])
                    used.setdefault(key, set()).update(ctx.secret_arns_by_name.get(flow.remote_key, []))
    return used
