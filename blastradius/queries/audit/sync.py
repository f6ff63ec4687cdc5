"""Audit checks on how fresh the copies ESO keeps are: refresh settings, sync status and sync alerts."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Iterator

from blastradius.graph.index import MALFORMED_OBJECT_ERRORS, ClusterIndex
from blastradius.queries.audit.context import AuditContext, Hit, object_ref
from blastradius.semantics import eso

log = logging.getLogger(__name__)

DAY_SECONDS = 86400.0
# Lifetimes of generated credentials, by generator kind. ECR authorization tokens last 12 hours
# (AWS ECR GetAuthorizationToken); STS GetSessionToken defaults to 43200 s, and the STSSessionToken
# generator may set `requestParameters.sessionDuration` (ESO generators API v1alpha1).
ECR_TOKEN_SECONDS = 12 * 3600.0
STS_SESSION_DEFAULT_SECONDS = 43200.0
# ESO's metrics that sync alerts must use (ESO metrics reference): failing sync calls, and the
# Ready condition of each ExternalSecret.
SYNC_ALERT_METRICS = ("externalsecret_sync_calls_error", "externalsecret_status_condition")


def _duration_text(seconds: float) -> str:
    if seconds >= DAY_SECONDS and seconds % DAY_SECONDS == 0:
        return f"{int(seconds // DAY_SECONDS)} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def _age_text(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours >= 1 else f"{seconds / 60:.0f} minutes"


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _es_label(es: dict[str, Any]) -> str:
    metadata = es.get("metadata") or {}
    return f"ExternalSecret {metadata.get('namespace')}/{metadata.get('name')}"


# --- refresh interval ----------------------------------------------------------------------------


def refresh_interval(ctx: AuditContext) -> Iterator[Hit]:
    """Find ExternalSecrets that never refresh, or refresh less often than their source rotates or expires."""
    for index in ctx.clusters:
        for es, owner in ctx.external_secrets(index):
            try:
                target = eso.external_secret_target(es)
            except (eso.EsoError, ValueError):
                continue
            rotations = _rotations(ctx, index, es)
            lifetimes = _generator_lifetimes(index, es)
            hit = _refresh_hit(es, owner, target, rotations, lifetimes)
            if hit is not None:
                yield hit


def _rotations(ctx: AuditContext, index: ClusterIndex, es: dict[str, Any]) -> list[tuple[str, float]]:
    """Return (secret name, rotation period in seconds) of each rotating cloud secret the ExternalSecret copies."""
    found = []
    for arn in ctx.copied_secrets(index, es):
        entry = ctx.secrets_by_arn.get(arn) or {}
        if entry.get("rotation_enabled") and entry.get("rotation_days"):
            found.append((entry.get("name") or arn, float(entry["rotation_days"]) * DAY_SECONDS))
    return found


def _generator_lifetimes(index: ClusterIndex, es: dict[str, Any]) -> list[tuple[str, float]]:
    """Return (generator, lifetime in seconds) of each generator whose credentials expire after a known time.

    Vault dynamic secrets get their TTL from the Vault role, which the snapshot does not hold, so
    they are not listed.
    """
    try:
        refs = eso.external_secret_refs(es)
    except (eso.EsoError, ValueError):
        return []
    namespace = (es.get("metadata") or {}).get("namespace")
    generators = {(generator.get("kind"), (generator.get("metadata") or {}).get("namespace"),
                   (generator.get("metadata") or {}).get("name")): generator for generator in index.generators}
    found = []
    for ref in refs:
        if ref.generator is None:
            continue
        generator = generators.get(ref.generator.key(namespace))
        if generator is None:
            continue
        lifetime = _lifetime(generator)
        if lifetime is not None:
            found.append((f"{ref.generator.kind} {ref.generator.name}", lifetime))
    return found


def _lifetime(generator: dict[str, Any]) -> float | None:
    try:
        kind, spec = eso.generator_spec(generator)
    except eso.EsoError:
        return None
    if kind == "ECRAuthorizationToken":
        return ECR_TOKEN_SECONDS
    if kind == "STSSessionToken":
        duration = (spec.get("requestParameters") or {}).get("sessionDuration")
        return float(duration) if duration else STS_SESSION_DEFAULT_SECONDS
    return None


def _refresh_hit(es: dict[str, Any], owner: dict[str, Any] | None, target: eso.Target,
                 rotations: list[tuple[str, float]], lifetimes: list[tuple[str, float]]) -> Hit | None:
    spec = es.get("spec") or {}
    written = spec.get("refreshInterval", "1h (default)")
    objects = [object_ref(owner or es)]
    evidence = {"refresh_interval": written, "refresh_policy": target.refresh_policy,
                "rotations": {name: seconds for name, seconds in rotations},
                "lifetimes": {name: seconds for name, seconds in lifetimes}}
    if not target.refreshes_periodically:
        why = (f'refreshPolicy {target.refresh_policy}' if target.refresh_policy != "Periodic"
               else f'refreshInterval "{written}"')
        message = f"{_es_label(es)}: {why} means ESO syncs once and never refreshes the copy"
        sources = [f"{name} rotates every {_duration_text(seconds)}" for name, seconds in rotations]
        sources += [f"{name} issues credentials that expire after {_duration_text(seconds)}" for name, seconds in lifetimes]
        message += f", but {'; '.join(sources)}" if sources else ""
        return Hit(message, objects, evidence)
    interval = target.refresh_interval_seconds
    late = [f"{name} rotates every {_duration_text(seconds)}" for name, seconds in rotations if interval > seconds]
    late += [f"{name} issues credentials that expire after {_duration_text(seconds)}"
             for name, seconds in lifetimes if interval >= seconds]
    if not late:
        return None
    message = f"{_es_label(es)}: refreshInterval {written} is longer than the source's lifetime: {'; '.join(late)}"
    return Hit(message, objects, evidence)


# --- sync status ---------------------------------------------------------------------------------


def _statuses(ctx: AuditContext) -> Iterator[tuple[ClusterIndex, dict[str, Any], eso.SyncStatus]]:
    """Yield the sync status of every ExternalSecret of the snapshot that has a status, at the audit's time."""
    for index in ctx.clusters:
        for es in index.eso.get("ExternalSecret", []):
            if not es.get("status"):
                continue
            try:
                status = eso.sync_status(es, ctx.now)
            except MALFORMED_OBJECT_ERRORS as error:
                ctx.skip_malformed(index, es, error)
                continue
            yield index, es, status


def sync_failing(ctx: AuditContext) -> Iterator[Hit]:
    """Find ExternalSecrets whose Ready condition is False, so the copy keeps its last synced value."""
    for _, es, status in _statuses(ctx):
        if status.ready is not False:
            continue
        reason = status.reason or "no reason"
        detail = f": {status.message}" if status.message else ""
        if status.refresh_time is not None and status.age_seconds is not None:
            last = (f"last successful sync {_timestamp(status.refresh_time)}, {_age_text(status.age_seconds)} before "
                    f"{_timestamp(ctx.now)}")
        else:
            last = "no successful sync recorded"
        message = f"{_es_label(es)} is not Ready ({reason}{detail}); {last}"
        yield Hit(message, [object_ref(es)], {"reason": status.reason,
                                              "refresh_time": _timestamp(status.refresh_time) if status.refresh_time else None,
                                              "age_seconds": status.age_seconds})


def sync_stale(ctx: AuditContext) -> Iterator[Hit]:
    """Find ExternalSecrets whose last successful sync is older than twice their refreshInterval at the audit's time."""
    for index, es, status in _statuses(ctx):
        if not status.stale or status.refresh_time is None or status.age_seconds is None:
            continue
        interval = eso.external_secret_target(es).refresh_interval_seconds
        message = (f"{_es_label(es)}: last successful sync {_timestamp(status.refresh_time)} is "
                   f"{_age_text(status.age_seconds)} old at {_timestamp(ctx.now)}, more than twice its refreshInterval "
                   f"of {_duration_text(interval)}")
        rotated = _rotated_since(ctx, index, es, status.refresh_time)
        if rotated:
            message += f"; {', '.join(rotated)} since, so the copy is outdated"
        yield Hit(message, [object_ref(es)], {"refresh_time": _timestamp(status.refresh_time),
                                              "age_seconds": status.age_seconds, "rotated_since": rotated})


def _rotated_since(ctx: AuditContext, index: ClusterIndex, es: dict[str, Any], since: datetime) -> list[str]:
    rotated = []
    for arn in ctx.copied_secrets(index, es):
        entry = ctx.secrets_by_arn.get(arn) or {}
        last = entry.get("last_rotated")
        try:
            moment = datetime.fromisoformat(str(last).replace("Z", "+00:00")) if last else None
        except ValueError:
            continue
        if moment is not None and moment > since:
            rotated.append(f"{entry.get('name')} rotated at {last}")
    return rotated


# --- alerts --------------------------------------------------------------------------------------


def _alert_expressions(ctx: AuditContext, index: ClusterIndex, rule_object: dict[str, Any]) -> list[str]:
    """Return the expressions of a PrometheusRule's alerting rules (none when its groups are malformed)."""
    try:
        return [str(rule.get("expr", "")) for group in ((rule_object.get("spec") or {}).get("groups") or [])
                for rule in (group or {}).get("rules") or [] if isinstance(rule, dict) and rule.get("alert")]
    except MALFORMED_OBJECT_ERRORS as error:
        ctx.skip_malformed(index, rule_object, error)
        return []


def sync_alerts_missing(ctx: AuditContext) -> Iterator[Hit]:
    """Find clusters with ExternalSecrets but no PrometheusRule alert on ESO's sync-error and Ready metrics."""
    for index in ctx.clusters:
        if not index.eso.get("ExternalSecret") and not index.eso.get("ClusterExternalSecret"):
            continue
        rules = index.by_kind.get("PrometheusRule", [])
        expressions = [expression for obj in rules for expression in _alert_expressions(ctx, index, obj)]
        missing = [metric for metric in SYNC_ALERT_METRICS
                   if not any(re.search(rf"\b{metric}\b", expression) for expression in expressions)]
        if not missing:
            continue
        message = (f"cluster {index.name}: no PrometheusRule alert uses {' or '.join(missing)}, so failing or stale "
                   f"syncs go unnoticed until an application fails with an outdated credential")
        yield Hit(message, [object_ref(obj) for obj in rules], {"cluster": index.name, "missing_metrics": missing,
                                                               "prometheus_rules": len(rules)})
