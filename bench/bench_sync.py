"""`dnmail sync` of a city-wide HR roster against `dnmail staff import` of the same file.

    python bench/bench_sync.py                      # 100,000 people, 1 % changed, xlsx, SQLite
    python bench/bench_sync.py --format csv --n 20000
    python bench/bench_sync.py --pg postgresql://postgres@127.0.0.1:5432/test

The database starts with N staff, a mailbox for 95 % of them (and the done create
request that made it). The roster is the same N people with `--changes` of them changed:
transfers, name/department/phone changes, leavers (Nghỉ hưu / Thôi việc / Chuyển công
tác), new people and people missing from the file. Each command then runs in its own
subprocess (`python -m dnmail`, the way cron runs it) on a fresh copy of that database:

    staff import ROSTER        the baseline: read the file, diff, upsert
    sync ROSTER                dry run: read, diff, decide
    sync ROSTER --apply        read, diff, decide, upsert, queue the requests

and the script prints wall times, the ratio of each sync to the import (target ≤ 1.5)
and each subprocess's peak memory (its VmHWM, see RUNNER). sync only queues requests;
the directory is contacted by `--apply` alone, to mark the entries of people who moved
(rights follow HR: their old unit's officer may no longer reset them), so a throw-away
slapd holding every mailbox entry (loaded offline) is started for the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.umask(0o077)  # dnmail refuses a SQLite file other users may read
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

HEADERS = [
    "Mã hồ sơ",
    "Họ và tên",
    "Mã đơn vị",
    "Phòng ban",
    "Chức vụ",
    "Số điện thoại",
    "Trạng thái",
]
UNITS = [f"u{i:02d}" for i in range(40)]
DEPARTMENTS = [
    "Văn phòng",
    "Phòng Tổ chức",
    "Phòng Kế hoạch - Tài chính",
    "Thanh tra",
    "Phòng Pháp chế",
]
POSITIONS = ["Chuyên viên", "Trưởng phòng", "Phó Trưởng phòng", "Chánh Văn phòng", "Kế toán"]
LEAVING = ["Nghỉ hưu", "Thôi việc", "Chuyển công tác"]
TARGET = 1.5

# `dnmail` as cron runs it, reporting its own peak memory at exit. Not wait4's ru_maxrss:
# on Linux a child's ru_maxrss starts at the parent's high-water mark (fork copies the
# page tables, exec keeps the maximum), and this parent holds 100,000 generated rows.
# ru_maxrss of the child's own address space is VmHWM.
RUNNER = """
import atexit, os, resource, sys

def _peak():
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/status") as f:
        kb = next((int(l.split()[1]) for l in f if l.startswith("VmHWM:")), kb)
    with open(os.environ["BENCH_PEAK_FILE"], "w") as f:
        f.write(str(kb))

atexit.register(_peak)
sys.argv[0] = "dnmail"
from dnmail.cli.main import run
run()
"""


def names(n: int, seed: int) -> list[str]:
    try:
        from support.names import generate_names

        return generate_names(n, seed=seed)
    except ImportError:  # tests/support not there: a plain generator
        rng = random.Random(seed)
        fam = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi"]
        mid = ["Văn", "Thị", "Đức", "Quang", "Minh", "Thị Mỹ", "Hữu", "Ngọc"]
        giv = ["An", "Bình", "Châu", "Dũng", "Hạnh", "Hà", "Khoa", "Linh", "Thanh", "Tú"]
        return [f"{rng.choice(fam)} {rng.choice(mid)} {rng.choice(giv)}" for _ in range(n)]


def people(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        [
            f"HS{i:07d}",
            name,
            rng.choice(UNITS),
            rng.choice(DEPARTMENTS),
            rng.choice(POSITIONS),
            f"09{rng.randrange(10**8):08d}",
            "Đang công tác",
        ]
        for i, name in enumerate(names(n, seed))
    ]


def changed_roster(base: list[list[str]], share: float, seed: int) -> tuple[list[list[str]], dict]:
    """The base people with `share` of them changed, in five kinds of change."""
    rng = random.Random(seed + 1)
    rows = [list(r) for r in base]
    k = max(5, int(len(rows) * share))
    picked = rng.sample(range(len(rows)), k)
    kinds = {"transfer": 0, "field": 0, "leaving": 0, "new": 0, "missing": 0}
    missing = set()
    for j, i in enumerate(picked):
        kind = (
            "transfer",
            "transfer",
            "field",
            "field",
            "field",
            "leaving",
            "leaving",
            "new",
            "missing",
            "missing",
        )[j % 10]
        kinds[kind] += 1
        r = rows[i]
        if kind == "transfer":
            r[2] = rng.choice([u for u in UNITS if u != r[2]])
        elif kind == "field":
            r[5 if j % 2 else 3] = (
                f"09{rng.randrange(10**8):08d}" if j % 2 else rng.choice(DEPARTMENTS) + " 2"
            )
        elif kind == "leaving":
            r[6] = rng.choice(LEAVING)
        elif kind == "missing":
            missing.add(i)
    rows = [r for i, r in enumerate(rows) if i not in missing]
    for j in range(kinds["new"]):
        rows.append(
            [
                f"HN{j:07d}",
                "Nguyễn Văn Mới",
                rng.choice(UNITS),
                "Văn phòng",
                "Chuyên viên",
                "",
                "Đang công tác",
            ]
        )
    return rows, kinds


def write_roster(path: Path, rows: list[list[str]], fmt: str) -> Path:
    if fmt == "csv":
        import csv

        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(HEADERS)
            w.writerows(rows)
        return path
    try:  # like Excel writes it (shared strings, a <dimension>), slower to read than write-only
        from support.workbooks import write_xlsx

        return write_xlsx(path, [HEADERS, *rows])
    except ImportError:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(HEADERS)
        for r in rows:
            ws.append(r)
        wb.save(path)
        return path


def seed_database(url: str, base: list[list[str]], mailbox_share: float = 0.95) -> None:
    from sqlalchemy import insert, text
    from sqlalchemy.orm import Session

    from dnmail.db import migrate
    from dnmail.db.models import Mailbox, Request, Staff, Unit
    from dnmail.db.session import make_engine
    from dnmail.domain.text import name_key

    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    t1 = t0 + timedelta(days=1)
    t2 = t0 + timedelta(days=2)
    with Session(engine) as s, s.begin():
        s.execute(
            insert(Unit),
            [
                {"code": u, "name": u.upper(), "account": f"{u}@danang.gov.vn",
                 "branch_dn": f"ou={u},ou=people,dc=danang,dc=gov,dc=vn", "created_at": t0}
                for u in UNITS
            ],
        )  # fmt: skip
        staff = [
            {"hr_id": r[0], "full_name": r[1], "name_key": name_key(r[1]), "unit_code": r[2],
             "department": r[3], "position": r[4], "phone": r[5], "hr_status": "active",
             "status_changed_at": t0, "created_at": t0, "updated_at": t0}
            for r in base
        ]  # fmt: skip
        for i in range(0, len(staff), 5000):
            s.execute(insert(Staff), staff[i : i + 5000])
        with_box = [r for i, r in enumerate(base) if (i % 100) < mailbox_share * 100]
        boxes = [
            {"id": i + 1, "address": f"m{i:07d}", "base": f"m{i:07d}", "staff_hr_id": r[0],
             "unit_code": r[2],
             "dn": f"uid=m{i:07d},ou={r[2]},ou=people,dc=danang,dc=gov,dc=vn", "state": "active",
             "created_at": t2, "updated_at": t2}
            for i, r in enumerate(with_box)
        ]  # fmt: skip
        for i in range(0, len(boxes), 5000):
            s.execute(insert(Mailbox), boxes[i : i + 5000])
        reqs = [
            {"id": i + 1, "kind": "create", "unit_code": r[2], "staff_hr_id": r[0], "state": "done",
             "attempts": 1, "requested_by": f"{r[2]}@danang.gov.vn", "handled_by": "iid-admin",
             "mailbox_id": i + 1, "created_at": t1, "updated_at": t2, "handled_at": t2}
            for i, r in enumerate(with_box)
        ]  # fmt: skip
        for i in range(0, len(reqs), 5000):
            s.execute(insert(Request), reqs[i : i + 5000])
        if engine.dialect.name == "postgresql":  # ids were given: move the sequences on
            for table in ("mailboxes", "requests"):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    engine.dispose()


class Databases:
    """A seeded database and fresh copies of it, one per measured run."""

    def __init__(self, workdir: Path, pg: str | None):
        self.workdir = workdir
        self.pg = pg
        self.made: list[str] = []
        if pg:
            self.template = f"dnmail_bench_{uuid.uuid4().hex[:8]}"
            self._pg(f'CREATE DATABASE "{self.template}"')
            self.base_url = self._url(self.template)
        else:
            self.base_url = f"sqlite:///{workdir / 'base.db'}"

    def _url(self, name: str) -> str:
        return self.pg.rsplit("/", 1)[0] + "/" + name

    def _pg(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.pg, autocommit=True) as c:
            c.execute(sql)

    def copy(self, label: str) -> str:
        if self.pg:
            name = f"dnmail_bench_{uuid.uuid4().hex[:8]}"
            self._pg(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            self.made.append(name)
            return self._url(name)
        target = self.workdir / f"{label}.db"
        shutil.copyfile(self.workdir / "base.db", target)
        return f"sqlite:///{target}"

    def forget_last(self) -> None:
        """Drop the copy just used (100,000-row databases add up)."""
        if self.pg:
            self._pg(f'DROP DATABASE IF EXISTS "{self.made.pop()}" WITH (FORCE)')
        else:
            for f in self.workdir.glob("*-*.db*"):
                f.unlink()

    def drop(self) -> None:
        if self.pg:
            for name in [*self.made, self.template]:
                self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_directory(workdir: Path, base: list[list[str]], mailbox_share: float = 0.95):
    """A throw-away slapd holding the mailbox entries of `seed_database` (slapadd while
    stopped, then started). Returns (server, info)."""
    from dnmail.local.openldap import add_entries_offline
    from dnmail.local.render import ssha
    from dnmail.local.slapd import ThrowawaySlapd

    server = ThrowawaySlapd(workdir / "slapd")
    suffix = server.start().suffix
    server.stop()
    ldif = workdir / "preload.ldif"
    salt = os.urandom(8)  # one salt for speed: these passwords are never used
    with open(ldif, "w", encoding="utf-8") as f:
        for u in UNITS:
            f.write(f"dn: ou={u},ou=people,{suffix}\nobjectClass: top\n"
                    f"objectClass: organizationalUnit\nou: {u}\n\n")  # fmt: skip
        with_box = [r for i, r in enumerate(base) if (i % 100) < mailbox_share * 100]
        for i, r in enumerate(with_box):
            a, words = f"m{i:07d}", r[1].split()
            f.write(
                f"dn: uid={a},ou={r[2]},ou=people,{suffix}\nobjectClass: top\n"
                "objectClass: person\nobjectClass: organizationalPerson\n"
                f"objectClass: inetOrgPerson\nuid: {a}\nmail: {a}@danang.gov.vn\n"
                f"cn: {r[1]}\nsn: {words[0]}\ngivenName: {words[-1]}\n"
                f"employeeNumber: {r[0]}\nuserPassword: {ssha(r[0], salt=salt)}\n\n"
            )
    add_entries_offline(workdir / "slapd", ldif)
    return server, server.start()


def run(label: str, db_url: str, workdir: Path, args: list[str], ldap) -> dict:
    cfg = workdir / f"{label}.toml"
    secret = workdir / "bind.secret"
    secret.write_text(ldap.service_password, encoding="utf-8")
    cfg.write_text(
        f'data_dir = "{workdir / "data"}"\n[database]\nurl = "{db_url}"\n'
        f'[directory]\nurl = "{ldap.url}"\nbase_dn = "{ldap.suffix}"\n'
        f'bind_dn = "{ldap.service_dn}"\nbind_password_file = "{secret}"\n'
        "[safety]\nmax_lock_count = 100000\n",
        encoding="utf-8",
    )
    out = workdir / f"{label}.json"
    peak = workdir / f"{label}.peak"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "BENCH_PEAK_FILE": str(peak)}
    t0 = time.perf_counter()
    with open(out, "w") as fh:
        p = subprocess.Popen(
            [sys.executable, "-c", RUNNER, "--config", str(cfg), "--format", "json", "--quiet",
             *args],
            stdout=fh, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        _, status, _usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if code != 0:
        raise SystemExit(f"{label}: exit {code}\n{err[-2000:]}")
    doc = json.loads(out.read_text(encoding="utf-8"))
    return {"label": label, "seconds": seconds, "peak_mb": int(peak.read_text()) / 1024, "doc": doc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="people in the roster and the database")
    ap.add_argument("--changes", type=float, default=0.01, help="share of people changed")
    ap.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    ap.add_argument("--pg", metavar="URL", help="a PostgreSQL admin URL (default: SQLite files)")
    ap.add_argument("--seed", type=int, default=271)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command (median shown)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", action="store_true",
                    help="one JSON object on stdout (progress on stderr)")
    a = ap.parse_args()
    info = sys.stderr if a.json else sys.stdout

    workdir = Path(tempfile.mkdtemp(prefix="dnmail-bench-sync-"))
    dbs = Databases(workdir, a.pg)
    server = None
    try:
        t = time.perf_counter()
        base = people(a.n, a.seed)
        rows, kinds = changed_roster(base, a.changes, a.seed)
        roster = write_roster(workdir / f"roster.{a.format}", rows, a.format)
        print(f"roster: {len(rows):,} rows, {roster.stat().st_size / 1e6:.1f} MB {a.format}; "
              f"changes {kinds} ({time.perf_counter() - t:.1f} s)", file=info)  # fmt: skip
        t = time.perf_counter()
        seed_database(dbs.base_url, base)
        print(f"database: {a.n:,} staff, 95 % with a mailbox "
              f"({'PostgreSQL' if a.pg else 'SQLite'}, "
              f"{time.perf_counter() - t:.1f} s)", file=info)  # fmt: skip
        t = time.perf_counter()
        server, ldap = start_directory(workdir, base)
        print("directory: the same mailboxes in a throw-away slapd "
              f"({time.perf_counter() - t:.1f} s)",
              file=info)  # fmt: skip

        commands = {
            "import": ["staff", "import", str(roster)],
            "sync-dry": ["sync", str(roster)],
            "sync-apply": ["sync", str(roster), "--apply"],
        }
        runs: dict[str, list[dict]] = {k: [] for k in commands}
        for i in range(a.repeat):  # interleaved, so that a slow moment hits all three
            for label, argv in commands.items():
                runs[label].append(run(label, dbs.copy(f"{label}-{i}"), workdir, argv, ldap))
                dbs.forget_last()
        results = [
            {
                **sorted(rs, key=lambda r: r["seconds"])[len(rs) // 2],
                "all": [r["seconds"] for r in rs],
            }
            for rs in runs.values()
        ]  # the median run of each
        base_s = results[0]["seconds"]
        if a.json:
            print(json.dumps({
                "n": a.n, "changes": a.changes, "format": a.format,
                "db": "postgresql" if a.pg else "sqlite",
                "repeat": a.repeat, "kinds": kinds, "target": TARGET,
                **{r["label"]: {"median_s": round(r["seconds"], 4),
                                "all_s": [round(x, 4) for x in r["all"]],
                                "peak_mib": round(max(x["peak_mb"] for x in runs[r["label"]]), 1)}
                   for r in results},
                "ratio_dry": round(results[1]["seconds"] / base_s, 3),
                "ratio_apply": round(results[2]["seconds"] / base_s, 3),
                "queued": results[2]["doc"]["counts"],
            }))  # fmt: skip
            return
        print(
            f"\n{'command (median of ' + str(a.repeat) + ')':<28}"
            f"{'seconds':>9}{'ratio':>8}{'peak MB':>10}  all runs (s)"
        )
        names_ = {
            "import": "staff import",
            "sync-dry": "sync (dry run)",
            "sync-apply": "sync --apply",
        }
        for r in results:
            print(
                f"{names_[r['label']]:<28}{r['seconds']:>9.2f}"
                f"{r['seconds'] / base_s:>8.2f}{r['peak_mb']:>10.1f}  "
                + " ".join(f"{x:.2f}" for x in r["all"])
            )
        counts = results[2]["doc"]["counts"]
        print(f"\nsync --apply queued: {counts}")
        worst = max(r["seconds"] for r in results[1:]) / base_s
        verdict = "OK" if worst <= TARGET else "OVER TARGET"
        print(f"worst ratio sync/import: {worst:.2f} (target ≤ {TARGET}): {verdict}")
    finally:
        if server is not None:
            server.stop()
        dbs.drop()
        if a.keep:
            print(f"kept {workdir}", file=info)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
