"""The command-line interface: the only place that ties the pipeline stages together."""
