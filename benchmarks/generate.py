"""Generate a synthetic estate: Kubernetes manifests plus one AWS bundle file, the way users feed blastradius.

    python benchmarks/generate.py --size S --seed 1 --out /tmp/estate-s
    python benchmarks/generate.py --size L --seed 1 --mutate 0.01 --out /tmp/estate-l-drifted

The output folder holds `k8s/` (pass it to `--manifests`), `aws.json` (pass it to `--aws-json`)
and `estate.json`, which records the counts, the seed and the references the benchmark queries.
The same size, scale, seed and mutation always give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.estate_aws import plan_iam, render_aws_bundle  # noqa: E402
from benchmarks.estate_k8s import Manifests, render_manifests, template_texts  # noqa: E402
from benchmarks.estate_mutate import mutate_estate  # noqa: E402
from benchmarks.estate_plan import CLUSTER_NAME, OIDC_ISSUER, SIZES, Counts, Estate, PlanError, plan_estate  # noqa: E402
from benchmarks.estate_rbac import developer_group  # noqa: E402

log = logging.getLogger("benchmarks.generate")

_Dumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
POD_KINDS = ("Pod", "Deployment", "StatefulSet", "Job")


def size_counts(size: str, scale: float = 1.0) -> Counts:
    """Return the counts of a named size, multiplied by `scale` for in-between sizes."""
    counts = SIZES[size]
    return counts if scale == 1.0 else counts.scaled(scale)


def generate(counts: Counts, seed: int, mutate: float = 0.0) -> tuple[Manifests, dict[str, str], dict[str, Any], list[str]]:
    """Return the generated manifests, the verbatim template files, the AWS bundle and the mutations made.

    Each part draws from its own seeded generator, so a change in one part's logic leaves the others'
    output unchanged. Raises PlanError when the counts are too small.
    """
    estate = plan_estate(counts, seed)
    iam = plan_iam(estate, random.Random(f"{seed}:iam"))
    manifests = render_manifests(estate, random.Random(f"{seed}:rbac"))
    bundle = render_aws_bundle(estate, iam)
    changes = mutate_estate(manifests, bundle, mutate, random.Random(f"{seed}:mutate:{mutate}")) if mutate else []
    return manifests, template_texts(), bundle, changes


def query_references(estate_bundle: dict[str, Any], manifests: Manifests) -> dict[str, str]:
    """Return the references the benchmark queries: a production secret, a developer group, the ESO controller."""
    production = next(entry for entry in estate_bundle["SecretList"] if "-prod/" in entry["Name"])
    first_team = next(doc["metadata"]["labels"]["team"] for doc in manifests["k8s/00-namespaces.yaml"] if "team" in doc["metadata"]["labels"])
    return {
        "production_secret": production["ARN"],
        "developer_group": f"group:{developer_group(first_team)}",
        "eso_controller": "eso-controller",
    }


def count_kinds(manifests: Manifests, templates: dict[str, str], bundle: dict[str, Any]) -> dict[str, int]:
    """Count the generated objects the way the size table does (pods are declared replicas)."""
    documents = [doc for docs in manifests.values() for doc in docs]
    for text in templates.values():
        documents.extend(doc for doc in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if doc)
    kinds = Counter(doc["kind"] for doc in documents)
    details = bundle["AuthorizationDetails"]
    return {
        "namespaces": kinds["Namespace"],
        "service_accounts": kinds["ServiceAccount"],
        "pods": sum(_declared_pods(doc) for doc in documents if doc["kind"] in POD_KINDS),
        "roles": kinds["Role"] + kinds["ClusterRole"],
        "bindings": kinds["RoleBinding"] + kinds["ClusterRoleBinding"],
        "k8s_secrets": kinds["Secret"],
        "external_secrets": kinds["ExternalSecret"],
        "stores": kinds["SecretStore"] + kinds["ClusterSecretStore"],
        "iam_identities": len(details["RoleDetailList"]) + len(details["UserDetailList"]),
        "policies": len(details["Policies"]),
        "cloud_secrets": len(bundle["SecretList"]),
    }


def _declared_pods(document: dict[str, Any]) -> int:
    if document["kind"] == "Pod":
        return 1
    key = "parallelism" if document["kind"] == "Job" else "replicas"
    return int(document["spec"].get(key, 1))


def write_estate(out: Path, manifests: Manifests, templates: dict[str, str], bundle: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Write the estate into a temporary folder beside `out`, then swap it in with renames.

    A reader sees the previous folder or the complete new one, apart from the instant between the two renames.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for relative, text in templates.items():
            _write_text(staging / relative, text)
        header = f"# Generated by benchmarks/generate.py (seed {metadata['seed']}); regenerate rather than edit.\n"
        for relative, documents in manifests.items():
            body = yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
            _write_text(staging / relative, header + body)
        _write_text(staging / "aws.json", json.dumps(bundle, indent=1) + "\n")
        _write_text(staging / "estate.json", json.dumps(metadata, indent=2) + "\n")
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _swap_in(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    os.rename(out, retired / out.name)
    os.rename(staging, out)
    shutil.rmtree(retired)


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Generate a synthetic Kubernetes + ESO + AWS estate for blastradius.")
    parser.add_argument("--size", choices=sorted(SIZES), default="S", help="Named size from the benchmark table (default: S).")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every count of the size by this factor (default: 1.0).")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the random generator (default: 1).")
    parser.add_argument("--mutate", type=float, default=0.0,
                        help="Fraction of bindings and managed policies to change, for a drifted copy of the estate (default: 0).")
    parser.add_argument("--out", type=Path, required=True, help="Output folder; replaced if it exists.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if arguments.scale <= 0 or not 0 <= arguments.mutate <= 1:
        print("error: --scale must be above 0 and --mutate between 0 and 1", file=sys.stderr)
        return 2

    started = time.perf_counter()
    counts = size_counts(arguments.size, arguments.scale)
    try:
        manifests, templates, bundle, changes = generate(counts, arguments.seed, arguments.mutate)
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    actual = count_kinds(manifests, templates, bundle)
    metadata = {
        "size": arguments.size, "scale": arguments.scale, "seed": arguments.seed, "mutate": arguments.mutate,
        "cluster_name": CLUSTER_NAME, "oidc_issuer": OIDC_ISSUER,
        "counts": actual, "queries": query_references(bundle, manifests), "changes": changes,
    }
    write_estate(arguments.out, manifests, templates, bundle, metadata)
    log.info("wrote %s in %.1fs (%d manifest files, %d changes)", arguments.out, time.perf_counter() - started,
             len(manifests) + len(templates), len(changes))

    width = max(len(name) for name in actual)
    for name, value in actual.items():
        print(f"{name.ljust(width)}  {value:>7}  (size table: {getattr(counts, name)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
