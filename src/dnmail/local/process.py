"""Processes and files of a throw-away server: free ports, pid files, private files."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only the owner can read (mode 0600, also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def proc_alive(pid: int, must_contain: str | None = None) -> bool:
    """Is `pid` a live (not zombie) process whose command line contains `must_contain`?

    The command-line check guards against a recycled PID in a stale pid file.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return must_contain is None or must_contain in cmdline


def running_pid(workdir: Path) -> int | None:
    """PID of the slapd serving `workdir` (its ``slapd.pid``), or None when none runs."""
    pid_file = Path(workdir) / "slapd.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    conf_dir = str((Path(workdir) / "slapd.d").resolve())
    return pid if proc_alive(pid, conf_dir) else None


def terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, wait for the process to go, SIGKILL if it does not."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc_alive(pid):
            return
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
