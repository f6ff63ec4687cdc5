"""Pure evaluators for Kubernetes RBAC, External Secrets and AWS IAM: no graph, no I/O."""
