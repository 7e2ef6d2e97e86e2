"""The store's error types (their own module, so every store module can raise them without importing core)."""

import sqlite3


class StoreError(Exception):
    """A request the store refuses (unknown id, wrong state, ...). One line, for the user."""


# The database itself is unusable (locked past the busy timeout, disk full, read-only): every caller would meet it.
# Named here so code outside store/ can catch it without importing sqlite3.
DatabaseUnusable = sqlite3.OperationalError
