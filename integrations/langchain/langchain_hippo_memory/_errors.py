"""Errors specific to the LangChain integration.

Everything else surfaces as the engine's own errors (``hippo_memory.HippoMemoryError``
and its subclasses) or, for namespaces handed to the store, as LangGraph's
``langgraph.store.base.InvalidNamespaceError``::

    hippo_memory.InvalidInputError (ValueError)
    └── InvalidValueError      a store value is not a JSON object
"""

from __future__ import annotations

from hippo_memory import InvalidInputError

__all__ = ["InvalidValueError"]


class InvalidValueError(InvalidInputError):
    """A value given to :class:`HippoStore` is not a JSON object.

    Values must be dicts with string keys whose leaves are ``str``, ``int``,
    ``float`` (finite), ``bool``, ``None``, lists or dicts of the same, so that
    they come back from the store exactly as they went in.
    """
