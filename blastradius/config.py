"""The analysis configuration: what is specific to an organisation, read from a TOML file.

```toml
protected_namespaces = ["production"]
high_privilege_prefixes = ["admin/", "vault-unseal/", "eso-credentials/"]
trusted_principals = ["group:system:masters", "system:serviceaccount:kube-system:*"]
credential_prefixes = ["eso-credentials/"]

[static_key_owners]
"staging/aws-credentials" = "arn:aws:iam::111122223333:user/eso-staging"

[severity]
ESO-CSS-BROAD = "critical"
```
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("info", "low", "medium", "high", "critical")
DEFAULT_HIGH_PRIVILEGE_PREFIXES = ("admin/", "vault-unseal/", "eso-credentials/")
DEFAULT_CREDENTIAL_PREFIXES = ("eso-credentials/",)
_KNOWN_KEYS = {
    "protected_namespaces", "high_privilege_prefixes", "trusted_principals", "credential_prefixes",
    "static_key_owners", "severity",
}


class ConfigError(Exception):
    """A configuration file that cannot be read or holds an invalid value; the message names file and key."""


@dataclass(frozen=True)
class Config:
    """Organisation-specific settings for audits and queries.

    - `protected_namespaces`: namespaces whose Secrets must come only from ESO (globs allowed);
    - `high_privilege_prefixes`: secret name prefixes that store identities must be denied explicitly;
    - `trusted_principals`: references of admins hidden from who-can unless `--all` (globs allowed);
    - `credential_prefixes`: secret name prefixes under which store credentials are kept in the cloud;
    - `static_key_owners`: `<namespace>/<Secret name>` → ARN of the IAM user whose access keys the
      Secret contains, because neither Kubernetes nor AWS records it;
    - `severity`: check id → severity override.
    """

    protected_namespaces: tuple[str, ...] = ()
    high_privilege_prefixes: tuple[str, ...] = DEFAULT_HIGH_PRIVILEGE_PREFIXES
    trusted_principals: tuple[str, ...] = ()
    credential_prefixes: tuple[str, ...] = DEFAULT_CREDENTIAL_PREFIXES
    static_key_owners: dict[str, str] = field(default_factory=dict)
    severity: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def is_protected(self, namespace: str | None) -> bool:
        return namespace is not None and any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.protected_namespaces)

    def is_trusted(self, reference: str) -> bool:
        return any(fnmatch.fnmatchcase(reference, pattern) for pattern in self.trusted_principals)


def _string_list(data: dict[str, Any], key: str, path: Path) -> tuple[str, ...] | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


def _static_key_owners(data: dict[str, Any], path: Path) -> dict[str, str]:
    owners = data.get("static_key_owners", {})
    if not isinstance(owners, dict):
        raise ConfigError(f"{path}: [static_key_owners] must be a table of \"<namespace>/<Secret name>\" = \"<IAM ARN>\"")
    for secret, arn in owners.items():
        if secret.count("/") != 1 or not all(secret.split("/")):
            raise ConfigError(f"{path}: static_key_owners.{secret}: expected a key of the form <namespace>/<Secret name>")
        if not isinstance(arn, str) or not arn.startswith("arn:") or ":iam::" not in arn:
            raise ConfigError(f"{path}: static_key_owners.{secret} = {arn!r} is not an IAM user or role ARN")
    return dict(owners)


def load_config(path: str | Path | None) -> Config:
    """Read a TOML configuration file, or return the defaults when `path` is None."""
    if path is None:
        return Config()
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: cannot read configuration: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from None

    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}; expected one of {', '.join(sorted(_KNOWN_KEYS))}")

    severity = data.get("severity", {})
    if not isinstance(severity, dict):
        raise ConfigError(f"{source}: [severity] must be a table of check id = severity")
    for check_id, level in severity.items():
        if level not in SEVERITIES:
            raise ConfigError(f"{source}: severity.{check_id} = {level!r} is not one of {', '.join(SEVERITIES)}")

    owners = _static_key_owners(data, source)
    defaults = Config()
    return Config(
        protected_namespaces=_string_list(data, "protected_namespaces", source) or defaults.protected_namespaces,
        high_privilege_prefixes=_string_list(data, "high_privilege_prefixes", source) or defaults.high_privilege_prefixes,
        trusted_principals=_string_list(data, "trusted_principals", source) or defaults.trusted_principals,
        credential_prefixes=_string_list(data, "credential_prefixes", source) or defaults.credential_prefixes,
        static_key_owners=owners,
        severity=dict(severity),
        source=str(source),
    )
