"""The plan of a synthetic estate: how many objects of each kind, and how they refer to each other.

A plan is drawn from one seeded `random.Random`, in a fixed order, so the same counts and seed
always give the same plan. The Kubernetes and AWS renderers (`estate_k8s`, `estate_aws`) turn it
into manifests and a bundle file. Names follow what real estates use: namespaces
`<team>-<env>`, Secrets Manager names `<team>/<namespace>/<app>/<item>`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone

ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
CLUSTER_NAME = "bench"
OIDC_PROVIDER_HOST = "oidc.eks.us-east-1.amazonaws.com/id/B3NCHA11C0FFEE0000000000000000AA"
OIDC_ISSUER = f"https://{OIDC_PROVIDER_HOST}"
# Every generated time is relative to this instant, so output never depends on the wall clock.
REFERENCE_TIME = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
CANARY = "CANARY-do-not-store-7f3a9c"

# Namespaces with an `eso-store` ServiceAccount carry it, so the referent-auth ClusterSecretStore admits only them.
TENANT_LABEL = "external-secrets.io/tenant"
SYSTEM_NAMESPACES = ("external-secrets", "kube-system")
ENVIRONMENTS = ("prod", "staging", "dev")
ENV_LABELS = {"prod": "production", "staging": "staging", "dev": "dev"}
TEAM_WORDS = (
    "payments", "checkout", "search", "catalog", "orders", "billing", "identity", "notifications",
    "inventory", "shipping", "pricing", "reviews", "recommendations", "analytics", "reporting", "fraud",
    "ledger", "onboarding", "support", "marketing", "media", "maps", "messaging", "profiles", "loyalty",
    "returns", "invoices", "accounts", "auth", "gateway", "scheduler", "warehouse", "partners", "content",
    "experiments", "telemetry", "audit", "compliance", "risk", "growth",
)
APP_WORDS = ("api", "worker", "web", "consumer", "scheduler", "gateway", "cache", "indexer", "exporter", "sync", "admin", "proxy")
SECRET_ITEMS = ("database", "api-key", "oauth-client", "tls", "config", "smtp", "redis", "signing-key", "webhook-token", "s3-access")
# One SecretStore in twenty uses static keys and one the controller's identity; the rest use IRSA.
STORE_AUTH_BY_SLOT = {7: "static", 13: "controller"}
ARN_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# Objects that the verbatim Kubernetes default RBAC and ESO chart files contribute to the counts.
TEMPLATE_ROLES = 14
TEMPLATE_BINDINGS = 5
TEMPLATE_SERVICE_ACCOUNTS = 3
TEMPLATE_SECRETS = 1
TEMPLATE_PODS = 3


@dataclass(frozen=True)
class Counts:
    """Object counts per kind, as the size table of the benchmark states them."""

    namespaces: int
    service_accounts: int
    pods: int
    roles: int  # Roles and ClusterRoles
    bindings: int  # RoleBindings and ClusterRoleBindings
    k8s_secrets: int
    external_secrets: int
    stores: int  # SecretStores and ClusterSecretStores
    iam_identities: int  # IAM roles and users
    policies: int  # managed policies, AWS-managed included
    cloud_secrets: int

    def scaled(self, factor: float) -> Counts:
        """Return these counts multiplied by `factor`, rounded to whole objects."""
        return replace(self, **{item.name: max(1, round(getattr(self, item.name) * factor)) for item in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


SIZES: dict[str, Counts] = {
    "S": Counts(20, 200, 300, 60, 120, 400, 100, 15, 30, 50, 500),
    "M": Counts(500, 5_000, 7_500, 1_600, 3_000, 10_000, 2_500, 400, 900, 1_500, 12_500),
    "L": Counts(2_000, 20_000, 30_000, 6_400, 12_300, 40_000, 10_000, 1_520, 3_600, 6_000, 50_000),
}


class PlanError(ValueError):
    """Counts too small for the fixed part of an estate (system namespaces, the ESO install, ...)."""


@dataclass
class Namespace:
    name: str
    team: str
    env: str  # prod, staging, dev, or system
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceAccount:
    namespace: str
    name: str
    role_arn: str | None = None  # the IRSA annotation
    token_secret: str | None = None  # a legacy long-lived token Secret


@dataclass
class Workload:
    namespace: str
    name: str
    kind: str  # Deployment, StatefulSet, Job, Pod
    replicas: int
    service_account: str
    app: App
    secret_refs: list[tuple[str, str]] = field(default_factory=list)  # (Secret name, via)


@dataclass
class App:
    """A Deployment or StatefulSet with its ServiceAccount, cloud secrets and IRSA role."""

    namespace: Namespace
    name: str
    service_account: str = "default"
    cloud_secrets: list[CloudSecret] = field(default_factory=list)
    role_arn: str | None = None
    workload: Workload | None = None


@dataclass
class CloudSecret:
    name: str
    suffix: str
    namespace: Namespace | None = None
    kms_key: int | None = None  # index into the plan's KMS keys, or None for the AWS-managed key
    rotation_days: int | None = None
    deny_except: list[str] = field(default_factory=list)  # resource policy: Deny reads to all but these ARNs

    @property
    def arn(self) -> str:
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{self.name}-{self.suffix}"


@dataclass
class Store:
    kind: str  # SecretStore or ClusterSecretStore
    name: str
    namespace: str | None
    auth: str  # jwt, static, controller
    service_account: tuple[str | None, str] | None = None  # (namespace or None for referent auth, name)
    conditions: list[dict] | None = None
    credentials_secret: str | None = None
    identity_arn: str | None = None

    def admits(self, namespace: Namespace) -> bool:
        """Return whether an ExternalSecret in `namespace` may use this store (the plan's own, simple conditions)."""
        if self.kind == "SecretStore":
            return self.namespace == namespace.name
        if not self.conditions:
            return True
        for condition in self.conditions:
            if namespace.name in condition.get("namespaces", []):
                return True
            selector = condition.get("namespaceSelector", {}).get("matchLabels")
            if selector and all(namespace.labels.get(key) == value for key, value in selector.items()):
                return True
            if any(re.search(pattern, namespace.name) for pattern in condition.get("namespaceRegexes", [])):
                return True
        return False


@dataclass
class ExternalSecretPlan:
    namespace: Namespace
    name: str
    store: Store
    remote_keys: list[str]
    find_path: str | None
    refresh_interval: str
    status: str  # synced, error, stale
    uid: str
    app: App | None = None
    owner_ces: str | None = None


@dataclass
class K8sSecret:
    namespace: str
    name: str
    type: str
    keys: list[str]
    owner: ExternalSecretPlan | None = None
    app: App | None = None  # the app whose workloads mount it
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Estate:
    """Everything the renderers need, with the references between Kubernetes and AWS resolved."""

    counts: Counts
    seed: int
    namespaces: list[Namespace] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)
    service_accounts: list[ServiceAccount] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    cloud_secrets: list[CloudSecret] = field(default_factory=list)
    external_secrets: list[ExternalSecretPlan] = field(default_factory=list)
    k8s_secrets: list[K8sSecret] = field(default_factory=list)
    shared_tls_namespaces: list[str] = field(default_factory=list)
    kms_keys: int = 0
    static_users: dict[str, Store] = field(default_factory=dict)  # user name -> store

    @property
    def team_namespaces(self) -> list[Namespace]:
        return [namespace for namespace in self.namespaces if namespace.env != "system"]


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def before_reference(**delta: float) -> str:
    return timestamp(REFERENCE_TIME - timedelta(**delta))


def _indexed_name(words: tuple[str, ...], index: int) -> str:
    word = words[index % len(words)]
    return word if index < len(words) else f"{word}-{index // len(words) + 1}"


def _uid(rng: random.Random) -> str:
    value = f"{rng.getrandbits(128):032x}"
    return f"{value[:8]}-{value[8:12]}-4{value[13:16]}-a{value[17:20]}-{value[20:]}"


def plan_estate(counts: Counts, seed: int) -> Estate:
    """Draw a whole estate for `counts` from `seed`. The same arguments always give the same plan.

    Raises PlanError when the counts cannot hold the fixed part of an estate.
    """
    rng = random.Random(seed)
    estate = Estate(counts=counts, seed=seed)
    _plan_namespaces(estate)
    _plan_stores(estate, rng)
    _plan_apps(estate, rng)
    _plan_service_accounts(estate, rng)
    _plan_cloud_secrets(estate, rng)
    _plan_external_secrets(estate, rng)
    _plan_k8s_secrets(estate, rng)
    _attach_secrets_to_workloads(estate)
    return estate


def _require(available: int, needed: int, what: str) -> None:
    if available < needed:
        raise PlanError(f"{what}: the size asks for {available}, but the fixed part of the estate needs at least {needed}; use a larger --scale")


def _plan_namespaces(estate: Estate) -> None:
    _require(estate.counts.namespaces, len(SYSTEM_NAMESPACES) + 3, "namespaces")
    for name in SYSTEM_NAMESPACES:
        estate.namespaces.append(Namespace(name, "platform", "system", {"kubernetes.io/metadata.name": name}))
    for index in range(estate.counts.namespaces - len(SYSTEM_NAMESPACES)):
        team = _indexed_name(TEAM_WORDS, index // len(ENVIRONMENTS))
        env = ENVIRONMENTS[index % len(ENVIRONMENTS)]
        name = f"{team}-{env}"
        labels = {"kubernetes.io/metadata.name": name, "team": team, "env": ENV_LABELS[env]}
        if env == "prod":
            labels["protected"] = "true"
        estate.namespaces.append(Namespace(name, team, env, labels))


def _plan_stores(estate: Estate, rng: random.Random) -> None:
    """Plan a few ClusterSecretStores (one broad, the rest with conditions) and SecretStores in team namespaces."""
    _require(estate.counts.stores, 4, "stores")
    cluster_count = min(estate.counts.stores - 1, 3 + estate.counts.stores // 200)
    teams = list(dict.fromkeys(namespace.team for namespace in estate.team_namespaces))
    for index in range(cluster_count):
        estate.stores.append(_cluster_store(estate, index, teams))

    team_namespaces = estate.team_namespaces
    store_count = estate.counts.stores - cluster_count
    placement = rng.sample(team_namespaces, min(store_count, len(team_namespaces)))
    per_namespace: dict[str, int] = {}
    for index in range(store_count):
        namespace = placement[index % len(placement)]
        per_namespace[namespace.name] = per_namespace.get(namespace.name, 0) + 1
        name = "aws-secrets" if per_namespace[namespace.name] == 1 else f"aws-secrets-{per_namespace[namespace.name]}"
        auth = STORE_AUTH_BY_SLOT.get(index % 20, "jwt")
        store = Store("SecretStore", name, namespace.name, auth)
        if auth == "jwt":
            namespace.labels[TENANT_LABEL] = "true"
            store.service_account = (namespace.name, "eso-store")
            store.identity_arn = role_arn(f"eso-{namespace.name}")
        elif auth == "static":
            store.credentials_secret = f"{name}-credentials"
            user = f"eso-{namespace.name}" if per_namespace[namespace.name] == 1 else f"eso-{namespace.name}-{name}"
            store.identity_arn = user_arn(user)
            estate.static_users[user] = store
        else:
            store.identity_arn = role_arn("eso-controller")
        estate.stores.append(store)


def _cluster_store(estate: Estate, index: int, teams: list[str]) -> Store:
    if index == 0:
        return Store("ClusterSecretStore", "aws-shared", None, "jwt", ("external-secrets", "eso-shared"), None,
                     identity_arn=role_arn("eso-shared"))
    if index == 1:
        return Store("ClusterSecretStore", "aws-production", None, "jwt", ("external-secrets", "eso-prod-shared"),
                     [{"namespaceSelector": {"matchLabels": {"env": "production"}}}], identity_arn=role_arn("eso-prod-shared"))
    if index == 2:
        # Referent authentication: the ServiceAccount has no namespace, so each ExternalSecret's own is used.
        return Store("ClusterSecretStore", "tenant-stores", None, "jwt", (None, "eso-store"),
                     [{"namespaceSelector": {"matchLabels": {TENANT_LABEL: "true"}}}])
    team = teams[(index - 3) % len(teams)]
    if index % 2:
        # Unanchored, as ESO matches it: `payments` also admits `payments-2-prod`.
        conditions: list[dict] = [{"namespaceRegexes": [team]}]
    else:
        conditions = [{"namespaces": [namespace.name for namespace in estate.team_namespaces if namespace.team == team]}]
    return Store("ClusterSecretStore", f"team-{team}", None, "jwt", ("external-secrets", f"eso-team-{team}"), conditions,
                 identity_arn=role_arn(f"eso-team-{team}"))


def _plan_apps(estate: Estate, rng: random.Random) -> None:
    """Plan Deployments and StatefulSets, then Jobs and bare Pods, until their pods add up to the count exactly."""
    _require(estate.counts.pods, TEMPLATE_PODS + 2, "pods")
    remaining = estate.counts.pods - TEMPLATE_PODS
    extra_pods = remaining // 10
    app_pods = remaining - extra_pods

    team_namespaces = estate.team_namespaces
    weights = [min(rng.paretovariate(1.5), 12.0) for _ in team_namespaces]
    names_used: dict[str, int] = {}
    while app_pods > 0:
        namespace = rng.choices(team_namespaces, weights)[0]
        index = names_used.get(namespace.name, 0)
        names_used[namespace.name] = index + 1
        app = App(namespace, _indexed_name(APP_WORDS, index))
        replicas = min(rng.choice((1, 2, 2, 3, 3, 4, 6)), app_pods)
        kind = "StatefulSet" if rng.random() < 0.15 else "Deployment"
        app.workload = Workload(namespace.name, app.name, kind, replicas, app.service_account, app)
        estate.apps.append(app)
        estate.workloads.append(app.workload)
        app_pods -= replicas

    for index in range(extra_pods):
        app = rng.choice(estate.apps)
        kind = "Job" if index % 2 == 0 else "Pod"
        name = f"{app.name}-migrate-{index}" if kind == "Job" else f"{app.name}-debug-{index}"
        estate.workloads.append(Workload(app.namespace.name, name, kind, 1, app.service_account, app))


def _plan_service_accounts(estate: Estate, rng: random.Random) -> None:
    """Plan `default` in every namespace, store and app ServiceAccounts, then CI and legacy ones to fill the count."""
    accounts = estate.service_accounts
    for namespace in estate.namespaces:
        accounts.append(ServiceAccount(namespace.name, "default"))
    for store in estate.stores:
        if store.service_account is None or store.service_account[0] is None:
            continue
        namespace, name = store.service_account
        if not any(account.namespace == namespace and account.name == name for account in accounts):
            accounts.append(ServiceAccount(namespace, name, role_arn=store.identity_arn))
    fixed = len(accounts) + TEMPLATE_SERVICE_ACCOUNTS
    _require(estate.counts.service_accounts, fixed, "ServiceAccounts")

    available = estate.counts.service_accounts - fixed
    for app in estate.apps[:available]:
        app.service_account = app.name
        accounts.append(ServiceAccount(app.namespace.name, app.name))
    for workload in estate.workloads:
        workload.service_account = workload.app.service_account

    extra = available - min(available, len(estate.apps))
    team_namespaces = estate.team_namespaces
    token_budget = max(1, len(team_namespaces) // 10)
    for index in range(extra):
        namespace = team_namespaces[index % len(team_namespaces)]
        if index < len(team_namespaces):
            accounts.append(ServiceAccount(namespace.name, "ci-deployer"))
            continue
        account = ServiceAccount(namespace.name, f"legacy-{index // len(team_namespaces)}")
        if token_budget > 0 and rng.random() < 0.3:
            account.token_secret = f"{account.name}-token"
            token_budget -= 1
        accounts.append(account)


def _plan_cloud_secrets(estate: Estate, rng: random.Random) -> None:
    """Plan high-privilege and shared secrets, each static-key store's own keys, then app secrets under their paths."""
    secrets = estate.cloud_secrets
    estate.kms_keys = 3 + estate.counts.cloud_secrets // 5000

    def add(name: str, namespace: Namespace | None = None) -> CloudSecret:
        suffix = "".join(rng.choice(ARN_SUFFIX_ALPHABET) for _ in range(6))
        secret = CloudSecret(name, suffix, namespace)
        if rng.random() < 0.25:
            secret.rotation_days = rng.choice((7, 30, 90))
        secrets.append(secret)
        return secret

    add("admin/root-credentials").deny_except = [role_arn("admin")]
    add("vault-unseal/keys")
    add("shared/tls")
    add("shared/config")
    for user in estate.static_users:
        add(f"eso-credentials/{user}")
    _require(estate.counts.cloud_secrets, len(secrets), "cloud secrets")

    remaining = estate.counts.cloud_secrets - len(secrets)
    order = list(estate.apps)
    rng.shuffle(order)
    receivers = order[:remaining] + [rng.choice(order) for _ in range(max(0, remaining - len(order)))]
    team_index = {team: index for index, team in enumerate(dict.fromkeys(n.team for n in estate.team_namespaces))}
    for app in receivers:
        item = _indexed_name(SECRET_ITEMS, len(app.cloud_secrets))
        namespace = app.namespace
        secret = add(f"{namespace.team}/{namespace.name}/{app.name}/{item}", namespace)
        if namespace.env == "prod":
            secret.kms_key = team_index[namespace.team] % estate.kms_keys
            if rng.random() < 0.05:
                secret.deny_except = [_namespace_store_identity(estate, namespace) or role_arn("eso-prod-shared"), role_arn("admin")]
        app.cloud_secrets.append(secret)


def _namespace_store_identity(estate: Estate, namespace: Namespace) -> str | None:
    for store in estate.stores:
        if store.namespace == namespace.name and store.auth == "jwt":
            return store.identity_arn
    return None


def _plan_external_secrets(estate: Estate, rng: random.Random) -> None:
    """Plan the ExternalSecrets of the ClusterExternalSecret `shared-tls`, then one or more per app."""
    prod_namespaces = [namespace for namespace in estate.team_namespaces if namespace.env == "prod"]
    shared_tls = prod_namespaces[: min(len(prod_namespaces), estate.counts.external_secrets // 10)]
    broad_store = estate.stores[0]
    for namespace in shared_tls:
        namespace.labels["shared-tls"] = "true"
        estate.shared_tls_namespaces.append(namespace.name)
        estate.external_secrets.append(
            ExternalSecretPlan(namespace, "shared-tls", broad_store, ["shared/tls"], None, "1h", "synced", _uid(rng), owner_ces="shared-tls")
        )

    order = list(estate.apps)
    rng.shuffle(order)
    for index in range(estate.counts.external_secrets - len(shared_tls)):
        app = order[index % len(order)]
        round_number = index // len(order)
        name = f"{app.name}-secrets" if round_number == 0 else f"{app.name}-secrets-{round_number + 1}"
        store = _choose_store(estate, app.namespace, rng)
        remote_keys: list[str] = []
        find_path = None
        if app.cloud_secrets and rng.random() < 0.85:
            picked = rng.sample(app.cloud_secrets, min(len(app.cloud_secrets), rng.randint(1, 3)))
            remote_keys = [secret.name for secret in picked]
        else:
            find_path = f"{app.namespace.team}/{app.namespace.name}/{app.name}"
        interval = rng.choices(("1h", "15m", "24h", "0"), (60, 20, 15, 5))[0]
        status = rng.choices(("synced", "error", "stale"), (94, 3, 3))[0]
        estate.external_secrets.append(
            ExternalSecretPlan(app.namespace, name, store, remote_keys, find_path, interval, status, _uid(rng), app=app)
        )


def _choose_store(estate: Estate, namespace: Namespace, rng: random.Random) -> Store:
    own = [store for store in estate.stores if store.namespace == namespace.name]
    if own and rng.random() < 0.85:
        return rng.choice(own)
    has_store_account = any(store.service_account == (namespace.name, "eso-store") for store in own)
    candidates = [
        store for store in estate.stores
        if store.kind == "ClusterSecretStore" and store.admits(namespace)
        and (store.service_account is None or store.service_account[0] is not None or has_store_account)
    ]
    return rng.choice(candidates)


def _plan_k8s_secrets(estate: Estate, rng: random.Random) -> None:
    """Plan ESO's synced copies, static store keys and legacy tokens, then app Secrets to fill the count."""
    secrets = estate.k8s_secrets
    for external_secret in estate.external_secrets:
        keys = sorted({key.rsplit("/", 1)[-1] for key in external_secret.remote_keys} or {"config"})
        if external_secret.owner_ces:
            keys = ["tls.crt", "tls.key"]
        secrets.append(K8sSecret(external_secret.namespace.name, external_secret.name, "Opaque", keys,
                                 owner=external_secret, app=external_secret.app))
    for user, store in estate.static_users.items():
        secrets.append(K8sSecret(store.namespace or "", store.credentials_secret or "", "Opaque", ["access-key-id", "secret-access-key"],
                                 annotations={"blastradius.io/aws-principal": user_arn(user)}))
    for account in estate.service_accounts:
        if account.token_secret:
            secrets.append(K8sSecret(account.namespace, account.token_secret, "kubernetes.io/service-account-token",
                                     ["ca.crt", "namespace", "token"], annotations={"kubernetes.io/service-account.name": account.name}))
    _require(estate.counts.k8s_secrets, len(secrets) + TEMPLATE_SECRETS, "Kubernetes Secrets")

    order = list(estate.apps)
    rng.shuffle(order)
    shapes = (("env", "Opaque", ["DATABASE_URL", "API_TOKEN"]), ("tls", "kubernetes.io/tls", ["tls.crt", "tls.key"]),
              ("registry", "kubernetes.io/dockerconfigjson", [".dockerconfigjson"]))
    for index in range(estate.counts.k8s_secrets - len(secrets) - TEMPLATE_SECRETS):
        app = order[index % len(order)]
        round_number = index // len(order)
        label, secret_type, keys = shapes[round_number % len(shapes)]
        name = f"{app.name}-{label}" if round_number < len(shapes) else f"{app.name}-{label}-{round_number // len(shapes) + 1}"
        secrets.append(K8sSecret(app.namespace.name, name, secret_type, keys, app=app))


def _attach_secrets_to_workloads(estate: Estate) -> None:
    """Mount each app's Secrets in its workloads: synced copies as volumes, env Secrets through envFrom.

    Jobs and bare Pods take only the app's plain Opaque Secrets, as `env` references.
    """
    by_app: dict[int, list[K8sSecret]] = {}
    for secret in estate.k8s_secrets:
        if secret.app is not None:
            by_app.setdefault(id(secret.app), []).append(secret)
    for workload in estate.workloads:
        for secret in by_app.get(id(workload.app), []):
            workload.secret_refs.append((secret.name, _mount_kind(workload, secret)))
        if workload.namespace in estate.shared_tls_namespaces and workload.kind == "Deployment":
            workload.secret_refs.append(("shared-tls", "volume"))
        workload.secret_refs = [(name, via) for name, via in workload.secret_refs if via]


def _mount_kind(workload: Workload, secret: K8sSecret) -> str:
    """Return how the workload references the Secret, or an empty string when it does not."""
    plain = secret.type == "Opaque" and secret.owner is None
    if workload.kind in ("Job", "Pod"):
        return "env" if plain else ""
    if secret.type == "kubernetes.io/dockerconfigjson":
        return "imagePullSecret"
    return "envFrom" if plain else "volume"
