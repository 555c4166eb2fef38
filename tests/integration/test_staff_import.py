"""`staff import` end to end on SQLite and PostgreSQL: upsert by HR id, the report of
what changed, the no-change re-import, NFD/NFC names, and broken files refused whole
(file, row, column named; the database exactly as it was)."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import func, select

from conftest import write_config
from dnmail.db.models import AuditEvent, Staff
from support.workbooks import ROSTER_HEADERS, roster_rows, text_as_xlsx, write_roster

UNITS = ("snv", "sgtvt", "stttt", "syt", "sgddt", "stc")


@pytest.fixture
def dbcli(tmp_path, db_url, capsys, monkeypatch):
    """The CLI on a migrated database with the roster's units; no directory needed."""
    from dnmail.cli.main import invoke

    cfg = write_config(tmp_path / "config.toml", db_url=db_url, ldap=None)
    monkeypatch.setenv("DNMAIL_CONFIG", str(cfg))

    def run(*args):
        capsys.readouterr()
        code = invoke([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    for u in UNITS:
        assert run("unit", "add", u, "--name", f"Đơn vị {u}")[0] == 0
    from dnmail.config import load_config
    from dnmail.services.runtime import Runtime

    rt = Runtime(load_config(cfg))
    run.rt = rt
    yield run
    rt.close()


def snapshot(rt):
    with rt.transaction(readonly=True) as s:
        staff = sorted(
            (x.hr_id, x.full_name, x.unit_code, x.department, x.position, x.phone, x.hr_status)
            for x in s.scalars(select(Staff))
        )
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    return staff, events


def test_import_then_reimport_changes_nothing(dbcli, tmp_path):
    roster = write_roster(tmp_path / "roster.xlsx", n=300)
    code, out, err = dbcli("--format", "json", "staff", "import", roster)
    assert code == 0, err
    import json

    report = json.loads(out)
    assert report["added"] == 300 and report["changed"] == [] and report["unchanged"] == 0
    before = snapshot(dbcli.rt)
    assert len(before[0]) == 300
    code, out, err = dbcli("staff", "import", roster)
    assert code == 0
    assert "no change (300 records already up to date)" in err
    assert snapshot(dbcli.rt) == before


def test_changes_are_reported_field_by_field(dbcli, tmp_path):
    rows = roster_rows(20)
    dbcli("staff", "import", write_roster(tmp_path / "a.csv", rows))
    rows[0][2] = "stttt" if rows[0][2] != "stttt" else "snv"  # a transfer
    rows[1][6] = "Nghỉ hưu"
    rows[2][5] = "0912345678"
    rows[3][3] = "Phòng mới"
    code, out, err = dbcli(
        "--format", "json", "staff", "import", write_roster(tmp_path / "b.csv", rows)
    )
    assert code == 0, err
    import json

    changed = {c["hr_id"]: c["changes"] for c in json.loads(out)["changed"]}
    assert set(changed) == {rows[0][0], rows[1][0], rows[2][0], rows[3][0]}
    assert set(changed[rows[0][0]]) == {"unit_code"}
    assert changed[rows[1][0]]["hr_status"]["new"] == "retired"
    assert changed[rows[2][0]]["phone"]["new"] == "0912345678"
    assert changed[rows[3][0]]["department"]["new"] == "Phòng mới"


def test_nfd_names_are_stored_nfc_and_match_on_reimport(dbcli, tmp_path):
    rows = roster_rows(5)
    nfc = "Nguyễn Thị Thuỷ Tiên"
    rows[0][1] = "  " + unicodedata.normalize("NFD", nfc).replace(" ", "\u00a0 ") + " "
    dbcli("staff", "import", write_roster(tmp_path / "nfd.csv", rows))
    with dbcli.rt.transaction(readonly=True) as s:
        stored = s.get(Staff, rows[0][0]).full_name
    assert stored == nfc and unicodedata.is_normalized("NFC", stored)
    rows[0][1] = nfc
    code, _, err = dbcli("staff", "import", write_roster(tmp_path / "nfc.csv", rows))
    assert code == 0 and "no change" in err


def test_dry_run_stores_nothing(dbcli, tmp_path):
    before = snapshot(dbcli.rt)
    code, _, err = dbcli("staff", "import", "--dry-run", write_roster(tmp_path / "r.csv", n=10))
    assert code == 0 and "would add 10" in err
    assert snapshot(dbcli.rt) == before


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing-column", "Trạng thái"),
        ("unknown-unit", "row 4, column 'Mã đơn vị'"),
        ("duplicate-id", "appears twice"),
        ("text-as-xlsx", "not an Excel workbook"),
        ("not-a-spreadsheet", "unsupported"),
    ],
)
def test_broken_files_are_refused_whole(dbcli, tmp_path, case, expect):
    dbcli("staff", "import", write_roster(tmp_path / "good.csv", n=10))
    before = snapshot(dbcli.rt)
    rows = roster_rows(10, seed=9)
    if case == "missing-column":
        path = write_roster(tmp_path / "x.xlsx", [r[:6] for r in rows], headers=ROSTER_HEADERS[:6])
    elif case == "unknown-unit":
        rows[2][2] = "khongco"
        path = write_roster(tmp_path / "x.xlsx", rows)
    elif case == "duplicate-id":
        rows[5][0] = rows[1][0]
        path = write_roster(tmp_path / "x.xlsx", rows)
    elif case == "text-as-xlsx":
        path = text_as_xlsx(tmp_path / "x.xlsx")
    else:
        path = tmp_path / "x.pdf"
        path.write_bytes(b"%PDF-1.7\n")
    code, out, err = dbcli("staff", "import", path)
    assert code == 2, err
    assert "x." in err and expect in err
    assert "Traceback" not in err
    assert snapshot(dbcli.rt) == before


def test_a_roster_too_costly_to_read_is_refused_on_the_configured_limit(
    dbcli, tmp_path, db_url, monkeypatch
):
    """Issue 12 §3: the roster is read in a child bounded by [limits]; 40 MiB of shared
    strings pass the size limit but not `memory_mb = 64`: refused, naming the limit. The
    time limits are generous so that a loaded machine reaches the memory limit first."""
    from support import bombs

    tight = write_config(
        tmp_path / "tight.toml",
        db_url=db_url,
        extra="[limits]\nmemory_mb = 64\ncpu_seconds = 300\nwall_seconds = 600\n",
    )
    monkeypatch.setenv("DNMAIL_CONFIG", str(tight))
    costly = bombs.shared_strings_xlsx(
        tmp_path / "costly.xlsx", write_roster(tmp_path / "base.xlsx", n=3), size=40 * 1024**2
    )
    before = snapshot(dbcli.rt)
    code, _out, err = dbcli("staff", "import", costly)
    assert code == 2, err
    assert "costly.xlsx: needs more than 64 MiB of memory to read (limits.memory_mb)" in err
    assert "Traceback" not in err
    assert snapshot(dbcli.rt) == before


def test_email_column_stored_kept_when_absent_and_no_hr_change(dbcli, tmp_path):
    """The roster's optional email column (what `directory adopt` matches by) is stored;
    a roster without it keeps what was stored; a new email alone is no HR change the
    directory must follow (the record's updated_at stays)."""
    rows = roster_rows(3)
    with_email = write_roster(
        tmp_path / "a.xlsx",
        [[*r, f"x{i}@danang.gov.vn"] for i, r in enumerate(rows)],
        headers=[*ROSTER_HEADERS, "Hộp thư"],
    )
    assert dbcli("staff", "import", with_email)[0] == 0
    rt = dbcli.rt

    def emails():
        with rt.transaction(readonly=True) as s:
            return {x.hr_id: (x.email, x.updated_at) for x in s.scalars(select(Staff))}

    first = emails()
    assert sorted(e for e, _ in first.values()) == [
        "x0@danang.gov.vn",
        "x1@danang.gov.vn",
        "x2@danang.gov.vn",
    ]
    assert dbcli("staff", "import", write_roster(tmp_path / "b.xlsx", rows))[0] == 0
    assert emails() == first
    changed = write_roster(
        tmp_path / "c.xlsx",
        [
            [*r, "new@danang.gov.vn" if i == 0 else f"x{i}@danang.gov.vn"]
            for i, r in enumerate(rows)
        ],
        headers=[*ROSTER_HEADERS, "Email"],
    )
    code, out, err = dbcli("--format", "json", "staff", "import", changed)
    assert code == 0, err
    now = emails()
    hr0 = rows[0][0]
    assert now[hr0][0] == "new@danang.gov.vn" and now[hr0][1] == first[hr0][1]
