"""Helpers shared by the benchmarks: throw-away servers, a populated database, timing."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
# dnmail refuses a SQLite file that other users may read (config.check_database_file):
# every database, copy and roster a benchmark makes is private, as in production.
os.umask(0o077)


@dataclass
class Timed:
    seconds: float
    peak_mib: float
    returncode: int
    stdout: str = ""
    stderr: str = ""


def run_timed(cmd: list[str], *, env: dict | None = None, input: str | None = None) -> Timed:
    """Run a command, returning wall time and the child's peak RSS (MiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, input=input, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: measure in a fresh
    # process per figure when the peak matters (see peak_of).
    return Timed(dt, max(after, before) / 1024, p.returncode, p.stdout, p.stderr)


def peak_of(cmd: list[str], env: dict | None = None) -> Timed:
    """Run `cmd` under a tiny wrapper process so that its peak RSS is its own."""
    wrapper = (
        "import resource,subprocess,sys,time,json;"
        "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "d=time.perf_counter()-t;"
        "print(json.dumps([d,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,p.returncode,p.stdout[-4000:],p.stderr[-4000:]]))"
    )
    import json

    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True,
                         text=True)
    d, rss, rc, so, se = json.loads(out.stdout)
    return Timed(d, rss / 1024, rc, so, se)


@contextmanager
def slapd(workdir: Path):
    from dnmail.local.slapd import ThrowawaySlapd

    srv = ThrowawaySlapd(workdir)
    info = srv.start()
    try:
        yield info
    finally:
        srv.stop()


def write_config(path: Path, db_url: str, info, extra: str = "") -> Path:
    from conftest import write_config as wc

    return wc(path, db_url=db_url, ldap=info, extra=extra)


def dnmail_cmd(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dnmail", "--config", str(config), *args]


def env_with(**kw: str) -> dict:
    e = dict(os.environ)
    e.update(kw)
    return e
