"""A subject that can escalate and update a role it is bound to can give itself any right in its binding's scope."""

from __future__ import annotations

import pytest

from tests.graph.estate import (
    build,
    cluster_role,
    cluster_role_binding,
    edges,
    namespace,
    role,
    role_binding,
    rule,
    user_subject,
)

RBAC = ["rbac.authorization.k8s.io"]
ALICE = user_subject("alice")


def _cluster_editor(*rules: dict) -> list[dict]:
    return [namespace("apps"), cluster_role("editor", *rules), cluster_role_binding("editor", "editor", ALICE)]


CASES = [
    pytest.param(_cluster_editor(rule(["escalate", "update"], ["clusterroles"], groups=RBAC)),
                 {("user:alice", "any right in any namespace")}, id="clusterrole-escalate-update"),
    pytest.param(_cluster_editor(rule(["escalate", "patch"], ["clusterroles"], groups=RBAC, names=["editor"])),
                 {("user:alice", "any right in any namespace")}, id="own-name-only"),
    pytest.param(_cluster_editor(rule(["escalate", "update"], ["clusterroles"], groups=RBAC, names=["other"])),
                 set(), id="other-name-only"),
    pytest.param(_cluster_editor(rule(["update"], ["clusterroles"], groups=RBAC)), set(), id="update-without-escalate"),
    pytest.param([namespace("apps"), cluster_role("editor", rule(["escalate", "update"], ["clusterroles"], groups=RBAC)),
                  role_binding("apps", "editor", ("ClusterRole", "editor"), ALICE)],
                 set(), id="rolebinding-cannot-edit-clusterrole"),
    pytest.param([namespace("apps"), role("apps", "editor", rule(["escalate", "update"], ["roles"], groups=RBAC)),
                  role_binding("apps", "editor", ("Role", "editor"), ALICE)],
                 {("user:alice", "any right in namespace apps")}, id="role-in-own-namespace"),
]


@pytest.mark.parametrize("objects, expected", CASES)
def test_escalate_bound_role(objects, expected):
    assert edges(build(objects), "rbac_escalate") == expected
