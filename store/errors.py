"""The store's one error type (its own module, so every store module can raise it without importing core)."""


class StoreError(Exception):
    """A request the store refuses (unknown id, wrong state, ...). One line, for the user."""
