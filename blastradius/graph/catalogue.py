"""The catalogue of edge kinds: one declaration per way a principal gains access, as data.

An edge A → B means "whoever controls A can act as, or obtain, B". Each kind declares what the
edge gives (`grants`), the sentence shape that explains it (`reason`, a template over `{source}`,
`{target}` and the evidence's `{detail}`, used when the builder passes no sentence of its own),
and which system it comes from. Renderers and queries read this table; nothing else defines edge kinds.

`grants` values:
- `control`: whoever controls A controls B fully (acts as B, or holds B's value);
- `read`: whoever controls A obtains B's value;
- `overwrite`: whoever controls A can overwrite B; a path ends there (overwriting a Secret does not
  give its value);
- `use_read` / `use_write`: External Secrets acts as B on A's behalf, but only to read (for
  ExternalSecrets) or write (for PushSecrets) secrets; the next edge of a path must be one whose
  `after_use` is `read` or `write` respectively.

`passes_use` marks an edge to something that acts exactly as its source does (an IAM principal to
the permission set it shares with others): a pending use crosses it and still applies to the next edge.

`overwrite_continues` marks the edges along which an overwrite spreads: a set to its members, a
cloud secret to the Kubernetes copies that ExternalSecrets sync from it, and a pushed Kubernetes
Secret to its cloud copy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeKind:
    name: str
    system: str
    grants: str
    meaning: str
    reason: str
    after_use: str | None = None
    overwrite_continues: bool = False
    passes_use: bool = False


EDGE_KINDS: tuple[EdgeKind, ...] = (
    EdgeKind("member_of", "kubernetes", "control", "a subject is a member of a group",
             "{source} is in group {target} ({detail})"),
    EdgeKind("contains", "graph", "control", "a set of objects contains one of them",
             "{target} is one of {source}", overwrite_continues=True),
    EdgeKind("rbac_read_secrets", "kubernetes", "read", "RBAC allows reading Secrets",
             "{source} reaches {target}: {detail}"),
    EdgeKind("rbac_overwrite_secrets", "kubernetes", "overwrite", "RBAC allows creating or updating Secrets",
             "{source} reaches {target}: {detail}"),
    EdgeKind("rbac_create_workloads", "kubernetes", "control", "RBAC allows creating pods or workloads",
             "{source} reaches {target}: {detail}"),
    EdgeKind("rbac_exec_pods", "kubernetes", "control", "RBAC allows exec or attach into running pods",
             "{source} reaches {target}: {detail}"),
    EdgeKind("rbac_proxy_nodes", "kubernetes", "control", "RBAC allows the kubelet API through nodes/proxy",
             "{source} reaches {target} through the kubelet API: {detail}"),
    EdgeKind("rbac_create_token", "kubernetes", "control", "RBAC allows requesting tokens for a ServiceAccount",
             "{source} reaches {target}: {detail}"),
    EdgeKind("rbac_impersonate", "kubernetes", "control", "RBAC allows impersonating a subject",
             "{source} reaches {target}: {detail}"),
    EdgeKind("rbac_escalate", "kubernetes", "control", "RBAC allows binding or escalating roles, so any right in scope",
             "{source} can grant itself {target}: {detail}"),
    EdgeKind("runs_as", "kubernetes", "control", "a pod runs with a ServiceAccount's token",
             "{source} runs as {target}"),
    EdgeKind("mounts", "kubernetes", "read", "a pod mounts or references a Secret",
             "{source} mounts {target} ({detail})"),
    EdgeKind("token_secret", "kubernetes", "control", "a legacy token Secret holds a ServiceAccount's token",
             "{source} is a service-account-token Secret of {target}"),
    EdgeKind("holds_credentials", "external-secrets", "control", "a Kubernetes Secret holds a cloud credential",
             "{source} holds the credentials of {target} ({detail})"),
    EdgeKind("eso_pull", "external-secrets", "control",
             "a subject can create ExternalSecrets in a namespace and read the Secrets they write",
             "{detail}"),
    EdgeKind("eso_custom_store", "external-secrets", "control",
             "a subject can create SecretStores and ExternalSecrets in a namespace and read the result",
             "{detail}"),
    EdgeKind("eso_store_admits", "external-secrets", "control", "a store accepts ExternalSecrets from a namespace",
             "{detail}"),
    EdgeKind("eso_acts_as", "external-secrets", "use_read",
             "External Secrets authenticates as a cloud identity to sync ExternalSecrets", "{detail}"),
    EdgeKind("eso_push", "external-secrets", "control",
             "a subject can create PushSecrets in a namespace", "{detail}"),
    EdgeKind("eso_pushes_as", "external-secrets", "use_write",
             "External Secrets authenticates as a cloud identity to write PushSecrets", "{detail}"),
    EdgeKind("eso_controller_uses", "external-secrets", "control", "the ESO controller uses every store",
             "the ESO controller reconciles {target}"),
    EdgeKind("eso_overwrite", "external-secrets", "overwrite",
             "an ExternalSecret can take over or merge into any Secret of its namespace",
             "{detail}"),
    EdgeKind("synced_to", "external-secrets", "read", "an ExternalSecret copies a cloud secret into a Kubernetes Secret",
             "{detail}", overwrite_continues=True),
    EdgeKind("pushed_to", "external-secrets", "read", "a PushSecret copies a Kubernetes Secret into a cloud secret",
             "{detail}", overwrite_continues=True),
    EdgeKind("copy_of", "external-secrets", "read", "a Kubernetes Secret holds a copy of a cloud secret",
             "{detail}"),
    EdgeKind("irsa_assume", "aws", "control", "a ServiceAccount's token is accepted by a role's web-identity trust",
             "{detail}"),
    EdgeKind("sts_assume", "aws", "control", "an IAM principal may assume a role", "{detail}"),
    EdgeKind("iam_read_secret", "aws", "read", "IAM allows GetSecretValue (and kms:Decrypt for a customer key)",
             "{detail}", after_use="read"),
    EdgeKind("iam_overwrite_secret", "aws", "overwrite", "IAM allows PutSecretValue or UpdateSecret", "{detail}",
             after_use="write"),
    EdgeKind("iam_decrypt", "aws", "control", "IAM and the key policy allow kms:Decrypt with a key", "{detail}"),
    EdgeKind("iam_same_permissions", "aws", "control", "an IAM principal has the policies it shares with others",
             "{source} has the IAM permissions of {target}", passes_use=True),
    EdgeKind("iam_escalate", "aws", "control", "an IAM principal can change IAM to grant itself more", "{detail}"),
)

EDGE_KIND_BY_NAME: dict[str, EdgeKind] = {kind.name: kind for kind in EDGE_KINDS}
