"""read_roster on a 50,000-row HR roster against a bare openpyxl read of the same file.

The baseline is what no reader can beat: `openpyxl.load_workbook(read_only=True)`
and one pass of `iter_rows(values_only=True)` over the sheet. read_roster adds the
zip checks (sizes, DOCTYPE scan), header matching, per-cell cleaning, phone and
status rules and builds the RosterRow list. Target: ratio <= 1.3.

Runs alternate (baseline, reader, baseline, …) and the best of N is kept, both in
CPU time (steadier on a shared machine) and wall time. Memory is then measured in
separate passes: tracemalloc peak and what the result itself holds (tracemalloc
slows everything down), and the max RSS of a fresh process doing one read.

    /work/venv-scratch/bin/python bench/bench_roster_read.py [--rows 50000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.workbooks import as_excel_writes_it, roster_rows, write_roster


def bare_read(path: Path, *, keep: bool = False):
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    count = 0
    for _row in wb.worksheets[0].iter_rows(values_only=True):
        count += 1
    wb.close()
    return count


def dnmail_read(path: Path, *, keep: bool = False):
    from dnmail.readers.roster import read_roster

    roster = read_roster(path)
    return roster if keep else len(roster.rows)


def timed(func, path: Path) -> tuple[float, float, int]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(path)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def traced(func, path: Path) -> tuple[int, int]:
    """(peak, retained) bytes allocated by func(path): retained = what its result holds."""
    gc.collect()
    tracemalloc.start()
    try:
        result = func(path, keep=True)
        retained = tracemalloc.get_traced_memory()[0]
        peak = tracemalloc.get_traced_memory()[1]
        del result
        return peak, retained
    finally:
        tracemalloc.stop()


def max_rss_mib(label: str, path: Path) -> float:
    """Peak RSS of a fresh process that imports the reader and reads the file once."""
    out = subprocess.run(
        [sys.executable, __file__, "--only", label, "--file", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split()[-1])


def only(label: str, path: Path) -> None:
    READERS[label](path)
    print(f"maxrss_mib {own_peak_rss() / 1024:.1f}")


def own_peak_rss() -> float:
    """This process's peak RSS in KiB. VmHWM belongs to the process image: unlike
    ru_maxrss it is not inherited from the (large) parent across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


READERS = {"openpyxl": bare_read, "read_roster": dnmail_read}


def measure(path: Path, repeat: int) -> dict:
    """Alternating timed runs (best of `repeat`), then the memory passes."""
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in READERS}
    for _ in range(repeat):
        for label, func in READERS.items():
            wall, cpu, count = timed(func, path)
            runs[label].append((wall, cpu))
            print(
                f"  {path.name}: {label:12} wall {wall:6.2f} s  cpu {cpu:6.2f} s  ({count:,} rows)",
                file=sys.stderr,
            )
    return {
        "best": {label: (min(w for w, _ in r), min(c for _, c in r)) for label, r in runs.items()},
        "memory": {label: traced(func, path) for label, func in READERS.items()},
        "rss": {label: max_rss_mib(label, path) for label in READERS},
    }


def report(title: str, result: dict) -> float:
    mib = 1024**2
    print(title)
    for label, (wall, cpu) in result["best"].items():
        peak, retained = result["memory"][label]
        print(
            f"  {label:12} cpu {cpu:5.2f} s  wall {wall:5.2f} s  "
            f"tracemalloc peak {peak / mib:5.1f} MiB (result holds {retained / mib:5.1f} MiB)  "
            f"max RSS {result['rss'][label]:5.1f} MiB"
        )
    (base_wall, base_cpu) = result["best"]["openpyxl"]
    (ours_wall, ours_cpu) = result["best"]["read_roster"]
    ratio = ours_cpu / base_cpu
    print(f"  ratio (cpu):  {ratio:.3f}  (target <= 1.3)")
    print(f"  ratio (wall): {ours_wall / base_wall:.3f}")
    return ratio


def json_result(args, results: list[tuple[str, dict]]) -> dict:
    mib = 1024**2
    files = []
    for title, r in results:
        (base_wall, base_cpu) = r["best"]["openpyxl"]
        (ours_wall, ours_cpu) = r["best"]["read_roster"]
        files.append({
            "file": title.rstrip(":"),
            **{label: {"best_wall_s": round(w, 4), "best_cpu_s": round(c, 4),
                       "tracemalloc_peak_mib": round(r["memory"][label][0] / mib, 1),
                       "max_rss_mib": r["rss"][label]}
               for label, (w, c) in r["best"].items()},
            "ratio_cpu": round(ours_cpu / base_cpu, 3),
            "ratio_wall": round(ours_wall / base_wall, 3),
        })  # fmt: skip
    return {"rows": args.rows, "repeat": args.repeat, "target": 1.3, "files": files,
            "worst_ratio_cpu": max(f["ratio_cpu"] for f in files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--numbers",
        action="store_true",
        help="HR ids and phones typed as numbers (every phone loses its leading 0)",
    )
    parser.add_argument(
        "--layout",
        choices=["excel", "openpyxl", "both"],
        default="both",
        help="strings in a shared table as Excel writes them, or inline as openpyxl does",
    )
    parser.add_argument("--file", type=Path, help="measure this roster file instead")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--only", choices=list(READERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        only(args.only, args.file)
        return

    import openpyxl  # noqa: F401 - import cost kept out of the first timing

    import dnmail.readers.roster  # noqa: F401

    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.file:
            files = [(f"{args.file.name}", args.file)]
        else:
            started = time.perf_counter()
            inline = Path(tmp) / "roster-openpyxl.xlsx"
            write_roster(
                inline,
                roster_rows(args.rows, phone_as_number=args.numbers, id_as_number=args.numbers),
            )
            files = []
            if args.layout in ("excel", "both"):
                shared = Path(tmp) / "roster-excel.xlsx"
                shutil.copy(inline, shared)
                as_excel_writes_it(shared)
                files.append(("shared strings (as Excel writes)", shared))
            if args.layout in ("openpyxl", "both"):
                files.append(("inline strings (as openpyxl writes)", inline))
            print(f"wrote the files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results = [
            (f"{title}, {path.stat().st_size / 1024**2:.1f} MiB:", measure(path, args.repeat))
            for title, path in files
        ]
    if args.json:
        print(json.dumps(json_result(args, results)))
        return
    print(f"rows: {args.rows:,}  (best of {args.repeat}; ratio = read_roster / openpyxl)")
    for title, result in results:
        ratios.append(report(title, result))
    print(f"worst ratio (cpu): {max(ratios):.3f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
