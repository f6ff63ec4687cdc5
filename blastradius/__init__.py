"""blastradius: offline blast-radius analysis for secrets in Kubernetes clusters that use External Secrets Operator."""

__version__ = "0.1.0"
