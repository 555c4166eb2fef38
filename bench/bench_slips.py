"""`dnmail request import` against the bare libraries it is built on, in the same run.

(a) 200 signed PDF slips (5–10 rows each, four units, each signed by its unit's
    pinned chief of office) imported in one `dnmail request import` run, against a
    bare script doing what no importer can skip on the same files: for each file,
    pyHanko's `validate_pdf_signature` of every signature (the same trust root and
    CRLs, no fetching, at the same moment) and pdfplumber's table and word
    extraction of every page. Target: ratio <= 1.5.
(b) one 20,000-row Excel slip imported with `dnmail request import --unit`, against a
    bare `openpyxl.load_workbook(read_only=True)` and one pass of
    `iter_rows(values_only=True)` over the same file. Target: ratio <= 1.3. The dry
    run (read, match and check every row; store nothing) and the reader alone
    (`read_excel_slip`) are measured too, so that the figure shows where time goes.

Each figure is a fresh process (interpreter start-up and imports included on both
sides), timed from outside; its peak RSS is the process's own (VmHWM). The import
runs get a fresh copy of the seeded database each time (a slip is never imported
twice). Best of --repeat, runs alternating.

    .venv/bin/python bench/bench_slips.py [--files 200] [--rows 20000]
        [--repeat 3] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from common import ROOT, dnmail_cmd

# The time of import: the real time (nothing moves a dnmail subprocess's clock); the test
# PKI is dated around it.
NOW = datetime.now(UTC).replace(microsecond=0)
UNITS = ("snv", "sgtvt", "stttt", "syt")  # the PDF slips' units, each with a pinned signer
EXCEL_UNIT = "sxd"  # the Excel slip's unit
UNIT_NAMES = {
    "snv": "Sở Nội vụ",
    "sgtvt": "Sở Giao thông Vận tải",
    "stttt": "Sở Thông tin và Truyền thông",
    "syt": "Sở Y tế",
    "sxd": "Sở Xây dựng",
}


# --- the bare baselines (run with --only) ---------------------------------------------


def bare_pdf(directory: Path) -> int:
    """pyHanko signature validation + pdfplumber extraction of every slip, nothing else."""
    import logging

    import pdfplumber
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    logging.getLogger("pyhanko").addHandler(logging.NullHandler())

    def ders(path: Path) -> list[bytes]:
        data = path.read_bytes()
        return [der for _t, _h, der in pem.unarmor(data, multiple=True)]

    roots = [asn1_x509.Certificate.load(d) for d in ders(directory / "pki" / "root.pem")]
    crls = ders(directory / "pki" / "root.crl.pem") + ders(directory / "pki" / "inter.crl.pem")
    rows = 0
    for path in sorted(directory.glob("slip-*.pdf")):
        data = path.read_bytes()
        for sig in PdfFileReader(io.BytesIO(data)).embedded_signatures:
            vc = ValidationContext(
                trust_roots=roots,
                crls=crls,
                allow_fetching=False,
                revocation_mode="soft-fail",
                moment=NOW,
                best_signature_time=NOW,
            )
            status = validate_pdf_signature(sig, signer_validation_context=vc)
            assert status.bottom_line, path
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for page in pdf.pages:
                for table in page.extract_tables():
                    rows += len(table)
                page.extract_words()
    return rows


def bare_xlsx(path: Path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    count = sum(1 for _row in wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    return count


def reader_xlsx(path: Path) -> int:
    from dnmail.readers.excel_slip import read_excel_slip

    return len(read_excel_slip(path).rows)


ONLY = {"bare-pdf": bare_pdf, "bare-xlsx": bare_xlsx, "reader-xlsx": reader_xlsx}


# --- measuring ------------------------------------------------------------------------


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of `cmd` in a fresh process.

    A small wrapper interpreter starts it, times it and reads its peak RSS
    (RUSAGE_CHILDREN of a process with that one child is the child's own peak).
    """
    p = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], env=env, capture_output=True, text=True
    )
    if p.returncode != 0:
        refused = ""
        if p.stdout.startswith("{"):
            refused = json.dumps(
                [f for f in json.loads(p.stdout)["files"] if f["problems"]][:3],
                ensure_ascii=False,
                indent=1,
            )
        raise SystemExit(
            f"{' '.join(cmd[:6])} … failed ({p.returncode}):\n{p.stderr[-2000:]}\n{refused[:3000]}"
        )
    wall, peak = p.stderr.rstrip().rpartition("\n")[2].split()[1:]
    return float(wall), float(peak), p.stdout


_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:])\n"
    "wall = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "sys.stderr.write(f'\\n@@figures {wall:.4f} {peak:.1f}\\n')\n"
    "sys.exit(p.returncode)\n"
)


def best(label: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    wall = min(w for w, _ in runs)
    peak = max(p for _, p in runs)
    print(f"  {label:34} {wall:7.2f} s   peak RSS {peak:6.1f} MiB", flush=True)
    return wall, peak


# --- the world ------------------------------------------------------------------------


class World:
    """A config, a seeded database (kept as a template) and the slips, in `tmp`."""

    def __init__(self, tmp: Path, pg: str | None):
        self.tmp = tmp
        self.pg = pg
        self.pki_dir = tmp / "pki"
        self.template_db = tmp / "template.db"
        self.pg_template: str | None = None

    # database ------------------------------------------------------------------------
    def url_for(self, name: str) -> str:
        if self.pg:
            return self.pg.rsplit("/", 1)[0] + "/" + name
        return f"sqlite:///{self.tmp / name}"

    def fresh_db(self) -> str:
        """A copy of the seeded template: a SQLite file copy or CREATE DATABASE … TEMPLATE."""
        name = f"bench_slips_{uuid.uuid4().hex[:10]}"
        if self.pg:
            self._pg(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}"')
            return self.url_for(name)
        shutil.copy(self.template_db, self.tmp / name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        if self.pg:
            self._pg(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        else:
            Path(url.split("///", 1)[1]).unlink(missing_ok=True)

    def _pg(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.pg, autocommit=True) as c:
            c.execute(sql)

    def seed(self, staff: list[dict]) -> None:
        from sqlalchemy import insert

        from dnmail.config import Config
        from dnmail.db import migrate
        from dnmail.db.models import Staff
        from dnmail.db.session import Database, make_engine
        from dnmail.services.runtime import Runtime
        from dnmail.services.units import insert_unit

        if self.pg:
            self.pg_template = f"bench_slips_tmpl_{uuid.uuid4().hex[:8]}"
            self._pg(f'CREATE DATABASE "{self.pg_template}"')
            url = self.url_for(self.pg_template)
        else:
            url = f"sqlite:///{self.template_db}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        rt = Runtime(Config(), actor="bench", _db=Database(url, engine=engine))
        with rt.transaction() as s:
            for code in (*UNITS, EXCEL_UNIT):
                insert_unit(
                    session=s,
                    config=rt.config,
                    code=code,
                    name=UNIT_NAMES[code],
                    parent=None,
                    account=None,
                    actor="bench",
                    now=NOW,
                )
            for i in range(0, len(staff), 5000):
                s.execute(insert(Staff), staff[i : i + 5000])
        engine.dispose()

    def cleanup(self) -> None:
        if self.pg and self.pg_template:
            self._pg(f'DROP DATABASE IF EXISTS "{self.pg_template}" WITH (FORCE)')

    # config ----------------------------------------------------------------------------
    def config(self, url: str, pins: dict[str, str]) -> Path:
        path = self.tmp / f"config-{uuid.uuid4().hex[:6]}.toml"
        units = "".join(f'\n[units.{u}]\nsigners = ["{p}"]\n' for u, p in pins.items())
        path.write_text(
            f'data_dir = "{self.tmp / "data"}"\n\n[database]\nurl = "{url}"\n\n'
            '[directory]\nurl = "ldap://127.0.0.1:9"\nbind_password_env = "DNMAIL_BENCH_NONE"\n\n'
            '[signatures]\ntrust_roots = ["pki/root.pem"]\n'
            'crls = ["pki/root.crl.pem", "pki/inter.crl.pem"]\nrevocation = "soft-fail"\n' + units,
            encoding="utf-8",
        )
        return path


def people(n: int, seed: int) -> list[str]:
    """`n` distinct names (by name_key): a slip row must match exactly one person."""
    from dnmail.domain.text import name_key
    from support.names import generate_names

    out, seen = [], set()
    for name in generate_names(n * 2, seed=seed):
        key = name_key(name)
        if key not in seen:
            seen.add(key)
            out.append(name)
        if len(out) == n:
            return out
    raise RuntimeError("not enough distinct names")


def staff_rows(unit: str, names: list[str], prefix: str) -> list[dict]:
    from dnmail.domain.text import name_key

    return [
        {"hr_id": f"{prefix}{i:06d}", "full_name": nm, "name_key": name_key(nm),
         "unit_code": unit, "department": "Văn phòng", "position": "Chuyên viên",
         "phone": f"09{(i * 7919) % 10**8:08d}", "hr_status": "active",
         "status_changed_at": NOW, "created_at": NOW, "updated_at": NOW}
        for i, nm in enumerate(names)
    ]  # fmt: skip


def make_pdf_slips(world: World, files: int) -> tuple[dict[str, str], list[dict]]:
    """`files` signed slips spread over UNITS; returns (pins by unit, staff to seed)."""
    import random

    from support import pdfslips as ps
    from support.pki import (
        build_test_pki,
        make_name,
        make_signer,
        write_crl_pem,
        write_pem,
    )

    pki = build_test_pki(now=NOW)
    signers = {
        "snv": pki.snv,
        "sgtvt": pki.sgtvt,
        "stttt": make_signer(
            "stttt",
            make_name("Hồ Thị Mai", title="Chánh Văn phòng", org="Sở Thông tin và Truyền thông"),
            pki.intermediate,
        ),
        "syt": make_signer(
            "syt",
            make_name("Lý Văn Sơn", title="Chánh Văn phòng", org="Sở Y tế thành phố Đà Nẵng"),
            pki.intermediate,
        ),
    }
    write_pem(world.pki_dir / "root.pem", pki.root.cert)
    write_crl_pem(world.pki_dir / "root.crl.pem", pki.crl_root)
    write_crl_pem(world.pki_dir / "inter.crl.pem", pki.crl_intermediate)
    rng = random.Random(271)
    sizes = [rng.randint(5, 10) for _ in range(files)]
    per_unit = {u: sum(s for i, s in enumerate(sizes) if UNITS[i % len(UNITS)] == u) for u in UNITS}
    staff, names = [], {}
    for k, unit in enumerate(UNITS):
        names[unit] = people(per_unit[unit] + 50, seed=2016 + k)  # + people on no slip
        staff += staff_rows(unit, names[unit], f"{unit[:3].upper()}")
    cursor = dict.fromkeys(UNITS, 0)
    for i, size in enumerate(sizes):
        unit = UNITS[i % len(UNITS)]
        start = cursor[unit]
        cursor[unit] += size
        rows = [ps.Person(nm, "Văn phòng", "", "") for nm in names[unit][start : start + size]]
        pdf = ps.make_slip_pdf(rows, unit_name=f"{UNIT_NAMES[unit]} thành phố Đà Nẵng")
        (world.tmp / f"slip-{i:03d}.pdf").write_bytes(ps.sign_pdf(pdf, signers[unit]))
    return {u: ident.pin for u, ident in signers.items()}, staff


def make_excel_slip(world: World, rows: int) -> tuple[Path, list[dict]]:
    from support.workbooks import SlipPerson, as_excel_writes_it, write_slip_xlsx

    names = people(rows, seed=1975)
    path = world.tmp / "big-slip.xlsx"
    write_slip_xlsx(path, [SlipPerson(nm, "Văn phòng") for nm in names], blank_rows=0)
    as_excel_writes_it(path)  # strings in a shared table, as Excel writes them
    return path, staff_rows(EXCEL_UNIT, names, "XL")


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL admin URL: run against PostgreSQL")
    parser.add_argument("--only", choices=list(ONLY), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        count = ONLY[args.only](args.path)
        print(json.dumps({"count": count}))
        return

    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp), args.pg)
        t0 = time.perf_counter()
        pins, staff = make_pdf_slips(world, args.files)
        xlsx, xl_staff = make_excel_slip(world, args.rows)
        world.seed(staff + xl_staff)
        pdfs = sorted(world.tmp.glob("slip-*.pdf"))
        print(
            f"built {len(pdfs)} signed slips, a {args.rows:,}-row workbook and "
            f"{len(staff) + len(xl_staff):,} staff in {time.perf_counter() - t0:.1f} s "
            f"({'PostgreSQL' if args.pg else 'SQLite'})",
            flush=True,
        )
        try:
            figures = measure(world, pins, pdfs, xlsx, me, env, args)
        finally:
            world.cleanup()
    report(figures, args)


def measure(world, pins, pdfs, xlsx, me, env, args) -> dict:
    runs: dict[str, list[tuple[float, float]]] = {}

    def add(label: str, wall: float, peak: float) -> None:
        runs.setdefault(label, []).append((wall, peak))

    def dnmail_import(*extra: str, files=(), check: int) -> None:
        url = world.fresh_db()
        try:
            config = world.config(url, pins)
            wall, peak, out = run(
                dnmail_cmd(
                    config, "--format", "json", "request", "import", *extra, *map(str, files)
                ),
                env,
            )
            doc = json.loads(out)
            assert doc["accepted"] == check and doc["refused"] == 0, doc["files"][:1]
            label = "dnmail request import" + (" --dry-run" if "--dry-run" in extra else "")
            add(f"{label} ({'pdf' if files[0].suffix == '.pdf' else 'xlsx'})", wall, peak)
        finally:
            world.drop(url)

    for i in range(args.repeat):
        print(f"round {i + 1} of {args.repeat}", file=sys.stderr, flush=True)
        wall, peak, _ = run([*me, "--only", "bare-pdf", "--path", str(world.tmp)], env)
        add("bare pyHanko + pdfplumber (pdf)", wall, peak)
        dnmail_import(files=pdfs, check=len(pdfs))
        wall, peak, _ = run([*me, "--only", "bare-xlsx", "--path", str(xlsx)], env)
        add("bare openpyxl read-only (xlsx)", wall, peak)
        dnmail_import("--unit", EXCEL_UNIT, files=[xlsx], check=1)
        dnmail_import("--unit", EXCEL_UNIT, "--dry-run", files=[xlsx], check=1)
        wall, peak, _ = run([*me, "--only", "reader-xlsx", "--path", str(xlsx)], env)
        add("read_excel_slip alone (xlsx)", wall, peak)
    return runs


def report(runs: dict, args) -> None:
    print(f"\nbest of {args.repeat} (wall time of a fresh process each; peak RSS its own)")
    print(f"(a) {args.files} signed PDF slips, 5–10 rows each, {len(UNITS)} units:")
    base_pdf, _ = best("bare pyHanko + pdfplumber", runs["bare pyHanko + pdfplumber (pdf)"])
    ours_pdf, _ = best("dnmail request import", runs["dnmail request import (pdf)"])
    print(
        f"  ratio {ours_pdf / base_pdf:.2f}  (target <= 1.5); "
        f"{ours_pdf / args.files * 1000:.0f} ms per slip"
    )
    print(f"(b) one {args.rows:,}-row Excel slip:")
    base_x, _ = best("bare openpyxl read-only", runs["bare openpyxl read-only (xlsx)"])
    reader, _ = best("read_excel_slip alone", runs["read_excel_slip alone (xlsx)"])
    dry, _ = best("dnmail request import --dry-run", runs["dnmail request import --dry-run (xlsx)"])
    ours_x, _ = best("dnmail request import", runs["dnmail request import (xlsx)"])
    print(
        f"  ratio {ours_x / base_x:.2f}  (target <= 1.3); dry run {dry / base_x:.2f}; "
        f"the reader alone {reader / base_x:.2f}"
    )


if __name__ == "__main__":
    main()
