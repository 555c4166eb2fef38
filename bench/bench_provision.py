"""Provisioning throughput: `dnmail provision` of N pending create requests into a fresh
throw-away slapd, against `ldapadd` adding the same entries (same attributes, cleartext
password hashed by ppolicy, pwdReset) into another fresh slapd of the same configuration,
binding as the same service identity, in the same run.

    python bench/bench_provision.py [--n 2000] [--workers 1] [--db sqlite|postgresql]
        [--chunk-size 100] [--output table|json] [--growth] [--json]

Prints accounts per second of each and the ratio (target ≥ 0.5), plus the cost per
account of the second half against the first half (growth with the directory's size).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

from common import ROOT, dnmail_cmd, peak_of, run_timed, slapd, write_config  # noqa: F401


def populate(config_path: Path, n: int, *, offset: int = 0, fresh: bool = True) -> list[dict]:
    """Units, staff and N pending create requests; returns the would-be entries."""
    from sqlalchemy import insert

    from conftest import seed_units
    from dnmail.config import load_config
    from dnmail.db.models import Request, Staff
    from dnmail.domain.text import name_key
    from dnmail.services.runtime import Runtime
    from dnmail.services.setup import initialise
    from support.names import generate_names

    rt = Runtime(load_config(config_path), actor="bench")
    units = [f"u{i:02d}" for i in range(10)]
    if fresh:
        initialise(rt)
        with rt.transaction() as s:
            seed_units(s, units, config=rt.config)
    names = generate_names(offset + n, seed=2016)[offset:]
    now = rt.now()
    staff = [
        {
            "hr_id": f"B{offset + i:07d}", "full_name": nm, "name_key": name_key(nm),
            "unit_code": units[i % len(units)], "department": "Phòng Hành chính",
            "position": "Chuyên viên", "phone": f"09{offset + i:08d}", "hr_status": "active",
            "status_changed_at": now, "created_at": now, "updated_at": now,
        }
        for i, nm in enumerate(names)
    ]
    with rt.transaction() as s:
        s.execute(insert(Staff), staff)
        s.execute(
            insert(Request),
            [
                {
                    "kind": "create", "unit_code": r["unit_code"], "staff_hr_id": r["hr_id"],
                    "state": "pending", "attempts": 0, "requested_by": "bench",
                    "created_at": now, "updated_at": now,
                }
                for r in staff
            ],
        )
    if fresh:
        from dnmail.services.setup import ensure_branches

        ensure_branches(rt, units)
    rt.close()
    return staff


def ldif_for(staff: list[dict], suffix: str) -> str:
    """The same entries as dnmail makes, with addresses from the same rule."""
    from dnmail.domain.addresses import address_base, allocate_many, split_name
    from dnmail.domain.passwords import generate_password

    addrs = allocate_many([address_base(s["full_name"]) for s in staff], set())
    out = []
    for s, a in zip(staff, addrs, strict=True):
        fm, given = split_name(s["full_name"])
        out.append(
            "\n".join(
                [
                    f"dn: uid={a},ou={s['unit_code']},ou=people,{suffix}",
                    "objectClass: top", "objectClass: person", "objectClass: organizationalPerson",
                    "objectClass: inetOrgPerson",
                    f"uid: {a}", f"mail: {a}@danang.gov.vn", f"cn: {s['full_name']}",
                    f"sn: {fm[0] if fm else given}", f"givenName: {given}",
                    f"employeeNumber: {s['hr_id']}", f"telephoneNumber: {s['phone']}",
                    f"title: {s['position']}", f"ou: {s['department']}",
                    f"userPassword: {generate_password()}", "pwdReset: TRUE",
                ]
            )
        )
    return "\n\n".join(out) + "\n"


def branches_ldif(suffix: str, units: list[str]) -> str:
    return "\n\n".join(
        f"dn: ou={u},ou=people,{suffix}\nobjectClass: organizationalUnit\nou: {u}" for u in units
    ) + "\n"


def pg_database() -> tuple[str, callable]:
    import psycopg

    admin = "postgresql://postgres@127.0.0.1:5432/test"
    name = f"dnmail_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--chunk-size", type=int, default=100, help="[provision] chunk_size")
    ap.add_argument(
        "--output", choices=["table", "json"], default="table",
        help="dnmail's --format: the table an operator reads, or JSON as cron and scripts take it",
    )
    ap.add_argument("--growth", action="store_true",
                    help="also time a second batch of N on top of the first")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dnmail-bench-") as tmp:
        tmp = Path(tmp)
        drop = None
        if args.db == "postgresql":
            db_url, drop = pg_database()
        else:
            db_url = f"sqlite:///{tmp / 'bench.db'}"
        try:
            with slapd(tmp / "slapd-a") as a, slapd(tmp / "slapd-b") as b:
                extra = (f"[provision]\nworkers = {args.workers}\n"
                         f"chunk_size = {args.chunk_size}\n")
                cfg = write_config(tmp / "config.toml", db_url, a, extra=extra)
                staff = populate(cfg, args.n)
                # Baseline: ldapadd of the same entries, same bind identity.
                units = sorted({s["unit_code"] for s in staff})
                (tmp / "branches.ldif").write_text(branches_ldif(b.suffix, units), encoding="utf-8")
                (tmp / "entries.ldif").write_text(ldif_for(staff, b.suffix), encoding="utf-8")
                base = ["ldapadd", "-x", "-H", b.url, "-D", b.service_dn, "-w", b.service_password]
                r = run_timed([*base, "-f", str(tmp / "branches.ldif")])
                assert r.returncode == 0, r.stderr
                r = run_timed([*base, "-f", str(tmp / "entries.ldif")])
                assert r.returncode == 0, r.stderr[-500:]
                ldapadd_rate = args.n / r.seconds
                p = peak_of(dnmail_cmd(cfg, "--format", args.output, "--quiet", "provision",
                                       "--handout-dir", str(tmp / "h")))
                assert p.returncode == 0, p.stderr[-2000:]
                dn_rate = args.n / p.seconds
                result = {
                    "n": args.n,
                    "db": args.db,
                    "workers": args.workers,
                    "chunk_size": args.chunk_size,
                    "output": args.output,
                    "ldapadd_per_s": round(ldapadd_rate),
                    "dnmail_per_s": round(dn_rate),
                    "ratio": round(dn_rate / ldapadd_rate, 3),
                    "dnmail_seconds": round(p.seconds, 3),
                    "ldapadd_seconds": round(r.seconds, 3),
                    "dnmail_peak_mib": round(p.peak_mib, 1),
                }
                if args.growth:
                    populate(cfg, args.n, offset=args.n, fresh=False)
                    p2 = peak_of(dnmail_cmd(cfg, "--format", args.output, "--quiet",
                                            "provision", "--handout-dir", str(tmp / "h")))
                    assert p2.returncode == 0, p2.stderr[-2000:]
                    result["second_batch_per_s"] = round(args.n / p2.seconds)
                    result["growth_cost_ratio"] = round(p2.seconds / p.seconds, 3)
        finally:
            if drop:
                drop()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"provision of {args.n} accounts ({args.db}, {args.workers} worker(s), "
              f"chunks of {args.chunk_size}, --format {args.output}):")
        print(f"  ldapadd  {result['ldapadd_per_s']:>7} accounts/s  "
              f"({result['ldapadd_seconds']} s)")
        print(f"  dnmail   {result['dnmail_per_s']:>7} accounts/s  "
              f"({result['dnmail_seconds']} s, peak {result['dnmail_peak_mib']} MiB)")
        print(f"  ratio    {result['ratio']:.2f}  (target ≥ 0.5)")
        if "growth_cost_ratio" in result:
            print(f"  second batch of {args.n} on top: {result['second_batch_per_s']} accounts/s, "
                  f"cost ratio {result['growth_cost_ratio']} (target ≤ 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
