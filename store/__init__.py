"""The only package that touches SQLite. `Store` owns the invariants (never-override, append-only history, audit)."""

from .core import ImportResult, Store, StoreError, value_hash
from .policy import WRITE_POLICY

__all__ = ["Store", "StoreError", "ImportResult", "WRITE_POLICY", "value_hash"]
