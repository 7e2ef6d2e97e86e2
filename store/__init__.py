"""The only package that touches SQLite. `Store` owns the invariants (never-override, append-only history, audit)."""

from .core import ImportResult, Store, value_hash
from .errors import StoreError
from .policy import WRITE_POLICY

__all__ = ["Store", "StoreError", "ImportResult", "WRITE_POLICY", "value_hash"]
