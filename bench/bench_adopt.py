"""`dnmail directory adopt --apply` of a whole city's directory against `ldapsearch`
dumping the same entries, in the same run (issue 11).

    python bench/bench_adopt.py                 # 100,000 entries over 50 units
    python bench/bench_adopt.py --n 10000 --repeat 1 --json

The directory is what the city has before dnmail: one entry per person of the HR
roster under a branch per unit, addresses in three conventions (thanhnq, thanh.nq,
nguyenquangthanh), a fifth of the entries carrying employeeNumber, a third of the
people with their address in the roster's email column, some locked entries, and
leavers and shared mailboxes nobody in HR owns. It is loaded offline (slapadd, hashed
passwords); the database holds the 50 units and the roster's staff.

Each run, in fresh processes on a fresh copy of the database:

    ldapsearch -E pr=1000/noprompt … the attributes adopt reads     (the baseline)
    dnmail directory adopt --apply                                  (matches, records
                                                                     every mailbox with
                                                                     its audit event)

and the script prints both wall times, the ratio (target ≤ 3) and dnmail's peak RSS
(target < 250 MiB). The dry run (`directory adopt` without --apply) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT / "src"), str(ROOT / "tests")]
os.umask(0o077)

TARGET = 3.0
MEMORY_MIB = 250.0
ATTRIBUTES = ["uid", "pwdAccountLockedTime", "cn", "sn", "givenName", "telephoneNumber",
              "title", "ou", "mail", "employeeNumber"]  # fmt: skip


def addresses(people) -> list[str]:
    """Each person's old address, in the convention its unit's admin liked."""
    from dnmail.domain.addresses import address_base
    from dnmail.domain.text import fold

    rng = random.Random(7)
    taken: set[str] = set()
    out = []
    for p in people:
        base = address_base(p.full_name)
        style = rng.random()
        if style < 0.4:
            local = base
        elif style < 0.7:
            given = fold(p.full_name.split()[-1])
            local = f"{given}.{base[len(given):]}" if base.startswith(given) else base
        else:
            local = fold(p.full_name)
        candidate, k = local, 0
        while candidate in taken:
            k += 1
            candidate = f"{local}{k}"
        taken.add(candidate)
        out.append(candidate)
    return out


def build(workdir: Path, n: int) -> dict:
    """The directory (offline), the database template, and what the runs need."""
    from run import T0, UNITS, city, insert_units
    from sqlalchemy import insert

    from dnmail.db import migrate
    from dnmail.db.models import Staff
    from dnmail.db.session import make_engine
    from dnmail.domain.text import name_key
    from dnmail.local.openldap import add_entries_offline
    from dnmail.local.render import ssha
    from dnmail.local.slapd import ThrowawaySlapd

    t = time.perf_counter()
    people = city(n)
    locals_ = addresses(people)
    rng = random.Random(11)
    server = ThrowawaySlapd(workdir / "slapd")
    info = server.start()
    suffix = info.suffix
    server.stop()
    ldif = workdir / "city.ldif"
    salt = os.urandom(8)  # one salt for speed: these passwords are never used
    hashed = ssha("old-password", salt=salt)
    emails: dict[str, str] = {}
    with open(ldif, "w", encoding="utf-8") as f:
        for c, _ in UNITS:
            f.write(f"dn: ou={c},ou=people,{suffix}\nobjectClass: organizationalUnit\nou: {c}\n\n")
        extra = max(1, n // 50)  # leavers and shared mailboxes: nobody in HR
        rows = [(p, a) for p, a in zip(people, locals_, strict=True)]
        rows += [(None, f"oldbox{i}") for i in range(extra)]
        for p, a in rows:
            unit = p.unit if p else UNITS[rng.randrange(len(UNITS))][0]
            name = p.full_name if p else f"Hộp thư chung {a}"
            words = name.split()
            f.write(
                f"dn: uid={a},ou={unit},ou=people,{suffix}\nobjectClass: inetOrgPerson\n"
                f"uid: {a}\nmail: {a}@danang.gov.vn\ncn: {name}\nsn: {words[0]}\n"
                f"givenName: {words[-1]}\nuserPassword: {hashed}\n"
            )
            if p is not None:
                f.write(f"telephoneNumber: {p.phone}\ntitle: {p.position}\nou: {p.department}\n")
                r = rng.random()
                if r < 0.2:
                    f.write(f"employeeNumber: {p.hr_id}\n")
                elif r < 0.5:
                    emails[p.hr_id] = f"{a}@danang.gov.vn"
            if rng.random() < 0.01:
                f.write("pwdAccountLockedTime: 000001010000Z\n")
            f.write("\n")
    add_entries_offline(workdir / "slapd", ldif)
    template = workdir / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        insert_units(conn)
        for s in range(0, len(people), 10_000):
            conn.execute(insert(Staff), [
                {"hr_id": p.hr_id, "full_name": p.full_name, "name_key": name_key(p.full_name),
                 "unit_code": p.unit, "department": p.department, "position": p.position,
                 "phone": p.phone, "hr_status": "active", "email": emails.get(p.hr_id, ""),
                 "status_changed_at": T0, "created_at": T0, "updated_at": T0}
                for p in people[s : s + 10_000]
            ])  # fmt: skip
    engine.dispose()
    return {"server": server, "template": template, "entries": len(rows),
            "build_s": round(time.perf_counter() - t, 1)}  # fmt: skip


def adopted_counts(db: Path) -> dict:
    import sqlite3

    with sqlite3.connect(db) as c:
        adopted = c.execute("SELECT count(*) FROM mailboxes WHERE origin = 'adopted'").fetchone()[0]
        events = c.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'mailbox.adopt'").fetchone()[0]
    return {"adopted": adopted, "audit_events": events}


def main() -> None:
    from bench_cli import measure, stats
    from run import write_config

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000,
                    help="people in the roster (entries: 2%% more)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk-size", type=int, default=5000, help="provision.chunk_size")
    ap.add_argument("--format-json", action="store_true",
                    help="time `--format json` (every entry in one document) instead of the table")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    args.output = ["--format", "json"] if args.format_json else []
    workdir = Path(tempfile.mkdtemp(prefix="dnmail-bench-adopt-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    try:
        built = build(workdir, args.n)
        server = built["server"]
        info = server.start()
        try:
            dump = workdir / "dump.ldif"
            search = ["ldapsearch", "-x", "-LLL", "-H", info.url, "-D", info.service_dn,
                      "-y", str(workdir / "service.pw"), "-b", info.people_dn,
                      "-E", "pr=1000/noprompt", "(objectClass=inetOrgPerson)",
                      *ATTRIBUTES]  # fmt: skip
            (workdir / "service.pw").write_text(info.service_password, encoding="utf-8")
            base, ours, dry = [], [], []
            counts = None
            for i in range(args.repeat):
                base.append(measure(search, env=env, stdout=dump))
                if base[-1].returncode != 0:
                    raise SystemExit(f"ldapsearch failed: {base[-1].stderr}")
                for label, extra, runs in (("dry", [], dry), ("apply", ["--apply"], ours)):
                    db = workdir / f"adopt-{i}-{label}.db"
                    shutil.copyfile(built["template"], db)
                    chunking = f"[provision]\nchunk_size = {args.chunk_size}\n"
                    cfg = write_config(workdir / f"adopt-{i}.toml", f"sqlite:///{db}", ldap=info,
                                       extra=chunking)
                    out = workdir / f"adopt-{i}-{label}.json"
                    # The command IID runs (docs/takeover.md): the table on stdout (a file:
                    # the entries left for IID), the summary on stderr.
                    run = measure([sys.executable, "-m", "dnmail", "--config", str(cfg),
                                   *args.output, "directory", "adopt", *extra],
                                  env=env, stdout=out)  # fmt: skip
                    if run.returncode not in (0, 3):
                        raise SystemExit(
                            f"adopt {label} failed (exit {run.returncode}):\n{run.stderr}")
                    runs.append(run)
                    if label == "apply":
                        counts = adopted_counts(db)
                        if counts["adopted"] < args.n * 0.9:
                            raise SystemExit(
                                f"adopt took over only {counts['adopted']} of {args.n}")
                    db.unlink()
                    out.unlink()
        finally:
            server.stop()
        b, o, d = stats(base), stats(ours), stats(dry)
        result = {
            "n": args.n, "entries": built["entries"], "build_s": built["build_s"],
            "repeat": args.repeat, "chunk_size": args.chunk_size, "ldapsearch": b,
            "adopt_apply": o, "adopt_dry": d, **(counts or {}),
            "output": "json" if args.format_json else "table",
            "ratio": round(o["median_s"] / b["median_s"], 3),
            "ratio_dry": round(d["median_s"] / b["median_s"], 3),
            "target": TARGET, "memory_target_mib": MEMORY_MIB,
        }  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return
    print(f"directory adopt of {result['entries']:,} entries ({args.n:,} people, 50 units), "
          f"median of {args.repeat}:")
    print(f"  ldapsearch dump          {b['median_s']:7.2f} s")
    print(f"  adopt (dry run)          {d['median_s']:7.2f} s   {result['ratio_dry']:.2f}×  "
          f"peak {d['peak_mib']:.0f} MiB")
    print(f"  adopt --apply            {o['median_s']:7.2f} s   {result['ratio']:.2f}×  "
          f"peak {o['peak_mib']:.0f} MiB   (target ≤ {TARGET}×, < {MEMORY_MIB:.0f} MiB)")
    print(f"  adopted {result.get('adopted')}, audit events {result.get('audit_events')}; "
          f"output: {'--format json' if args.format_json else 'the table'}")


if __name__ == "__main__":
    main()
