"""Runs `llama_cpp.server` and exits when the process that started it is gone (even if that process was killed
and could not run its atexit hook), so an embedded server never outlives enrich. Started by
agent/llm/embedded.py as a script: `python .../llama_server.py <llama_cpp.server args>` with ENRICH_PARENT_PID."""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


if __name__ == "__main__":
    parent = int(os.environ.get("ENRICH_PARENT_PID", os.getppid()))
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
