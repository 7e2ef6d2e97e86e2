"""Request files within the Batch API's limits: a writer that starts a new file before one would pass
MAX_REQUESTS_PER_FILE requests or MAX_BYTES_PER_FILE bytes. Lines are streamed to disk (nothing is held in memory
but the current line), and each file is written under a temporary name and renamed when complete, so a crash never
leaves a half-written file that looks finished."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .lines import MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE

WRITE_BUFFER = 1 << 20  # request lines are a few KB each: written out a megabyte at a time, not one system call each


@dataclass
class WrittenFile:
    path: Path
    requests: int
    bytes: int
    custom_ids: list[str] = field(default_factory=list)


class SplitWriter:
    """`add(custom_id, line)` for each request; `close()` returns the files written. Names:
    `<prefix>-NNN.jsonl` in `folder`."""

    def __init__(
        self,
        folder: str | Path,
        prefix: str,
        *,
        max_requests: int = MAX_REQUESTS_PER_FILE,
        max_bytes: int = MAX_BYTES_PER_FILE,
        dry_run: bool = False,
    ) -> None:
        if max_requests < 1 or max_bytes < 1:
            raise ValueError("file limits must be positive")
        self.folder, self.prefix = Path(folder), prefix
        self.max_requests, self.max_bytes, self.dry_run = max_requests, max_bytes, dry_run
        self.files: list[WrittenFile] = []
        self._fh: IO[bytes] | None = None
        self._current: WrittenFile | None = None
        if not dry_run:
            self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, custom_id: str, line: str | bytes) -> None:
        """`line`: text, or its UTF-8 bytes."""
        blob = line if isinstance(line, bytes) else line.encode("utf-8")
        if len(blob) > self.max_bytes:
            raise ValueError(f"request {custom_id} alone is {len(blob)} bytes, over the {self.max_bytes}-byte limit")
        cur = self._current
        if cur is None or cur.requests >= self.max_requests or cur.bytes + len(blob) > self.max_bytes:
            self._finish()
            cur = self._start()
        if self._fh is not None:
            self._fh.write(blob)
        cur.requests += 1
        cur.bytes += len(blob)
        cur.custom_ids.append(custom_id)

    def _start(self) -> WrittenFile:
        path = self.folder / f"{self.prefix}-{len(self.files) + 1:03d}.jsonl"
        self._current = WrittenFile(path, 0, 0)
        if not self.dry_run:
            self._fh = open(str(path) + ".part", "wb", buffering=WRITE_BUFFER)  # noqa: SIM115 -- closed in _finish
        return self._current

    def _finish(self) -> None:
        if self._current is None:
            return
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            os.replace(str(self._current.path) + ".part", self._current.path)
        self.files.append(self._current)
        self._current = None

    def close(self) -> list[WrittenFile]:
        self._finish()
        return self.files

    def abort(self) -> None:
        """Drop the file being written (an error stopped the build)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            if self._current is not None:
                Path(str(self._current.path) + ".part").unlink(missing_ok=True)
        self._current = None
