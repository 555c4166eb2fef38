"""Every performance figure of dnmail in one command, each against a baseline measured
in the same run (issue 7). Started by `bench/run`; see docs/performance.md.

    bench/run [--quick] [--json FILE] [--only provision,growth,cli,roster,slips,export,sync,adopt]

It makes its own data (a city of up to 100,000 people over 50 units with realistic
Vietnamese names, HR rosters, signed PDF slips), starts its own throw-away slapd servers
and databases, and prints one table: figure | dnmail | baseline | ratio | target |
peak MiB | met?. A missed target is reported, never an error: the exit status is 0
unless a benchmark itself crashed (then 1, with the crash shown).

Each figure comes from a benchmark script of bench/ run as a child process with
--json (bench_provision, bench_cli, bench_slips, bench_export, bench_sync), or from a
child of this file (`--child …`: the growth and staff-import figures). Every measured
command is a fresh process; its peak memory is its own (see bench_cli.measure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The benchmarks read dnmail's English summaries; bench_cli.py measures the default
# (Vietnamese) interface itself (docs/translations.md).
os.environ.setdefault("DNMAIL_LANG", "en")

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "src"), str(ROOT / "tests")]
os.umask(0o077)  # dnmail refuses a SQLite file that other users may read

MEMORY_TARGET_MIB = 250.0

# Scale of each figure. Quick: every figure, scaled down, for CI (< 3 min on 2 cores).
MODES: dict[str, dict] = {
    "quick": {
        "provision_n": 2_000, "provision_repeat": 3,
        "growth_early": 1_000, "growth_late": 19_000, "growth_batch": 1_000,
        "help_runs": 10, "queue_requests": 10_000, "cli_runs": 10,
        "roster_rows": 10_000, "roster_repeat": 3,
        "pdf_files": 20, "slips_repeat": 3,
        "export_rows": 10_000, "export_repeat": 3,
        "sync_n": 10_000, "sync_repeat": 3,
        "adopt_n": 5_000, "adopt_repeat": 1,
    },
    "full": {
        "provision_n": 10_000, "provision_repeat": 3,
        "growth_early": 1_000, "growth_late": 99_000, "growth_batch": 1_000,
        "help_runs": 10, "queue_requests": 100_000, "cli_runs": 10,
        "roster_rows": 50_000, "roster_repeat": 3,
        "pdf_files": 200, "slips_repeat": 3,
        "export_rows": 100_000, "export_repeat": 3,
        "sync_n": 100_000, "sync_repeat": 3,
        "adopt_n": 100_000, "adopt_repeat": 3,
    },
}  # fmt: skip

# The configuration provision runs with: the best found on a 2-core machine (SQLite,
# one process, chunks of 1,000; --format json as cron and scripts take it). See
# docs/performance.md for the others tried (workers 2, PostgreSQL, chunks of 100/500).
PROVISION = {"workers": 1, "chunk_size": 1000, "db": "sqlite", "output": "json"}
# Growth: chunks of 100 so that each batch of 1,000 gives ten timed chunks.
GROWTH_CHUNK = 100

FIGURES = ("provision", "growth", "cli", "roster", "slips", "export", "sync", "adopt")

# --- the city ---------------------------------------------------------------------------

# 50 units of the city: departments, districts and wards (code, name).
UNITS: tuple[tuple[str, str], ...] = (
    ("snv", "Sở Nội vụ"), ("sgtvt", "Sở Giao thông Vận tải"),
    ("stttt", "Sở Thông tin và Truyền thông"), ("syt", "Sở Y tế"),
    ("sgddt", "Sở Giáo dục và Đào tạo"), ("stc", "Sở Tài chính"),
    ("skhdt", "Sở Kế hoạch và Đầu tư"), ("sxd", "Sở Xây dựng"),
    ("stnmt", "Sở Tài nguyên và Môi trường"), ("sct", "Sở Công Thương"),
    ("snnptnt", "Sở Nông nghiệp và Phát triển nông thôn"),
    ("sldtbxh", "Sở Lao động - Thương binh và Xã hội"), ("svhtt", "Sở Văn hóa và Thể thao"),
    ("sdl", "Sở Du lịch"), ("stp", "Sở Tư pháp"), ("skhcn", "Sở Khoa học và Công nghệ"),
    ("sngv", "Sở Ngoại vụ"), ("ttra", "Thanh tra thành phố"),
    ("vpubnd", "Văn phòng UBND thành phố"), ("bqlkcn", "Ban Quản lý các KCN và Khu công nghệ cao"),
    ("bdt", "Ban Dân tộc"), ("qhc", "UBND quận Hải Châu"), ("qtk", "UBND quận Thanh Khê"),
    ("qst", "UBND quận Sơn Trà"), ("qnhs", "UBND quận Ngũ Hành Sơn"),
    ("qlc", "UBND quận Liên Chiểu"), ("qcl", "UBND quận Cẩm Lệ"), ("hhv", "UBND huyện Hòa Vang"),
    ("pthachthang", "UBND phường Thạch Thang"), ("phaichau1", "UBND phường Hải Châu I"),
    ("phaichau2", "UBND phường Hải Châu II"), ("pphuocninh", "UBND phường Phước Ninh"),
    ("phoathuantay", "UBND phường Hòa Thuận Tây"), ("pbinhhien", "UBND phường Bình Hiên"),
    ("pbinhthuan", "UBND phường Bình Thuận"), ("phoacuongbac", "UBND phường Hòa Cường Bắc"),
    ("phoacuongnam", "UBND phường Hòa Cường Nam"), ("pthanhbinh", "UBND phường Thanh Bình"),
    ("pthuanphuoc", "UBND phường Thuận Phước"), ("ptamthuan", "UBND phường Tam Thuận"),
    ("ptanchinh", "UBND phường Tân Chính"), ("pchinhgian", "UBND phường Chính Gián"),
    ("pankhe", "UBND phường An Khê"), ("phoakhe", "UBND phường Hòa Khê"),
    ("pthacgian", "UBND phường Thạc Gián"), ("pvinhtrung", "UBND phường Vĩnh Trung"),
    ("pxuanha", "UBND phường Xuân Hà"), ("panhaibac", "UBND phường An Hải Bắc"),
    ("pmanthai", "UBND phường Mân Thái"), ("pthoquang", "UBND phường Thọ Quang"),
)  # fmt: skip
DEPARTMENTS = ("Văn phòng", "Phòng Tổ chức cán bộ", "Phòng Kế hoạch - Tài chính", "Thanh tra",
               "Phòng Pháp chế", "Phòng Quản lý đô thị", "Bộ phận một cửa")  # fmt: skip
POSITIONS = ("Chuyên viên", "Chuyên viên", "Chuyên viên", "Trưởng phòng", "Phó Trưởng phòng",
             "Chánh Văn phòng", "Kế toán", "Văn thư")  # fmt: skip
ROSTER_HEADERS = ("Mã hồ sơ", "Họ và tên", "Mã đơn vị", "Phòng ban", "Chức vụ",
                  "Số điện thoại", "Trạng thái")  # fmt: skip
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    hr_id: str
    full_name: str
    unit: str
    department: str
    position: str
    phone: str


def city(n: int, seed: int = 271) -> list[Person]:
    """The first `n` people of the city: the same people for the same seed, whatever n.

    Larger units (departments, central districts) get more people than wards.
    """
    import random

    from support.names import generate_names

    rng = random.Random(seed)
    weights = [6 if c.startswith("s") else 5 if c[0] in "qh" else 1 for c, _ in UNITS]
    codes = [c for c, _ in UNITS]
    names = generate_names(n, seed=seed)
    return [
        Person(f"HS{i + 1:07d}", names[i], rng.choices(codes, weights)[0], rng.choice(DEPARTMENTS),
               rng.choice(POSITIONS), f"09{rng.randrange(10**8):08d}")
        for i in range(n)
    ]  # fmt: skip


def insert_units(conn) -> None:
    from sqlalchemy import insert

    from dnmail.db.models import Unit

    conn.execute(
        insert(Unit),
        [
            {"code": c, "name": name, "parent_code": None, "account": f"{c}@danang.gov.vn",
             "branch_dn": f"ou={c},ou=people,dc=danang,dc=gov,dc=vn", "created_at": T0}
            for c, name in UNITS
        ],
    )  # fmt: skip


def write_config(path: Path, db_url: str, *, ldap=None, extra: str = "") -> Path:
    lines = [f'data_dir = "{path.parent / "data"}"', "", "[database]", f'url = "{db_url}"', "",
             "[directory]"]  # fmt: skip
    if ldap is not None:
        secret = path.parent / "bind.secret"
        secret.write_text(ldap.service_password, encoding="utf-8")
        lines += [f'url = "{ldap.url}"', f'base_dn = "{ldap.suffix}"',
                  f'bind_dn = "{ldap.service_dn}"', f'bind_password_file = "{secret}"']  # fmt: skip
    else:
        lines += ['url = "ldap://127.0.0.1:9"', 'bind_password_env = "DNMAIL_BENCH_NONE"']
    path.write_text("\n".join([*lines, "", extra, ""]), encoding="utf-8")
    return path


def vmhwm_mib() -> float:
    """This process's own peak RSS (VmHWM is not inherited across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- child: growth (the 1,001st–2,000th account against the 99,001st–100,000th) ----------


def child_growth(workdir: Path, existing: int, batch: int, chunk: int) -> dict:
    """A directory and a database already holding `existing` accounts (loaded offline:
    slapadd -q of pre-built entries, bulk SQL inserts), then `batch` create requests
    provisioned by the real service, timed chunk by chunk in a fresh process."""
    from dnmail.domain.addresses import DEFAULT_RESERVED, address_base, allocate_many
    from dnmail.local.openldap import add_entries_offline
    from dnmail.local.render import ssha
    from dnmail.local.slapd import ThrowawaySlapd
    from dnmail.services.provisioning import base_of

    t = time.perf_counter()
    people = city(existing + 2 * batch)  # the last batch: ldapadd's, after dnmail's
    people, extra = people[: existing + batch], people[existing + batch :]
    old = people[:existing]
    codes = [c for c, _ in UNITS]
    addresses = allocate_many([address_base(p.full_name) for p in old], set(codes),
                              reserved=DEFAULT_RESERVED)  # fmt: skip
    server = ThrowawaySlapd(workdir / "slapd")
    info = server.start()  # built once, then loaded offline while stopped
    suffix = info.suffix
    server.stop()
    ldif = workdir / "preload.ldif"
    with open(ldif, "w", encoding="utf-8") as f:
        for c in codes:
            f.write(f"dn: ou={c},ou=people,{suffix}\nobjectClass: top\n"
                    f"objectClass: organizationalUnit\nou: {c}\n\n")
        salt = os.urandom(8)  # one salt for speed: these passwords are never used
        for p, a in zip(old, addresses, strict=True):
            words = p.full_name.split()
            f.write(
                f"dn: uid={a},ou={p.unit},ou=people,{suffix}\n"
                "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
                f"objectClass: inetOrgPerson\nuid: {a}\nmail: {a}@danang.gov.vn\n"
                f"cn: {p.full_name}\nsn: {words[0]}\ngivenName: {words[-1]}\n"
                f"employeeNumber: {p.hr_id}\ntelephoneNumber: {p.phone}\ntitle: {p.position}\n"
                f"ou: {p.department}\nuserPassword: {ssha(p.hr_id, salt=salt)}\n"
                "pwdReset: TRUE\n\n"
            )
    add_entries_offline(workdir / "slapd", ldif)
    ldap_s = time.perf_counter() - t
    info = server.start()
    try:
        t = time.perf_counter()
        url = f"sqlite:///{workdir / 'growth.db'}"
        preload_database(url, people, existing, addresses, base_of)
        sql_s = time.perf_counter() - t
        cfg = write_config(workdir / "growth.toml", url, ldap=info,
                           extra=f"[provision]\nworkers = 1\nchunk_size = {chunk}\n")  # fmt: skip
        cmd = [sys.executable, __file__, "--child", "provision-timed", "--config", str(cfg),
               "--dir", str(workdir / "handouts")]  # fmt: skip
        spy = os.environ.get("DNMAIL_BENCH_PYSPY")  # a directory: profile the timed run
        if spy:
            out = Path(spy) / f"growth-{existing}.txt"
            spy_bin = Path(sys.executable).parent / "py-spy"  # the dev extra's, else PATH's
            spy_bin = str(spy_bin) if spy_bin.exists() else "py-spy"
            cmd = [spy_bin, "record", "-r", "200", "-f", "raw", "-o", str(out), "--", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"timed provision failed:\n{p.stderr[-3000:]}")
        timed = json.loads([x for x in p.stdout.splitlines() if x.startswith("{")][-1])
        ldapadd_s = ldapadd_batch(workdir, info, extra)
    finally:
        server.stop()
    if timed["done"] != batch:
        raise SystemExit(f"timed provision: {timed['done']} of {batch} done "
                         f"({timed['failed']} failed)")
    return {"existing": existing, "batch": batch, "chunk": chunk,
            "preload_ldap_s": round(ldap_s, 1), "preload_sql_s": round(sql_s, 1), **timed,
            "ldapadd_s": round(ldapadd_s, 3),
            "ldapadd_ms_per_account": round(ldapadd_s / len(extra) * 1000, 3)}  # fmt: skip


def ldapadd_batch(workdir: Path, info, people: list[Person]) -> float:
    """slapd's own share of the growth: `ldapadd` of entries like dnmail's (cleartext
    password for ppolicy to hash, pwdReset) into the same server, right after dnmail's."""
    from dnmail.domain.passwords import generate_password

    ldif = workdir / "ldapadd.ldif"
    with open(ldif, "w", encoding="utf-8") as f:
        for p in people:
            uid = f"x{p.hr_id.lower()}"
            words = p.full_name.split()
            f.write(
                f"dn: uid={uid},ou={p.unit},ou=people,{info.suffix}\n"
                "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
                f"objectClass: inetOrgPerson\nuid: {uid}\nmail: {uid}@danang.gov.vn\n"
                f"cn: {p.full_name}\nsn: {words[0]}\ngivenName: {words[-1]}\n"
                f"employeeNumber: {p.hr_id}\ntelephoneNumber: {p.phone}\ntitle: {p.position}\n"
                f"ou: {p.department}\nuserPassword: {generate_password()}\npwdReset: TRUE\n\n"
            )
    t = time.perf_counter()
    done = subprocess.run(["ldapadd", "-x", "-H", info.url, "-D", info.service_dn,
                           "-w", info.service_password, "-f", str(ldif)],
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"ldapadd failed: {done.stderr[-1000:]}")
    return seconds


def preload_database(url: str, people: list[Person], existing: int, addresses, base_of) -> None:
    """Units, everybody's HR record, the first `existing` people's mailboxes with the done
    requests and audit events that made them, and one open create request for the rest."""
    from sqlalchemy import insert

    from dnmail.db import migrate
    from dnmail.db.models import AuditEvent, Mailbox, Request, Staff
    from dnmail.db.session import make_engine
    from dnmail.domain.text import name_key
    from dnmail.services.audit import GENESIS, _canonical_details, event_hash

    engine = make_engine(url)
    migrate.upgrade(engine)
    step = 10_000
    with engine.begin() as conn:
        insert_units(conn)
        for s in range(0, len(people), step):
            conn.execute(insert(Staff), [
                {"hr_id": p.hr_id, "full_name": p.full_name, "name_key": name_key(p.full_name),
                 "unit_code": p.unit, "department": p.department, "position": p.position,
                 "phone": p.phone, "hr_status": "active", "status_changed_at": T0,
                 "created_at": T0, "updated_at": T0}
                for p in people[s : s + step]
            ])  # fmt: skip
        prev = GENESIS
        for s in range(0, existing, step):
            part = range(s, min(existing, s + step))
            at = [T0 + timedelta(days=1, seconds=i) for i in part]
            conn.execute(insert(Mailbox), [
                {"id": i + 1, "address": addresses[i], "base": base_of(addresses[i]),
                 "staff_hr_id": people[i].hr_id, "unit_code": people[i].unit,
                 "dn": f"uid={addresses[i]},ou={people[i].unit},ou=people,dc=danang,dc=gov,dc=vn",
                 "state": "active", "created_at": at[k], "updated_at": at[k]}
                for k, i in enumerate(part)
            ])  # fmt: skip
            conn.execute(insert(Request), [
                {"id": i + 1, "kind": "create", "unit_code": people[i].unit,
                 "staff_hr_id": people[i].hr_id, "state": "done", "attempts": 0,
                 "requested_by": f"{people[i].unit}@danang.gov.vn", "handled_by": "iid-admin",
                 "mailbox_id": i + 1, "created_at": T0, "updated_at": at[k], "handled_at": at[k]}
                for k, i in enumerate(part)
            ])  # fmt: skip
            events = []
            for k, i in enumerate(part):
                details = _canonical_details({"hr_id": people[i].hr_id, "unit": people[i].unit,
                                              "address": addresses[i],
                                              "result": "created"})  # fmt: skip
                h = event_hash(i + 1, at[k], "iid-admin", "provision.create", f"request:{i + 1}",
                               details, prev)  # fmt: skip
                events.append({"id": i + 1, "at": at[k], "actor": "iid-admin",
                               "action": "provision.create", "target": f"request:{i + 1}",
                               "details": details, "prev_hash": prev, "hash": h})  # fmt: skip
                prev = h
            conn.execute(insert(AuditEvent), events)
        conn.execute(insert(Request), [
            {"id": i + 1, "kind": "create", "unit_code": people[i].unit,
             "staff_hr_id": people[i].hr_id, "state": "pending", "attempts": 0,
             "requested_by": f"{people[i].unit}@danang.gov.vn",
             "created_at": T0 + timedelta(days=2), "updated_at": T0 + timedelta(days=2)}
            for i in range(existing, len(people))
        ])  # fmt: skip
    engine.dispose()


def child_provision_timed(config: Path, handouts: Path) -> dict:
    """The provisioning service on the whole queue, each chunk timed (progress hook)."""
    from dnmail.config import load_config
    from dnmail.services.provisioning import Provisioner
    from dnmail.services.runtime import Runtime

    rt = Runtime(load_config(config), actor="iid-admin")
    marks: list[tuple[float, float, int]] = []  # (wall, this process's CPU, accounts)
    p = Provisioner(rt, handout_dir=handouts, progress=lambda n: marks.append(
        (time.perf_counter(), time.process_time(), n)))  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    summary = p.run()
    total = time.perf_counter() - t0
    rt.close()
    starts = [(t0, c0)] + [(w, c) for w, c, _ in marks[:-1]]
    chunks = [(w - sw, c - sc, n) for (sw, sc), (w, c, n) in zip(starts, marks, strict=True) if n]
    # The first chunk also connects and warms up: left out.
    steady = chunks[1:] or chunks
    return {
        "done": len(summary.done),
        "failed": len(summary.failed),
        "seconds": round(total, 3),
        "chunk_s": [round(w, 4) for w, _, _ in chunks],
        "ms_per_account": round(statistics.median(w / n for w, _, n in steady) * 1000, 3),
        # dnmail's own share: CPU time of this process (Python, SQLite), not slapd's.
        "cpu_ms_per_account": round(statistics.median(c / n for _, c, n in steady) * 1000, 3),
        "peak_mib": round(vmhwm_mib(), 1),
    }


# --- child: staff import against bare openpyxl -------------------------------------------

BARE_OPENPYXL = (
    "import sys, openpyxl\n"
    "wb = openpyxl.load_workbook(sys.argv[1], read_only=True)\n"
    "n = sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True))\n"
    "wb.close()\n"
)


def child_roster(workdir: Path, rows: int, repeat: int) -> dict:
    """`dnmail staff import` of a `rows`-row roster (xlsx as Excel writes it, first import
    into a database holding the 50 units) against a bare openpyxl read-only pass over
    the same file; fresh processes, runs alternating, medians."""
    from bench_cli import checked, measure, stats

    from dnmail.db import migrate
    from dnmail.db.session import make_engine
    from support.workbooks import as_excel_writes_it, write_xlsx

    t = time.perf_counter()
    people = city(rows)
    statuses = ["Đang công tác"] * 48 + ["Nghỉ hưu", "Thôi việc"]
    roster = workdir / "roster.xlsx"
    write_xlsx(roster, [ROSTER_HEADERS, *(
        [p.hr_id, p.full_name, p.unit, p.department, p.position, p.phone, statuses[i % 50]]
        for i, p in enumerate(people)
    )])  # fmt: skip
    as_excel_writes_it(roster)
    template = workdir / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        insert_units(conn)
    engine.dispose()
    built = time.perf_counter() - t
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    bare_cmd = [sys.executable, "-c", BARE_OPENPYXL, str(roster)]
    bare, ours = [], []
    for i in range(repeat):
        bare.append(checked(measure(bare_cmd, env=env), "bare openpyxl"))
        db = workdir / f"import-{i}.db"
        shutil.copyfile(template, db)
        cfg = write_config(workdir / f"import-{i}.toml", f"sqlite:///{db}")
        out = workdir / f"import-{i}.json"
        ours.append(checked(measure(
            [sys.executable, "-m", "dnmail", "--config", str(cfg), "--format", "json", "--quiet",
             "staff", "import", str(roster)], env=env, stdout=out),
            "dnmail staff import"))  # fmt: skip
        added = json.loads(out.read_text(encoding="utf-8"))["added"]
        if added != rows:
            raise SystemExit(f"staff import added {added} of {rows} rows")
        db.unlink()
    b, o = stats(bare), stats(ours)
    return {"rows": rows, "xlsx_mib": round(roster.stat().st_size / 1024**2, 1),
            "build_s": round(built, 1), "repeat": repeat, "baseline": b, "dnmail": o,
            "ratio": round(o["median_s"] / b["median_s"], 3), "target": 1.3}  # fmt: skip


# --- the figures ---------------------------------------------------------------------------


@dataclass
class Figure:
    key: str
    figure: str
    dnmail: str = ""
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    op: str = "<="  # ratio <= target, or >=
    target_value: float | None = None
    peak_mib: float | None = None
    note: str = ""
    error: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.error or self.ratio is None or self.target_value is None:
            return None
        if self.op == ">=":
            return self.ratio >= self.target_value
        return self.ratio <= self.target_value


class Runner:
    def __init__(self, mode: str, workdir: Path, log):
        self.mode = mode
        self.m = MODES[mode]
        self.workdir = workdir
        self.log = log
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))  # fmt: skip

    def script(self, name: str, *args: str, parse_json: bool = True):
        """Run bench/<name> with `args`; its JSON (or stdout); stderr goes to the log."""
        cmd = [sys.executable, str(BENCH / name), *args]
        print(f"    $ {' '.join(cmd[1:])}", file=self.log, flush=True)
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, cwd=ROOT)
        self.log.write(p.stderr)
        if p.returncode != 0:
            raise BenchCrashed(f"{name} exited {p.returncode}: {(p.stderr or p.stdout)[-1500:]}")
        return json.loads(p.stdout.strip().splitlines()[-1]) if parse_json else p.stdout

    def child(self, *args: str) -> dict:
        cmd = [sys.executable, __file__, "--child", *args]
        print(f"    $ run.py --child {' '.join(args)}", file=self.log, flush=True)
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, cwd=ROOT)
        self.log.write(p.stderr)
        if p.returncode != 0:
            raise BenchCrashed(
                f"run.py --child {args[0]} exited {p.returncode}: {p.stderr[-1500:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    # -- each benchmark: a list of figures ---------------------------------------------
    def provision(self) -> list[Figure]:
        n, cfg = self.m["provision_n"], PROVISION
        runs = [
            self.script("bench_provision.py", "--n", str(n), "--workers", str(cfg["workers"]),
                        "--chunk-size", str(cfg["chunk_size"]), "--db", cfg["db"],
                        "--output", cfg["output"], "--json")
            for _ in range(self.m["provision_repeat"])
        ]
        ours = statistics.median(r["dnmail_seconds"] for r in runs)
        base = statistics.median(r["ldapadd_seconds"] for r in runs)
        how = (f"{cfg['db']}, {cfg['workers']} worker, chunks of {cfg['chunk_size']}, "
               f"--format {cfg['output']}")  # fmt: skip
        return [Figure(
            "provision", f"provision {n:,} creates ({how})",
            dnmail=f"{ours:.2f} s ({n / ours:,.0f}/s)",
            baseline=f"{base:.2f} s ({n / base:,.0f}/s)",
            ratio=round(base / ours, 3), target="≥ 0.5× rate", op=">=", target_value=0.5,
            peak_mib=max(r["dnmail_peak_mib"] for r in runs),
            note=f"ldapadd into a fresh slapd; median of {len(runs)}", details={"runs": runs},
        )]  # fmt: skip

    def growth(self) -> list[Figure]:
        batch, early, late = (self.m[k] for k in ("growth_batch", "growth_early", "growth_late"))
        sides = []
        for existing in (early, late):
            d = self.workdir / f"growth-{existing}"
            d.mkdir()
            sides.append(self.child("growth", "--dir", str(d), "--existing", str(existing),
                                    "--batch", str(batch),
                                    "--chunk", str(GROWTH_CHUNK)))  # fmt: skip
            shutil.rmtree(d, ignore_errors=True)
        a, b = sides
        span = f"#{late + 1:,}–{late + batch:,} vs #{early + 1:,}–{early + batch:,}"
        own = Figure(
            "growth-cpu", "  same batches, dnmail's own CPU per account",
            dnmail=f"{b['cpu_ms_per_account']:.2f} ms",
            baseline=f"{a['cpu_ms_per_account']:.2f} ms",
            ratio=round(b["cpu_ms_per_account"] / a["cpu_ms_per_account"], 3),
            target="≤ 1.3× cost",
            target_value=1.3, note="process CPU of the provisioning process: the client side alone",
        )  # fmt: skip
        slapd_own = Figure(
            "growth-slapd", "  same sizes, ldapadd into the same slapd (reference)",
            dnmail=f"{b['ldapadd_ms_per_account']:.2f} ms",
            baseline=f"{a['ldapadd_ms_per_account']:.2f} ms",
            ratio=round(b["ldapadd_ms_per_account"] / a["ldapadd_ms_per_account"], 3),
            target="—", note=f"ldapadd of {batch:,} more entries right after dnmail's batch: "
                             "slapd's own growth, which no client can avoid",
        )  # fmt: skip
        return [Figure(
            "growth",
            f"provision {span} (per account)",
            dnmail=f"{b['ms_per_account']:.2f} ms", baseline=f"{a['ms_per_account']:.2f} ms",
            ratio=round(b["ms_per_account"] / a["ms_per_account"], 3), target="≤ 1.3× cost",
            target_value=1.3, peak_mib=max(a["peak_mib"], b["peak_mib"]),
            note=f"median chunk of {GROWTH_CHUNK} (first left out), the service timed in-process "
                 f"(SQLite; directory and database preloaded offline)",
            details={"early": a, "late": b},
        ), own, slapd_own]  # fmt: skip

    def cli(self) -> list[Figure]:
        r = self.script("bench_cli.py", "--runs", str(self.m["cli_runs"]),
                        "--requests", str(self.m["queue_requests"]), "--json")  # fmt: skip
        h, q = r["help"], r["queue"]
        return [
            Figure("help", "dnmail --help", dnmail=f"{h['dnmail']['median_s']:.3f} s",
                   baseline=f"{h['baseline']['median_s']:.3f} s", ratio=h["ratio"],
                   target="≤ 1.3×", target_value=1.3, peak_mib=h["dnmail"]["peak_mib"],
                   note=f"minimal Typer app --help; median of {h['runs']}", details=h),
            Figure("queue", f"queue list, first page of {q['requests']:,} open requests",
                   dnmail=f"{q['dnmail']['median_s']:.3f} s",
                   baseline=f"{q['baseline']['median_s']:.3f} s", ratio=q["ratio"],
                   target="≤ 1.3×", target_value=1.3, peak_mib=q["dnmail"]["peak_mib"],
                   note=f"python -c 'import typer, rich, sqlalchemy.orm'; median of {q['runs']}",
                   details=q),
        ]  # fmt: skip

    def roster(self) -> list[Figure]:
        d = self.workdir / "roster"
        d.mkdir()
        r = self.child("roster", "--dir", str(d), "--rows", str(self.m["roster_rows"]),
                       "--repeat", str(self.m["roster_repeat"]))  # fmt: skip
        shutil.rmtree(d, ignore_errors=True)
        return [Figure(
            "roster", f"staff import, {r['rows']:,}-row roster (xlsx, first import)",
            dnmail=f"{r['dnmail']['median_s']:.2f} s",
            baseline=f"{r['baseline']['median_s']:.2f} s",
            ratio=r["ratio"], target="≤ 1.3×", target_value=1.3, peak_mib=r["dnmail"]["peak_mib"],
            note=f"bare openpyxl read-only pass; median of {r['repeat']}", details=r,
        )]  # fmt: skip

    def slips(self) -> list[Figure]:
        files = self.m["pdf_files"]
        # bench_slips.py has no --json (another engineer's, being finished): its report is
        # read. --rows keeps its Excel-slip half (not a figure here) small.
        out = self.script("bench_slips.py", "--files", str(files), "--rows", "200",
                          "--repeat", str(self.m["slips_repeat"]), parse_json=False)  # fmt: skip
        r = parse_slips_report(out)
        return [Figure(
            "slips", f"request import of {files} signed PDF slips",
            dnmail=f"{r['dnmail_s']:.2f} s", baseline=f"{r['baseline_s']:.2f} s",
            ratio=round(r["dnmail_s"] / r["baseline_s"], 3), target="≤ 1.5×", target_value=1.5,
            peak_mib=r["dnmail_peak_mib"],
            note="bare pyHanko validation + pdfplumber extraction; "
                 f"best of {self.m['slips_repeat']}",
            details=r,
        )]  # fmt: skip

    def export(self) -> list[Figure]:
        r = self.script("bench_export.py", "--rows", str(self.m["export_rows"]),
                        "--repeat", str(self.m["export_repeat"]), "--json")  # fmt: skip
        return [Figure(
            "export", f"export issued, {r['rows']:,} mailboxes (xlsx)",
            dnmail=f"{r['export']['median_s']:.2f} s",
            baseline=f"{r['baseline']['median_s']:.2f} s",
            ratio=r["ratio_median"], target="≤ 1.3×", target_value=1.3,
            peak_mib=max(r["cli_peak_mib"], r["export"]["peak_mib"]),
            note=f"bare openpyxl write-only of the same rows; service in-process, median of "
                 f"{r['repeat']} (best {r['ratio_best']}); CLI {r['cli_seconds']} s",
            details=r,
        )]  # fmt: skip

    def sync(self) -> list[Figure]:
        r = self.script("bench_sync.py", "--n", str(self.m["sync_n"]),
                        "--repeat", str(self.m["sync_repeat"]), "--json")  # fmt: skip
        return [Figure(
            "sync", f"sync --apply, {r['n']:,}-person roster, 1% changed",
            dnmail=f"{r['sync-apply']['median_s']:.2f} s",
            baseline=f"{r['import']['median_s']:.2f} s",
            ratio=r["ratio_apply"], target="≤ 1.5×", target_value=1.5,
            peak_mib=max(r[k]["peak_mib"] for k in ("import", "sync-dry", "sync-apply")),
            note=f"staff import of the same file; dry run {r['ratio_dry']}; "
                 f"median of {r['repeat']}",
            details=r,
        )]  # fmt: skip


    def adopt(self) -> list[Figure]:
        r = self.script("bench_adopt.py", "--n", str(self.m["adopt_n"]),
                        "--repeat", str(self.m["adopt_repeat"]), "--json")  # fmt: skip
        a, b, d = r["adopt_apply"], r["ldapsearch"], r["adopt_dry"]
        return [Figure(
            "adopt", f"directory adopt --apply, {r['entries']:,} entries (50 units)",
            dnmail=f"{a['median_s']:.2f} s", baseline=f"{b['median_s']:.2f} s",
            ratio=r["ratio"], target="≤ 3×", target_value=3.0,
            peak_mib=max(a["peak_mib"], d["peak_mib"]),
            note=f"ldapsearch -E pr=1000 of the same entries and attributes; dry run "
                 f"{d['median_s']:.2f} s ({r['ratio_dry']}×); {r['adopted']:,} adopted with "
                 f"{r['audit_events']:,} audit events; SQLite; median of {r['repeat']}",
            details=r,
        )]  # fmt: skip


class BenchCrashed(Exception):
    pass


def parse_slips_report(text: str) -> dict:
    """The PDF half, (a), of bench_slips.py's report."""
    part = text.split("(a)", 1)[1].split("(b)", 1)[0] if "(a)" in text else ""
    found = {}
    for label, key in (("bare pyHanko + pdfplumber", "baseline"),
                       ("dnmail request import", "dnmail")):
        m = re.search(re.escape(label) + r"\s+([\d.]+) s\s+peak RSS\s+([\d.]+) MiB", part)
        if not m:
            raise BenchCrashed(f"bench_slips.py report not understood (no {label!r} line):\n"
                               f"{text[-1500:]}")
        found[f"{key}_s"], found[f"{key}_peak_mib"] = float(m.group(1)), float(m.group(2))
    return found


# --- reporting -----------------------------------------------------------------------------


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))  # fmt: skip
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        kb = int(next(x.split()[1] for x in Path("/proc/meminfo").read_text().splitlines()
                      if x.startswith("MemTotal")))  # fmt: skip
        mem = f"{kb / 1024**2:.1f} GiB"
    except (OSError, StopIteration):
        pass
    slapd = subprocess.run(["/usr/sbin/slapd", "-VV"], capture_output=True, text=True).stderr
    m = re.search(r"slapd ([\d.]+)", slapd)
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "os": platform.platform(), "python": platform.python_version(),
            "slapd": m.group(1) if m else "?", "load_at_start": list(os.getloadavg())}  # fmt: skip


def table(figures: list[Figure]) -> str:
    head = ("figure", "dnmail", "baseline", "ratio", "target", "peak MiB", "met?")
    rows = []
    for f in figures:
        if f.error:
            rows.append((f.figure, "CRASHED", "", "", f.target, "", "—"))
            continue
        met = {True: "yes", False: "NO", None: "—"}[f.met]
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else ""
        peak = f"{f.peak_mib:.0f}" if f.peak_mib is not None else ""
        rows.append((f.figure, f.dnmail, f.baseline, ratio, f.target, peak, met))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(str(c).ljust(w) if i in (0, 1, 2, 4) else str(c).rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))  # fmt: skip
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])


def memory_figure(figures: list[Figure]) -> Figure:
    measured = [f for f in figures if f.peak_mib is not None and not f.error]
    if not measured:
        return Figure("memory", "peak memory of any command above", error="nothing measured")
    worst = max(measured, key=lambda f: f.peak_mib)
    return Figure(
        "memory", "peak memory of any command above", dnmail=f"{worst.peak_mib:.0f} MiB",
        baseline="", ratio=round(worst.peak_mib / MEMORY_TARGET_MIB, 3),
        target=f"≤ {MEMORY_TARGET_MIB:.0f} MiB", target_value=1.0, peak_mib=worst.peak_mib,
        note=f"highest: {worst.key}; each command's own peak RSS (one process)",
    )  # fmt: skip


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="every figure scaled down (CI; < 3 min on 2 cores)")
    ap.add_argument("--json", metavar="FILE", type=Path, help="also save the results as JSON")
    ap.add_argument("--only", metavar="LIST", help=f"comma-separated subset of {','.join(FIGURES)}")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and its log")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--existing", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child == "growth":
        print(json.dumps(child_growth(args.dir, args.existing, args.batch, args.chunk)))
        return 0
    if args.child == "provision-timed":
        print(json.dumps(child_provision_timed(args.config, args.dir)))
        return 0
    if args.child == "roster":
        print(json.dumps(child_roster(args.dir, args.rows, args.repeat)))
        return 0

    wanted = FIGURES if not args.only else tuple(x.strip() for x in args.only.split(","))
    unknown = set(wanted) - set(FIGURES)
    if unknown:
        ap.error(f"unknown figure(s) {', '.join(sorted(unknown))}; "
                 f"choose from {', '.join(FIGURES)}")
    mode = "quick" if args.quick else "full"
    started = time.perf_counter()
    when = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="dnmail-bench-run-"))
    log_path = workdir / "bench.log"
    figures: list[Figure] = []
    info = machine()
    print(f"dnmail benchmarks, {mode} mode, {when:%Y-%m-%d %H:%M} UTC on {info['host']} "
          f"({info['cores']} cores, load {info['load_at_start'][0]:.1f}); log: {log_path}",
          file=sys.stderr, flush=True)  # fmt: skip
    with open(log_path, "w", encoding="utf-8") as log:
        runner = Runner(mode, workdir, log)
        for i, name in enumerate(wanted, 1):
            t = time.perf_counter()
            print(f"[{i}/{len(wanted)}] {name} …", file=sys.stderr, end=" ", flush=True)
            try:
                got = getattr(runner, name)()
            except (BenchCrashed, Exception) as e:  # a crash is reported, the others still run
                got = [Figure(name, name, error=f"{type(e).__name__}: {e}")]
            figures.extend(got)
            status = "crashed" if any(f.error for f in got) else "done"
            print(f"{status} in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    figures.append(memory_figure(figures))
    wall = time.perf_counter() - started
    info["load_at_end"] = list(os.getloadavg())

    print()
    print(table(figures))
    print()
    for f in figures:
        if f.error:
            print(f"CRASHED {f.key}: {f.error}")
        elif f.note:
            print(f"  {f.key}: {f.note}")
    missed = [f.key for f in figures if f.met is False]
    print(f"\n{mode} run: {wall:.0f} s wall; {len(missed)} target(s) missed"
          + (f" ({', '.join(missed)})" if missed else "")
          + "; figures are medians unless noted, on a machine that may be shared"
            " (noisy).")  # fmt: skip
    if args.json:
        doc = {
            "mode": mode, "date": when.isoformat(timespec="seconds"), "wall_s": round(wall, 1),
            "machine": info, "scale": MODES[mode], "provision_config": PROVISION,
            "figures": [
                {"key": f.key, "figure": f.figure, "dnmail": f.dnmail, "baseline": f.baseline,
                 "ratio": f.ratio, "target": f.target, "peak_mib": f.peak_mib, "met": f.met,
                 "note": f.note, "error": f.error, "details": f.details}
                for f in figures
            ],
        }  # fmt: skip
        args.json.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"results saved to {args.json}", file=sys.stderr)
    crashed = any(f.error for f in figures if f.key != "memory")
    if crashed or args.keep:
        print(f"work directory kept: {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
