"""Read untrusted files with bounded memory and time (issue 12 §3).

A 1 GiB deflate bomb inside a signed PDF, or a 195 MiB shared-strings table in an
.xlsx, must not take the machine down: `run_bounded` runs the parse in a child process
whose address space and processor time are capped (RLIMIT_AS, RLIMIT_CPU), under a
wall-clock deadline, and turns a limit hit into an UnsafeFile naming the file and the
limit: "needs more than 300 MiB of memory to read", "took more than 10 s …". Never a
hang, never a MemoryError traceback, never a zombie: the child is always reaped.

The contract, so that the child could as well be started by a fork server: `fn` is a
module-level function, its arguments and its result are picklable, and it reports bad
input with the dnmail error hierarchy. Errors of that hierarchy come back intact (type,
message, hint, problems, file…), and so does an OSError (a file that cannot be opened);
any other exception is a bug and comes back as ReaderCrashed with the child's traceback.

How: `os.fork()` (Linux). Forking a CLI-sized parent costs a few milliseconds (see
`measure_round_trip`), far less than starting an interpreter. The child:

* inherits the parent's memory, including open database connections and sockets: it
  must never use them, and does not: it runs `fn`, writes one pickled answer to a pipe
  and leaves with `os._exit`, running no atexit handler, finaliser or buffered flush
  (so a PostgreSQL connection is not closed or "terminated" behind the parent's back,
  and an SQLite handle is never touched). `gc.freeze()` around the fork keeps the
  collector from finalising inherited objects in the child;
* inherits only the forking thread: call this from the main thread of a CLI, not while
  other threads may hold locks the parse needs (logging, imports);
* counts memory as address space: the cap is what the process already maps at the
  fork plus `memory_mb`, so `memory_mb` is what reading the file may add;
* gets RLIMIT_CORE 0: a reader killed by a limit leaves no core dump of the bomb.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import pickle
import resource
import selectors
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dnmail.errors import DnmailError, InvalidFile, Problem, UnsafeFile
from dnmail.i18n import _, language, set_language

T = TypeVar("T")

DEFAULT_MEMORY_MB = 300
DEFAULT_CPU_SECONDS = 10
#: Above the CPU limit: a parse waiting on the disk or on a busy machine gets this much more.
DEFAULT_WALL_MARGIN = 5.0

_EXIT_MEMORY = 86  # the child ran out of its memory budget
_EXIT_NO_ANSWER = 87  # the child could not even write its answer
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What reading one untrusted file may cost (config `[limits]`)."""

    memory_mb: int = DEFAULT_MEMORY_MB  # address space the reader may add
    cpu_seconds: int = DEFAULT_CPU_SECONDS  # processor time
    wall_seconds: float | None = None  # elapsed time; None: cpu_seconds + DEFAULT_WALL_MARGIN

    @classmethod
    def of(cls, settings: Any) -> Limits:
        """The limits of config `[limits]` (a LimitSettings)."""
        return cls(memory_mb=settings.memory_mb, cpu_seconds=settings.cpu_seconds,
                   wall_seconds=settings.wall_seconds)

    @property
    def deadline(self) -> float:
        if self.wall_seconds is not None:
            return float(self.wall_seconds)
        return self.cpu_seconds + DEFAULT_WALL_MARGIN


class ReaderCrashed(InvalidFile):
    """The reader failed in a way no dnmail error describes: a damaged file that a library
    chokes on, or a bug. Either way the file is refused (exit 2, nothing stored) with its
    name; the child's traceback is kept for `--verbose` and bug reports."""

    def __init__(self, file_name: str, what: str, child_traceback: str = ""):
        if len(what) > 300:
            what = what[:300] + "…"
        super().__init__(file_name, [Problem(
            _("the reader failed: {what}; the file is damaged or not what its name says "
              "(nothing was imported; if it opens correctly elsewhere, report it with the output "
              "of --verbose)").format(what=what), file=file_name)])  # fmt: skip
        self.file_name = file_name
        self.child_traceback = child_traceback


def run_bounded(fn: Callable[..., T], args: tuple = (), kwargs: dict[str, Any] | None = None,
                *, file_name: str, limits: Limits | None = None) -> T:
    """`fn(*args, **kwargs)` in a child process within `limits`; its result or its error.

    A limit hit raises UnsafeFile naming `file_name` and the limit; an error of the dnmail
    hierarchy raised by `fn` is raised here as it was; anything else raises ReaderCrashed.
    """
    limits = limits or Limits()
    kwargs = kwargs or {}
    lang = language()  # the child speaks it: its messages come back as they are
    read_fd, write_fd = os.pipe()
    gc.freeze()
    try:
        pid = os.fork()
    except BaseException:
        gc.unfreeze()
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(write_fd, fn, args, kwargs, limits, lang)
    gc.unfreeze()
    os.close(write_fd)
    started = time.monotonic()
    answer = b""
    status = None
    usage = None
    try:
        answer, timed_out = _read_answer(read_fd, started + limits.deadline)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _pid, status, usage = os.wait4(pid, 0)
        pid = 0
        if timed_out:
            raise _limit_error(file_name, _("took more than {seconds} to read "
                                            "(limits.wall_seconds)").format(
                seconds=_seconds(limits.deadline)))
    finally:
        os.close(read_fd)
        if pid:  # interrupted (KeyboardInterrupt…): no child is left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - already gone
                pass
            os.waitpid(pid, 0)
    return _outcome(file_name, limits, answer, status, usage)


def _read_answer(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything the child writes until it closes the pipe, or the deadline passes."""
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return b"", True
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)


def _outcome(file_name: str, limits: Limits, answer: bytes, status: int | None,
             usage: Any) -> Any:
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        cpu = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds):
            raise _limit_error(file_name, _("took more than {seconds} of processor time to read "
                                            "(limits.cpu_seconds)").format(
                seconds=_seconds(limits.cpu_seconds)))
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        raise _limit_error(file_name, _("the reader was stopped by signal {signal} (perhaps out "
                                        "of memory); the file was not read").format(signal=name))
    code = os.WEXITSTATUS(status) if status is not None else None
    if code == _EXIT_MEMORY:
        raise _limit_error(file_name, _("needs more than {mib} MiB of memory to read "
                                        "(limits.memory_mb)").format(mib=limits.memory_mb))
    if code != 0 or not answer:
        raise ReaderCrashed(
            file_name, _("the reader ended with exit code {code} and no answer").format(code=code)
        )
    kind, payload = pickle.loads(answer)  # noqa: S301 - written by our own child
    if kind == "ok":
        return payload
    if kind == "error":
        raise _unpack_error(payload)
    if kind == "oserror":
        raise payload
    raise ReaderCrashed(file_name, payload[0], payload[1])


def _limit_error(file_name: str, why: str) -> UnsafeFile:
    return UnsafeFile(file_name, [Problem(why, file=file_name)])


def _seconds(value: float) -> str:
    return f"{value:g} s"


# --- in the child ----------------------------------------------------------------------


def _child(fd: int, fn: Callable, args: tuple, kwargs: dict, limits: Limits,
           lang: str) -> None:
    code = _EXIT_NO_ANSWER
    try:
        # The parent's language (a forked child has it already; a child started another
        # way would not): the errors it sends back are shown as they are.
        set_language(lang)
        faulthandler.disable()  # a crash on hostile input is reported by the parent, no dump
        ceiling = _address_space() + limits.memory_mb * _MIB
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        cpu = max(int(limits.cpu_seconds), 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        answer = _answer(fn, args, kwargs, ceiling)
        if answer is None:
            code = _EXIT_MEMORY
        else:
            _write_all(fd, answer)
            code = 0
    except MemoryError:
        code = _EXIT_MEMORY
    except BaseException:  # noqa: S110 - nothing may escape the child; the exit code says it
        pass
    finally:
        os._exit(code)


def _answer(fn: Callable, args: tuple, kwargs: dict, ceiling: int) -> bytes | None:
    """The pickled answer, or None when the parse ran out of memory."""
    try:
        result = fn(*args, **kwargs)
        return pickle.dumps(("ok", result), protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return None
    except DnmailError as exc:
        if _out_of_memory(exc, ceiling):  # a reader that wrapped a MemoryError in its own error
            return None
        return pickle.dumps(("error", _pack_error(exc)), protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:  # the file cannot be read: the caller says so, as without a child
        return pickle.dumps(("oserror", exc), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # a bug, or a library's error no reader translated
        if _out_of_memory(exc, ceiling):
            return None
        what = f"{type(exc).__name__}: {exc}"
        return pickle.dumps(("crash", (what, traceback.format_exc())),
                            protocol=pickle.HIGHEST_PROTOCOL)


def _out_of_memory(exc: BaseException, ceiling: int) -> bool:
    """Was the error caused by the memory limit (a MemoryError in its chain, or the peak
    address space at the ceiling: C libraries such as zlib report it their own way)?"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return _status_kib("VmPeak") * 1024 >= ceiling - 16 * _MIB


def _address_space() -> int:
    """Bytes of address space the process maps now (0 where /proc is missing)."""
    return _status_kib("VmSize") * 1024


def _status_kib(field: str) -> int:
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(field.encode() + b":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- dnmail errors as data ---------------------------------------------------------------


def _pack_error(exc: DnmailError) -> tuple[str, str, tuple, dict]:
    """An error of the hierarchy as plain data: class, args and attributes."""
    cls = type(exc)
    return (cls.__module__, cls.__qualname__, exc.args, dict(exc.__dict__))


def _unpack_error(data: tuple[str, str, tuple, dict]) -> DnmailError:
    """The error again, without running its __init__ (whose arguments are not its args)."""
    import importlib

    module, qualname, args, attrs = data
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, DnmailError)):
        raise TypeError(f"{module}.{qualname} is not a dnmail error")
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(attrs)
    return exc


# --- cost ------------------------------------------------------------------------------


def _nothing() -> None:
    return None


def measure_round_trip(times: int = 20) -> float:
    """Milliseconds of one trivial call through the sandbox (median of `times`)."""
    samples = []
    for _time in range(times):
        start = time.perf_counter()
        run_bounded(_nothing, file_name="-")
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[len(samples) // 2]
