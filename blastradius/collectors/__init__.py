"""Collectors: one module per source. They read and normalise, and never evaluate permissions."""
