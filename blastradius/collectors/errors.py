"""Errors shared by the collectors."""


class CollectionError(Exception):
    """Input that cannot be collected: the message names the file or endpoint, the object and the fault."""
