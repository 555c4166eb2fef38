"""Start-up and the first page of the queue: `dnmail --help` and `dnmail queue list`.

(a) `dnmail --help` against the `--help` of a minimal Typer app (a callback and two
    commands, written to a temporary file): what dnmail's own start-up adds to Typer's
    (its command groups, their help texts, anything imported too early). Target <= 1.3.
(b) `dnmail queue list` (the first page, 100 rows, as a table) with --requests open
    requests in a SQLite database, against `python -c "import typer, rich,
    sqlalchemy.orm"`: the imports no listing can avoid, so the figure is what the
    query, the count and the table add to them. Target <= 1.3 (issue "One shape").

dnmail's modules are compiled to bytecode first, as `pip install` leaves them: with
PYTHONDONTWRITEBYTECODE set, a source checkout would otherwise compile every module on
every start (about a fifth of the command), which no installed copy does.

Each run is a fresh process started by a tiny wrapper interpreter that times it and
reads its peak RSS (RUSAGE_CHILDREN of a process with one child: the child's own peak,
not inherited from this script). Runs alternate (baseline, dnmail, baseline, …) after
one unmeasured warm-up of each; the median of --runs is reported (and the minimum).

    python bench/bench_cli.py [--runs 10] [--requests 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What an operator gets: the Vietnamese interface (the default), its catalog read.
os.environ["DNMAIL_LANG"] = "vi"
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

HELP_TARGET = 1.3
QUEUE_TARGET = 1.3
BASELINE_IMPORTS = "import typer, rich, sqlalchemy.orm"

MINIMAL_TYPER_APP = '''\
import typer

app = typer.Typer(help="A minimal Typer app.", no_args_is_help=True)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", help="Say more.")) -> None:
    """A minimal Typer app."""


@app.command()
def hello(name: str = typer.Argument(..., help="Who to greet.")) -> None:
    """Greet someone."""
    typer.echo(f"hello {name}")


@app.command()
def bye(name: str = typer.Argument(..., help="Who to see off.")) -> None:
    """See someone off."""
    typer.echo(f"bye {name}")


if __name__ == "__main__":
    app()
'''

# Times its command and reports the command's own peak RSS. -S keeps this wrapper
# small (no site-packages): a child's ru_maxrss starts at its parent's RSS.
_WRAPPER = """\
import os, resource, subprocess, sys, time
out = sys.argv[1]
f = open(os.devnull if out == "-" else out, "wb")
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=f)
wall = time.perf_counter() - t
f.close()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\\n@@bench {wall:.6f} {peak} {p.returncode}\\n")
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    returncode: int
    stderr: str = ""


def measure(cmd: list[str], *, env: dict | None = None, stdout: Path | None = None) -> Run:
    """Run `cmd` once in a fresh process: its wall time and its own peak RSS (MiB).

    stdout goes to `stdout` (or is discarded); stderr is kept (the last 4,000 chars).
    """
    p = subprocess.run(
        [sys.executable, "-S", "-c", _WRAPPER, str(stdout) if stdout else "-", *cmd],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    err, _, last = p.stderr.rstrip().rpartition("\n")
    if not last.startswith("@@bench "):
        raise RuntimeError(f"the timing wrapper failed for {cmd[:4]}: {p.stderr[-2000:]}")
    wall, peak_kib, rc = last.split()[1:]
    return Run(float(wall), int(peak_kib) / 1024, int(rc), err[-4000:])


def checked(run: Run, what: str) -> Run:
    if run.returncode != 0:
        raise SystemExit(f"{what} failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    return run


def alternate(cmds: dict[str, list[str]], runs: int, *, env: dict | None = None) -> dict:
    """Each command `runs` times, interleaved, after one unmeasured warm-up of each."""
    for label, cmd in cmds.items():
        checked(measure(cmd, env=env), label)
    got: dict[str, list[Run]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            got[label].append(checked(measure(cmd, env=env), label))
    return {label: stats(rs) for label, rs in got.items()}


def stats(runs: list[Run]) -> dict:
    secs = [r.seconds for r in runs]
    return {
        "median_s": round(statistics.median(secs), 4),
        "min_s": round(min(secs), 4),
        "all_s": [round(s, 4) for s in secs],
        "peak_mib": round(max(r.peak_mib for r in runs), 1),
    }


# --- (a) --help ------------------------------------------------------------------------


def bench_help(tmp: Path, runs: int) -> dict:
    mini = tmp / "minimal_typer_app.py"
    mini.write_text(MINIMAL_TYPER_APP, encoding="utf-8")
    got = alternate(
        {
            "baseline": [sys.executable, str(mini), "--help"],
            "dnmail": [sys.executable, "-m", "dnmail", "--help"],
        },
        runs,
    )
    return {
        "figure": "dnmail --help",
        "baseline_label": "minimal Typer app --help",
        "runs": runs,
        **got,
        "ratio": round(got["dnmail"]["median_s"] / got["baseline"]["median_s"], 3),
        "target": HELP_TARGET,
    }


# --- (b) queue list ----------------------------------------------------------------------


def build_queue_db(path: Path, requests: int, units: int = 50, seed: int = 2016) -> str:
    """Units, `requests` staff and one open create request each (bulk inserts)."""
    from sqlalchemy import insert

    from dnmail.db import migrate
    from dnmail.db.models import Request, Staff, Unit
    from dnmail.db.session import make_engine
    from dnmail.domain.text import name_key
    from support.names import generate_names

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    codes = [f"dv{i:02d}" for i in range(units)]
    names = generate_names(requests, seed=seed)
    with engine.begin() as conn:
        conn.execute(
            insert(Unit),
            [
                {"code": c, "name": f"Đơn vị {c}", "parent_code": None,
                 "account": f"{c}@danang.gov.vn",
                 "branch_dn": f"ou={c},ou=people,dc=danang,dc=gov,dc=vn", "created_at": t0}
                for c in codes
            ],
        )  # fmt: skip
        for start in range(0, requests, 10_000):
            chunk = range(start, min(requests, start + 10_000))
            staff = [
                {"hr_id": f"HS{i:07d}", "full_name": names[i], "name_key": name_key(names[i]),
                 "unit_code": codes[i % units], "department": "Văn phòng",
                 "position": "Chuyên viên",
                 "phone": f"09{i:08d}", "hr_status": "active", "status_changed_at": t0,
                 "created_at": t0, "updated_at": t0}
                for i in chunk
            ]  # fmt: skip
            conn.execute(insert(Staff), staff)
            conn.execute(
                insert(Request),
                [
                    {"kind": "create", "unit_code": s["unit_code"], "staff_hr_id": s["hr_id"],
                     "state": "pending", "attempts": 0,
                     "requested_by": f"{s['unit_code']}@danang.gov.vn",
                     "created_at": t0 + timedelta(seconds=i),
                     "updated_at": t0 + timedelta(seconds=i)}
                    for i, s in zip(chunk, staff, strict=True)
                ],
            )  # fmt: skip
    engine.dispose()
    return url


def bench_queue(tmp: Path, runs: int, requests: int) -> dict:
    t = time.perf_counter()
    url = build_queue_db(tmp / "queue.db", requests)
    built = time.perf_counter() - t
    config = tmp / "queue.toml"
    config.write_text(
        f'data_dir = "{tmp / "data"}"\n\n[database]\nurl = "{url}"\n\n'
        '[directory]\nurl = "ldap://127.0.0.1:9"\nbind_password_env = "DNMAIL_BENCH_NONE"\n',
        encoding="utf-8",
    )
    page = tmp / "page.txt"
    check = checked(
        measure([sys.executable, "-m", "dnmail", "--config", str(config), "queue", "list"],
                stdout=page),
        "dnmail queue list",
    )
    # A rich table on a terminal (rows start with "│"), plain text into a file (rows
    # start with the request number).
    shown = sum(
        1
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("│") or line[:1].isdigit()
    )
    said = (f"of {requests} request", f"/{requests} yêu cầu")  # en, vi
    if shown < 100 or not any(s in check.stderr for s in said):
        raise SystemExit(
            f"queue list did not show the first page of {requests}: {check.stderr[-500:]}")
    got = alternate(
        {
            "baseline": [sys.executable, "-c", BASELINE_IMPORTS],
            "dnmail": [sys.executable, "-m", "dnmail", "--config", str(config), "queue", "list"],
        },
        runs,
    )
    return {
        "figure": f"dnmail queue list (first page, {requests:,} open requests, SQLite)",
        "baseline_label": f'python -c "{BASELINE_IMPORTS}"',
        "requests": requests,
        "build_s": round(built, 1),
        "runs": runs,
        **got,
        "ratio": round(got["dnmail"]["median_s"] / got["baseline"]["median_s"], 3),
        "target": QUEUE_TARGET,
    }


def compile_dnmail() -> None:
    """Bytecode for dnmail's modules next to them (__pycache__, ignored by git)."""
    import compileall

    if not compileall.compile_dir(ROOT / "src" / "dnmail", quiet=1):
        raise SystemExit("compiling dnmail's modules failed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="measured runs of each command")
    ap.add_argument("--requests", type=int, default=100_000, help="open requests in the database")
    ap.add_argument("--only", choices=["help", "queue"], help="one of the two figures")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    result = {}
    compile_dnmail()
    with tempfile.TemporaryDirectory(prefix="dnmail-bench-cli-") as tmp:
        tmp = Path(tmp)
        if args.only in (None, "help"):
            result["help"] = bench_help(tmp, args.runs)
        if args.only in (None, "queue"):
            result["queue"] = bench_queue(tmp, args.runs, args.requests)
    if args.json:
        print(json.dumps(result))
        return 0
    for r in result.values():
        print(f"{r['figure']} (median of {r['runs']} runs, fresh process each):")
        print(f"  {r['baseline_label']:<58} {r['baseline']['median_s']:6.3f} s  "
              f"(min {r['baseline']['min_s']:.3f})  "
              f"peak {r['baseline']['peak_mib']:6.1f} MiB")  # fmt: skip
        print(f"  {'dnmail':<58} {r['dnmail']['median_s']:6.3f} s  "
              f"(min {r['dnmail']['min_s']:.3f})  "
              f"peak {r['dnmail']['peak_mib']:6.1f} MiB")  # fmt: skip
        print(f"  ratio {r['ratio']:.2f}  (target <= {r['target']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
