"""`export issued -o x.xlsx` on 100,000 mailboxes against a bare openpyxl write-only
write of the same rows and columns.

The baseline is what no exporter can beat: the rows already in memory as Python
values (read from the same SQLite file before the clock starts), appended to a
`Workbook(write_only=True)` and saved. The export adds the SQL query streamed in
batches, the labels, the Vietnam-time dates, formula neutralisation, the temporary
file and its rename, and its audit event. Target: ratio <= 1.3.

Each measurement runs in its own child process, so each peak RSS (getrusage maxrss of
that child, via os.wait4) is its own; runs alternate (baseline, export, …) and the
best of --repeat is kept. The export's peak is also measured at a tenth of the rows:
a streamed export's peak barely grows with the row count, while the baseline holds
every row in memory by design. Finally the real command runs once in a subprocess
(`dnmail export issued -o x.xlsx`) for its wall time including start-up.

    /work/venv-scratch/bin/python bench/bench_export.py [--rows 100000] [--repeat 3] [--json]

--json prints one JSON object on stdout instead: the best and median of each side, every
run, the peaks and the command's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Quang", "Đức", "Minh", "Ngọc", "Thanh", "Hữu", "Mỹ", "Công"]
os.umask(0o077)  # dnmail refuses a SQLite file other users may read
GIVEN = ["Thanh", "Hạnh", "Dũng", "Hương", "Tuấn", "Lan", "Hùng", "Mai", "Sơn", "Trang", "Phúc"]
DEPTS = ["Văn phòng", "Phòng Tổ chức cán bộ", "Phòng Kế hoạch - Tài chính", "Thanh tra Sở", "=1+1"]


# --- building the database ---------------------------------------------------------------


def build_db(path: Path, rows: int) -> str:
    from sqlalchemy import insert

    from dnmail.db import migrate
    from dnmail.db.models import Mailbox, Staff, Unit
    from dnmail.db.session import make_engine

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    rnd = random.Random(5)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    units = [f"u{i:03d}" for i in range(60)]
    with engine.begin() as conn:
        conn.execute(
            insert(Unit),
            [
                {
                    "code": u,
                    "name": f"Đơn vị {u}",
                    "parent_code": None,
                    "account": f"{u}@danang.gov.vn",
                    "branch_dn": f"ou={u},ou=people,dc=danang,dc=gov,dc=vn",
                    "created_at": now,
                }
                for u in units
            ],
        )
        for start in range(0, rows, 20_000):
            staff, boxes = [], []
            for i in range(start, min(rows, start + 20_000)):
                name = f"{rnd.choice(FAMILY)} {rnd.choice(MIDDLE)} {rnd.choice(GIVEN)}"
                unit = units[i % len(units)]
                hr = f"HR{i:07d}"
                at = now + timedelta(minutes=i)
                staff.append(
                    {
                        "hr_id": hr,
                        "full_name": name,
                        "name_key": name.casefold().replace(" ", ""),
                        "unit_code": unit,
                        "department": rnd.choice(DEPTS),
                        "position": "Chuyên viên",
                        "phone": f"09{rnd.randrange(10**8):08d}",
                        "hr_status": "active",
                        "status_changed_at": at,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
                address = f"user{i}"
                boxes.append(
                    {
                        "address": address,
                        "base": address,
                        "staff_hr_id": hr,
                        "unit_code": unit,
                        "dn": f"uid={address},ou={unit},ou=people,dc=danang,dc=gov,dc=vn",
                        "state": "active",
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            conn.execute(insert(Staff), staff)
            conn.execute(insert(Mailbox), boxes)
    engine.dispose()
    return url


# --- children ----------------------------------------------------------------------------


def child_export(url: str, out: Path) -> dict:
    import openpyxl  # noqa: F401 - import cost kept out of the timing

    from dnmail.config import Config, DatabaseSettings
    from dnmail.services.exports import export_list
    from dnmail.services.runtime import Runtime

    started, cpu = time.perf_counter(), time.process_time()
    rt = Runtime(Config(database=DatabaseSettings(url=url)), actor="bench")
    result = export_list(rt, kind="issued", path=out)
    rt.close()
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "rows": result.rows,
    }


def child_baseline(url: str, out: Path) -> dict:
    import sqlite3

    from openpyxl import Workbook

    from dnmail.exports.writers import LOCAL_TZ

    # The same rows and values, read before the clock starts.
    conn = sqlite3.connect(url.split("///", 1)[1])
    label = {"active": "Đã cấp email"}
    data = []
    for n, (name, dept, phone, addr, hr, unit, state, created) in enumerate(
        conn.execute(
            "SELECT s.full_name, s.department, s.phone, m.address || '@danang.gov.vn', s.hr_id,"
            " m.unit_code, m.state, m.created_at FROM mailboxes m JOIN staff s"
            " ON s.hr_id = m.staff_hr_id WHERE m.state = 'active' ORDER BY m.unit_code, m.address"
        ),
        1,
    ):
        at = datetime.fromisoformat(created).replace(tzinfo=UTC).astimezone(LOCAL_TZ)
        data.append([n, name, dept, phone, addr, hr, unit, label[state], at.replace(tzinfo=None)])
    conn.close()
    headers = [
        "STT",
        "Họ và tên",
        "Phòng ban/Đơn vị trực thuộc",
        "Số điện thoại",
        "Tên hộp thư",
        "Mã hồ sơ",
        "Mã đơn vị",
        "Trạng thái",
        "Ngày cấp",
    ]

    started, cpu = time.perf_counter(), time.process_time()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Đã cấp email")
    ws.append(headers)
    for row in data:
        ws.append(row)
    wb.save(out)
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "rows": len(data),
    }


def run_child(*args: str) -> dict:
    """Run this file as a child; its result plus its own peak RSS (os.wait4)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"child {args} failed ({proc.returncode}):\n{err.decode()}")
    result = json.loads(out)
    if isinstance(result, dict):
        result["maxrss_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    return result


def run_cli(config: Path, out: Path) -> dict:
    env = {**os.environ, "DNMAIL_CONFIG": str(config)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnmail", "--format", "json", "export", "issued", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    stdout = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"dnmail export failed:\n{err.decode()}")
    return {
        "seconds": seconds,
        "rows": json.loads(stdout)["rows"],
        "maxrss_mb": usage.ru_maxrss / 1024,
    }


def json_result(args, base_runs, export_runs, small_run, cli, size) -> dict:
    import statistics

    def side(runs: list[dict]) -> dict:
        secs = [r["seconds"] for r in runs]
        return {
            "best_s": round(min(secs), 4),
            "median_s": round(statistics.median(secs), 4),
            "all_s": [round(x, 4) for x in secs],
            "best_cpu_s": round(min(r["cpu"] for r in runs), 4),
            "peak_mib": round(max(r["maxrss_mb"] for r in runs), 1),
        }

    base, export = side(base_runs), side(export_runs)
    return {
        "rows": args.rows,
        "repeat": args.repeat,
        "xlsx_mib": round(size, 1),
        "baseline": base,
        "export": export,
        "ratio_best": round(export["best_s"] / base["best_s"], 3),
        "ratio_median": round(export["median_s"] / base["median_s"], 3),
        "ratio_cpu": round(export["best_cpu_s"] / base["best_cpu_s"], 3),
        "export_peak_mib_tenth": round(small_run["maxrss_mb"], 1),
        "cli_seconds": round(cli["seconds"], 3),
        "cli_peak_mib": round(cli["maxrss_mb"], 1),
        "target": 1.3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--child", choices=["export", "baseline", "build"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "build":
        print(json.dumps(build_db(args.out, args.rows)))
        return
    if args.child:
        func = child_export if args.child == "export" else child_baseline
        print(json.dumps(func(args.url, args.out)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        # Built in children too: a child inherits its parent's peak RSS across fork+exec,
        # so the parent stays small for the peaks measured below to be the children's own.
        url = run_child(
            "--child", "build", "--rows", str(args.rows), "--out", str(tmp / "bench.db")
        )
        small = run_child(
            "--child",
            "build",
            "--rows",
            str(max(1, args.rows // 10)),
            "--out",
            str(tmp / "small.db"),
        )
        print(
            f"built {args.rows:,} mailboxes (+staff, 60 units) in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )

        base_runs, export_runs = [], []
        for _ in range(args.repeat):
            base_runs.append(
                run_child("--child", "baseline", "--url", url, "--out", str(tmp / "b.xlsx"))
            )
            export_runs.append(
                run_child("--child", "export", "--url", url, "--out", str(tmp / "e.xlsx"))
            )
        assert {r["rows"] for r in base_runs + export_runs} == {args.rows}
        small_run = run_child("--child", "export", "--url", small, "--out", str(tmp / "s.xlsx"))

        config = tmp / "config.toml"
        config.write_text(
            f'data_dir = "{tmp / "data"}"\n[database]\nurl = "{url}"\n', encoding="utf-8"
        )
        cli = run_cli(config, tmp / "cli.xlsx")

        base = min(r["seconds"] for r in base_runs)
        exp = min(r["seconds"] for r in export_runs)
        base_cpu = min(r["cpu"] for r in base_runs)
        exp_cpu = min(r["cpu"] for r in export_runs)
        size = (tmp / "e.xlsx").stat().st_size / 1024**2
        if args.json:
            print(json.dumps(json_result(args, base_runs, export_runs, small_run, cli, size)))
            return
        print(f"rows: {args.rows:,} (xlsx {size:.1f} MiB), best of {args.repeat}")
        print(
            f"bare openpyxl write-only: {base:6.2f} s wall {base_cpu:6.2f} s cpu   "
            f"peak RSS {max(r['maxrss_mb'] for r in base_runs):6.1f} MiB (rows held in memory)"
        )
        print(
            f"export issued (service):  {exp:6.2f} s wall {exp_cpu:6.2f} s cpu   "
            f"peak RSS {max(r['maxrss_mb'] for r in export_runs):6.1f} MiB "
            f"({small_run['maxrss_mb']:.1f} MiB at {small_run['rows']:,} rows)"
        )
        print(
            f"ratio export/baseline:    {exp / base:6.2f} wall {exp_cpu / base_cpu:6.2f} cpu "
            f"(target <= 1.3)"
        )
        print(
            f"dnmail export issued -o x.xlsx (subprocess, with start-up): {cli['seconds']:.2f} s, "
            f"peak RSS {cli['maxrss_mb']:.1f} MiB"
        )


if __name__ == "__main__":
    main()
