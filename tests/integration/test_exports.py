"""`dnmail export issued|pending|locked|audit`: files opened back and checked cell by cell,
formula neutralisation, filters, bad input, streaming, atomic writes (SQLite and
PostgreSQL through `db_url`)."""

from __future__ import annotations

import csv
import json
import unicodedata
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from conftest import CliResult, seed_staff, seed_units, write_config
from dnmail import clock
from dnmail.config import Config
from dnmail.db.models import AuditEvent, Mailbox, Request, Staff
from dnmail.db.session import Database, make_engine
from dnmail.exports import writers
from dnmail.exports.writers import neutralise
from dnmail.services import exports
from dnmail.services.runtime import Runtime

T0 = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # 09:00 in Đà Nẵng
NOW = "2024-04-01T03:00:00+00:00"

SLIP = ["Họ và tên", "Phòng ban/Đơn vị trực thuộc", "Số điện thoại", "Tên hộp thư"]
ISSUED_HEADERS = ["STT", *SLIP, "Mã hồ sơ", "Mã đơn vị", "Trạng thái", "Ngày cấp", "Bí danh"]
LOCKED_HEADERS = [
    "STT",
    *SLIP,
    "Mã hồ sơ",
    "Mã đơn vị",
    "Trạng thái",
    "Ngày cấp",
    "Ngày khóa",
    "Lý do",
    "Ghi chú",
]
PENDING_HEADERS = [
    "STT",
    *SLIP,
    "Mã hồ sơ",
    "Mã đơn vị",
    "Loại yêu cầu",
    "Trạng thái",
    "Ngày gửi",
    "Mã yêu cầu",
    "Lỗi gần nhất",
]
AUDIT_HEADERS = [
    "STT",
    "Thời điểm",
    "Người thực hiện",
    "Hành động",
    "Đối tượng",
    "Chi tiết",
    "Hash",
]

# (hr_id, full name, unit, department, position, phone)
STAFF = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "=1+1", "Chuyên viên", "+84905123456"),
    ("HR002", "Lê Thị Mỹ Hạnh", "snv", "-x", "Phó phòng", "0905111222"),
    ("HR003", "Trần Đức", "snv", "@SUM(A1)", "Chuyên viên", "0236 3822 111"),
    ("HR004", "Phạm Văn Tâm", "sgtvt", "\tVăn phòng", "Văn thư", "-5"),
    ("HR005", "Hoàng Thị Lan", "sgtvt", "Phòng Kế hoạch - Tài chính", "Kế toán", "\r0905"),
    ("HR006", "Võ Văn Hùng", "snv", "#N/A", "Lái xe", "0905000006"),
    ("HR007", '=HYPERLINK("http://evil.example","bấm")', "sgtvt", "Thanh tra", "", ""),
    ("HR008", "Đặng Thị Mai", "snv", "Văn phòng", "Chuyên viên", "0905000008"),
    ("HR009", "Bùi Văn Sơn", "sgtvt", "Văn phòng", "Chuyên viên", "0905000009"),
    ("HR010", "Đỗ Ngọc Trang", "snv", "Văn phòng", "Chuyên viên", "0905000010"),
]


def _mailbox(hr, address, unit, *, state="active", created=T0, locked=None, reason=None, note=None):
    return Mailbox(
        address=address,
        base=address,
        staff_hr_id=hr,
        unit_code=unit,
        dn=f"uid={address},ou={unit},ou=people,dc=danang,dc=gov,dc=vn",
        state=state,
        lock_reason=reason,
        lock_note=note,
        created_at=created,
        updated_at=created,
        locked_at=locked,
    )


def _request(hr, unit, kind, state, created, *, address=None, error=None):
    return Request(
        kind=kind,
        unit_code=unit,
        staff_hr_id=hr,
        requested_address=address,
        state=state,
        attempts=1 if state == "failed" else 0,
        last_error=error,
        requested_by=f"{unit}@danang.gov.vn",
        created_at=created,
        updated_at=created,
    )


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


@pytest.fixture
def seeded(engine):
    """Two units, ten people: issued, locked, open and closed requests, hostile cells."""
    with Session(engine) as s, s.begin():
        seed_units(s)
        seed_staff(s, STAFF)
        s.add_all(
            [
                _mailbox("HR001", "thanhnq", "snv"),
                _mailbox("HR002", "hanhltm", "snv", created=T0 + timedelta(days=1)),
                # 2024-03-09 17:30 UTC is already 10 March in Đà Nẵng (00:30)
                _mailbox("HR003", "ductd", "snv", created=datetime(2024, 3, 9, 17, 30, tzinfo=UTC)),
                # 2024-03-09 16:30 UTC is still 9 March there (23:30)
                _mailbox(
                    "HR004", "tampv", "sgtvt", created=datetime(2024, 3, 9, 16, 30, tzinfo=UTC)
                ),
                _mailbox("HR007", "hyperlink", "sgtvt", created=T0 + timedelta(days=2)),
                _mailbox(
                    "HR005",
                    "lanht",
                    "sgtvt",
                    state="locked",
                    reason="retired",
                    note="-x ghi chú",
                    locked=datetime(2024, 3, 20, 1, 0, tzinfo=UTC),
                ),
                _mailbox(
                    "HR006",
                    "hungvv",
                    "snv",
                    state="locked",
                    reason="other",
                    locked=datetime(2024, 3, 5, 1, 0, tzinfo=UTC),
                ),
            ]
        )
        s.flush()
        s.add_all(
            [
                _request(
                    "HR008", "snv", "create", "pending", T0 + timedelta(hours=1), address="maidt"
                ),
                _request(
                    "HR009",
                    "sgtvt",
                    "create",
                    "failed",
                    T0 + timedelta(hours=2),
                    error="=cmd|' /C calc'!A0",
                ),
                _request("HR010", "snv", "create", "done", T0 + timedelta(hours=3)),
                _request(
                    "HR001", "snv", "change", "pending", datetime(2024, 3, 15, 1, 0, tzinfo=UTC)
                ),
            ]
        )
    return engine


@pytest.fixture
def run(tmp_path, db_url, capsys, monkeypatch, time_machine):
    """`dnmail ARGS…` in-process, the clock stopped at NOW; exports need a database,
    not a directory."""
    from dnmail.cli.main import invoke

    config = write_config(tmp_path / "config.toml", db_url=db_url)
    monkeypatch.setenv("DNMAIL_CONFIG", str(config))
    time_machine.move_to(datetime.fromisoformat(NOW), tick=False)
    monkeypatch.setenv("COLUMNS", "200")

    def _run(*args) -> CliResult:
        capsys.readouterr()
        code = invoke([str(a) for a in args])
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return _run


def sheet_rows(path: Path) -> list[list]:
    """The header and the rows of an export workbook, below its title row (row 1)."""
    ws = openpyxl.load_workbook(path).active
    assert isinstance(ws["A1"].value, str) and " — " in ws["A1"].value  # the title row
    assert ws.freeze_panes == "A3" and ws.print_title_rows == "$2:$2"
    return [[c.value for c in row] for row in ws.iter_rows(min_row=2)]


def csv_rows(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "CSV without the UTF-8 BOM Excel needs"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


# --- issued ---------------------------------------------------------------------------------

ISSUED = [
    # by unit, then mailbox name
    [
        '\'=HYPERLINK("http://evil.example","bấm")',
        "Thanh tra",
        None,
        "hyperlink@danang.gov.vn",
        "HR007",
        "sgtvt",
        "Đang hoạt động",
        datetime(2024, 3, 3, 9, 0),
    ],
    [
        "Phạm Văn Tâm",
        "'\tVăn phòng",
        "'-5",
        "tampv@danang.gov.vn",
        "HR004",
        "sgtvt",
        "Đang hoạt động",
        datetime(2024, 3, 9, 23, 30),
    ],
    [
        "Trần Đức",
        "'@SUM(A1)",
        "0236 3822 111",
        "ductd@danang.gov.vn",
        "HR003",
        "snv",
        "Đang hoạt động",
        datetime(2024, 3, 10, 0, 30),
    ],
    [
        "Lê Thị Mỹ Hạnh",
        "'-x",
        "0905111222",
        "hanhltm@danang.gov.vn",
        "HR002",
        "snv",
        "Đang hoạt động",
        datetime(2024, 3, 2, 9, 0),
    ],
    [
        "Nguyễn Quang Thanh",
        "'=1+1",
        "'+84905123456",
        "thanhnq@danang.gov.vn",
        "HR001",
        "snv",
        "Đang hoạt động",
        datetime(2024, 3, 1, 9, 0),
    ],
]


def test_issued_xlsx_cell_by_cell(seeded, run, tmp_path):
    out = tmp_path / "issued.xlsx"
    r = run("export", "issued", "-o", out)
    assert r.code == 0, r
    assert r.out == ""  # table mode: the summary goes to stderr
    assert "5 row(s)" in r.err and str(out) in r.err

    rows = sheet_rows(out)
    assert rows[0] == ISSUED_HEADERS
    assert rows[1:] == [[i, *row, None] for i, row in enumerate(ISSUED, 1)]

    ws = openpyxl.load_workbook(out).active
    assert ws.title == "Đã cấp email"
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula"
    for coord in ("B3", "C4", "D4", "C5", "C6", "C7", "D7"):
        assert ws[coord].data_type == "s", coord
        assert ws[coord].value.startswith("'"), coord
    assert ws["I3"].is_date and ws["I3"].number_format == "dd/mm/yyyy hh:mm"
    with zipfile.ZipFile(out) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml


def test_issued_csv_cell_by_cell(seeded, run, tmp_path):
    out = tmp_path / "issued.csv"
    assert run("export", "issued", "-o", out).code == 0
    rows = csv_rows(out)
    assert rows[0] == ISSUED_HEADERS
    expected = [
        [
            str(i),
            *(
                "" if v is None else v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v
                for v in row
            ),
            "",  # Bí danh: no mailbox here was renamed
        ]
        for i, row in enumerate(ISSUED, 1)
    ]
    assert rows[1:] == expected
    # every cell a spreadsheet would run is neutralised
    for row in rows[1:]:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r", cell


def test_issued_json_keeps_the_data_as_stored(seeded, run, tmp_path):
    out = tmp_path / "issued.json"
    r = run("--format", "json", "export", "issued", "-o", out)
    assert r.code == 0, r
    assert r.json() == {"file": str(out), "rows": 5, "kind": "issued"}
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["kind"] == "issued"
    assert doc["generated_at"] == NOW
    assert [row["no"] for row in doc["rows"]] == [1, 2, 3, 4, 5]
    first = doc["rows"][4]
    assert first == {
        "no": 5,
        "full_name": "Nguyễn Quang Thanh",
        "department": "=1+1",
        "phone": "+84905123456",
        "address": "thanhnq@danang.gov.vn",
        "hr_id": "HR001",
        "unit": "snv",
        "state": "active",
        "issued_at": "2024-03-01T02:00:00+00:00",
        "aliases": None,
    }
    assert doc["rows"][1]["department"] == "\tVăn phòng"


def test_no_export_has_a_password_column(seeded, run, tmp_path):
    for kind in ("issued", "locked", "pending", "audit"):
        out = tmp_path / f"{kind}.json"
        assert run("export", kind, "-o", out).code == 0
        doc = json.loads(out.read_text(encoding="utf-8"))
        keys = {k for row in doc["rows"] for k in row}
        assert not {k for k in keys if "pass" in k or "secret" in k}
        headers = [c.header.lower() for c in exports.COLUMNS[exports.ExportKind(kind)]]
        assert not [h for h in headers if "mật khẩu" in h or "password" in h], headers


# --- locked and pending -------------------------------------------------------------------


def test_locked_xlsx_has_reason_and_date(seeded, run, tmp_path):
    out = tmp_path / "locked.xlsx"
    assert run("export", "locked", "-o", out).code == 0
    rows = sheet_rows(out)
    assert rows[0] == LOCKED_HEADERS
    assert rows[1:] == [
        [
            1,
            "Hoàng Thị Lan",
            "Phòng Kế hoạch - Tài chính",
            "'\r0905",
            "lanht@danang.gov.vn",
            "HR005",
            "sgtvt",
            "Đã khóa",
            datetime(2024, 3, 1, 9, 0),
            datetime(2024, 3, 20, 8, 0),
            "Nghỉ hưu",
            "'-x ghi chú",
        ],
        [
            2,
            "Võ Văn Hùng",
            "#N/A",
            "0905000006",
            "hungvv@danang.gov.vn",
            "HR006",
            "snv",
            "Đã khóa",
            datetime(2024, 3, 1, 9, 0),
            datetime(2024, 3, 5, 8, 0),
            "Khác",
            None,
        ],
    ]
    ws = openpyxl.load_workbook(out).active
    assert ws["C4"].data_type == "s"  # "#N/A" stays text, not an error value


def test_locked_csv(seeded, run, tmp_path):
    out = tmp_path / "locked.csv"
    assert run("export", "locked", "--unit", "SGTVT", "-o", out).code == 0
    assert csv_rows(out) == [
        LOCKED_HEADERS,
        [
            "1",
            "Hoàng Thị Lan",
            "Phòng Kế hoạch - Tài chính",
            "'\r0905",
            "lanht@danang.gov.vn",
            "HR005",
            "sgtvt",
            "Đã khóa",
            "2024-03-01 09:00",
            "2024-03-20 08:00",
            "Nghỉ hưu",
            "'-x ghi chú",
        ],
    ]


def test_pending_lists_open_requests_in_queue_order(seeded, run, tmp_path):
    out = tmp_path / "pending.xlsx"
    assert run("export", "pending", "-o", out).code == 0
    rows = sheet_rows(out)
    assert rows[0] == PENDING_HEADERS
    body = rows[1:]
    assert [r[5] for r in body] == ["HR008", "HR009", "HR001"]  # done HR010 left out
    assert body[0][1:10] == [
        "Đặng Thị Mai",
        "Văn phòng",
        "0905000008",
        "maidt@danang.gov.vn",
        "HR008",
        "snv",
        "Cấp mới",
        "Chờ xử lý",
        datetime(2024, 3, 1, 10, 0),
    ]
    assert body[1][4] is None  # no wish: IID picks the name
    assert body[1][8:] == [
        "Lỗi, chờ thử lại",
        datetime(2024, 3, 1, 11, 0),
        body[1][10],
        "'=cmd|' /C calc'!A0",
    ]
    assert body[2][4] == "thanhnq@danang.gov.vn"  # a change names the existing mailbox
    assert body[2][7] == "Thay đổi"

    doc_path = tmp_path / "pending.json"
    assert run("export", "pending", "-o", doc_path).code == 0
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    assert [(r["kind"], r["state"]) for r in doc["rows"]] == [
        ("create", "pending"),
        ("create", "failed"),
        ("change", "pending"),
    ]
    assert doc["rows"][1]["last_error"] == "=cmd|' /C calc'!A0"


# --- filters ------------------------------------------------------------------------------


def test_unit_filter(seeded, run, tmp_path):
    out = tmp_path / "snv.csv"
    r = run("--format", "json", "export", "issued", "--unit", "snv", "-o", out)
    assert r.json()["rows"] == 3
    assert {row[6] for row in csv_rows(out)[1:]} == {"snv"}
    assert run("export", "pending", "--unit", "sgtvt", "-o", out).code == 0
    assert [row[5] for row in csv_rows(out)[1:]] == ["HR009"]


def test_since_filters_by_the_local_date_that_applies(seeded, run, tmp_path):
    out = tmp_path / "since.csv"
    # issued: 17:30 UTC on the 9th is the 10th in Đà Nẵng, 16:30 UTC is not
    assert run("export", "issued", "--since", "2024-03-10", "-o", out).code == 0
    assert [row[5] for row in csv_rows(out)[1:]] == ["HR003"]
    assert run("export", "issued", "--since", "2024-03-09", "-o", out).code == 0
    assert [row[5] for row in csv_rows(out)[1:]] == ["HR004", "HR003"]
    # locked: by the lock date, not the issue date
    assert run("export", "locked", "--since", "2024-03-06", "-o", out).code == 0
    assert [row[5] for row in csv_rows(out)[1:]] == ["HR005"]
    # pending: by the day the request was sent
    assert run("export", "pending", "--since", "2024-03-02", "-o", out).code == 0
    assert [row[5] for row in csv_rows(out)[1:]] == ["HR001"]
    # combined with --unit
    assert run("export", "issued", "--unit", "sgtvt", "--since", "2024-03-03", "-o", out).code == 0
    assert [row[5] for row in csv_rows(out)[1:]] == ["HR007", "HR004"]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["list.txt", "list.xls", "list.xlsx.bak"])
def test_bad_suffix_is_exit_2_and_writes_nothing(seeded, run, tmp_path, name):
    r = run("export", "issued", "-o", tmp_path / name)
    assert r.code == 2, r
    assert (
        "is not an export format; name the file .xlsx (a workbook, the default), .csv or .json"
        in r.err
    )
    assert not list(tmp_path.glob("list*"))


def test_a_workbook_by_default_csv_or_json_when_asked(seeded, run, tmp_path):
    """Issue 13 §3: .xlsx unless the name or --format asks; a mismatch is refused."""
    assert run("export", "issued", "-o", tmp_path / "list").code == 0
    assert sheet_rows(tmp_path / "list.xlsx")[0] == ISSUED_HEADERS
    assert run("export", "issued", "--format", "csv", "-o", tmp_path / "list").code == 0
    assert csv_rows(tmp_path / "list.csv")[0] == ISSUED_HEADERS
    assert run("export", "issued", "--format", "csv", "-o", tmp_path / "x.csv").code == 0
    r = run("export", "issued", "--format", "json", "-o", tmp_path / "y.xlsx")
    assert r.code == 2 and "the name says xlsx but --format says json" in r.err
    assert sorted(p.name for p in tmp_path.glob("[lxy]*.*")) == ["list.csv", "list.xlsx", "x.csv"]


def test_bad_options_are_exit_2(seeded, run, tmp_path):
    r = run("export", "issued", "--since", "10/03/2024", "-o", tmp_path / "x.csv")
    assert r.code == 2 and "YYYY-MM-DD" in r.err
    r = run("export", "issued", "--unit", "nope", "-o", tmp_path / "x.csv")
    assert r.code == 2 and "nope" in r.err
    r = run("export", "issued", "-o", tmp_path / "missing" / "x.csv")
    assert r.code == 2 and "does not exist" in r.err
    assert run("export", "issued").code == 2  # -o is required
    assert not (tmp_path / "x.csv").exists()


def test_a_failed_export_leaves_the_old_file_and_no_debris(seeded, run, tmp_path, monkeypatch):
    out = tmp_path / "issued.xlsx"
    out.write_bytes(b"yesterday's list")

    def broken(path, fmt, sheet):
        rows = iter(sheet.rows)
        path.write_bytes(b"half a file")
        next(rows)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports, "write", broken)
    r = run("export", "issued", "-o", out)
    assert r.code == 1, r
    assert "No space left on device" in r.err and "nothing was written" in r.err
    assert out.read_bytes() == b"yesterday's list"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    with Session(seeded) as s:  # and no audit event for an export that did not happen
        assert not s.scalar(select(AuditEvent.id).where(AuditEvent.action.like("export.%")))


def test_an_export_is_recorded_in_the_audit_trail(seeded, run, tmp_path):
    out = tmp_path / "issued.xlsx"
    assert (
        run("--as", "snv@danang.gov.vn", "export", "issued", "--unit", "snv", "-o", out).code == 0
    )
    with Session(seeded) as s:
        ev = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (ev.actor, ev.action, ev.target) == (
        "snv@danang.gov.vn",
        "export.issued",
        "file:issued.xlsx",
    )
    assert json.loads(ev.details) == {"format": "xlsx", "rows": 3, "unit": "snv", "since": None}


def test_audit_export(seeded, run, tmp_path):
    with Session(seeded) as s, s.begin():
        from dnmail.services import audit

        key = audit.AuditKey(b"k" * 32)
        s.info[audit.KEY_INFO] = key  # the way the runtime gives sessions the key
        audit.record(
            session=s,
            actor="=evil",
            action="mailbox.lock",
            target="mailbox:hungvv",
            at=datetime(2024, 3, 5, 1, 0, tzinfo=UTC),
            details={"note": "Nghỉ hưu"},
        )
    out = tmp_path / "audit.xlsx"
    assert run("export", "audit", "-o", out).code == 0
    rows = sheet_rows(out)
    assert rows[0] == AUDIT_HEADERS
    with Session(seeded) as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert len(rows) - 1 == len(events) - 1  # all but the export's own event, recorded after
    last = rows[-1]
    ev = events[-2]
    assert last == [
        len(rows) - 1,
        datetime(2024, 3, 5, 8, 0),
        "'=evil",
        "mailbox.lock",
        "mailbox:hungvv",
        '{"note":"Nghỉ hưu"}',
        ev.hash,
    ]
    doc_path = tmp_path / "audit.json"
    assert run("export", "audit", "--since", "2024-03-05", "-o", doc_path).code == 0
    doc = json.loads(doc_path.read_text(encoding="utf-8"))
    lock = next(r for r in doc["rows"] if r["action"] == "mailbox.lock")
    assert lock["actor"] == "=evil" and lock["details"] == {"note": "Nghỉ hưu"}
    assert lock["id"] == ev.id and lock["prev_hash"] == ev.prev_hash
    assert lock["mac"] == ev.mac == key.mac(ev.hash)  # checkable away from the database
    assert all(r["at"] >= "2024-03-04T17:00:00+00:00" for r in doc["rows"])


# --- streaming ------------------------------------------------------------------------------


def test_20000_rows_stream_to_xlsx_csv_and_json(engine, db_url, run, tmp_path, monkeypatch):
    n = 20_000
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with Session(engine) as s, s.begin():
        seed_units(s)
        rows = [
            {
                "hr_id": f"H{i:06d}",
                "full_name": f"Nguyễn Văn {i}",
                "name_key": f"nguyễnvăn{i}",
                "unit_code": "snv" if i % 2 else "sgtvt",
                "department": "Phòng" if i % 100 else "=x",
                "position": "",
                "phone": f"09{i:08d}",
                "hr_status": "active",
                "status_changed_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        s.execute(insert(Staff), rows)
        s.execute(
            insert(Mailbox),
            [
                {
                    "address": f"u{i}",
                    "base": "u",
                    "staff_hr_id": f"H{i:06d}",
                    "unit_code": r["unit_code"],
                    "dn": f"uid=u{i}",
                    "state": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, r in enumerate(rows)
            ],
        )
    seen_batches = []
    real_stream = exports._stream

    def spy(session, query, batch):
        seen_batches.append(batch)
        return real_stream(session, query, batch)

    monkeypatch.setattr(exports, "_stream", spy)
    out = tmp_path / "all.xlsx"
    rt = Runtime(Config(), actor="t", now=lambda: now, _db=Database(db_url, engine=engine))
    result = exports.export_list(rt, kind="issued", path=out, batch=1000)
    assert result.rows == n and seen_batches == [1000]
    # Counted in the sheet's XML: openpyxl would take longer to read the file back than
    # dnmail took to write it.
    with zipfile.ZipFile(out) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert xml.count("<row ") == n + 2  # and the title and the header
    assert f'<row r="{n + 2}">' in xml and "<f>" not in xml
    assert xml.count("<t>'=x</t>") == n // 100  # neutralised all the way down
    for fmt in ("csv", "json"):
        r = run("--format", "json", "export", "issued", "-o", tmp_path / f"all.{fmt}")
        assert r.json()["rows"] == n
    assert len(csv_rows(tmp_path / "all.csv")) == n + 1
    assert len(json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))["rows"]) == n


def test_rows_are_fetched_in_batches(seeded):
    """The query streams: the first rows reach the writer before the last are fetched
    (on PostgreSQL through a server-side cursor)."""
    with Session(seeded) as s, s.begin():
        q = exports._issued_query("danang.gov.vn", None, None)
        stream = exports._stream(s, q, 2)
        first = next(stream)
        assert first[4] == "HR007"
        if seeded.dialect.name == "postgresql":
            assert s.scalar(text("SELECT count(*) FROM pg_cursors")) == 1
        assert len(list(stream)) == 4


# --- writers --------------------------------------------------------------------------------


def _hidden_starter(text: str) -> bool:
    """A formula starter (tab and CR included) before the first visible character."""
    for ch in text:
        if ch in "=+-@\t\r＝＋－＠":
            return True
        if not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")):
            return False
    return False


@given(st.text())
@example(text=" \r")  # CR after a space: spreadsheets skip the space, then see the CR
def test_neutralise(text):
    out = neutralise(text)
    if text and text[0] in "=+-@\t\r":
        assert out == "'" + text
    elif _hidden_starter(text):  # issue 12 §5
        assert out == "'" + text
    else:
        assert out == text
    assert not out or out[0] not in "=+-@\t\r"


# A formula behind what nobody sees, or in full-width form (issue 12 §5).
HIDDEN_FORMULAS = [
    "\u3000=1+1",
    " =1+1",
    "\u200b+cmd|' /C calc'!A0",
    "\b-1+1",
    "\u00a0@SUM(A1)",
    '＝HYPERLINK("http://evil.example")',
    "＋1",
    "－1+1",
    "＠SUM(A1)",
    "\u2028=1",
]


@pytest.mark.parametrize("value", HIDDEN_FORMULAS)
def test_a_formula_behind_invisible_characters_is_neutralised(value, tmp_path):
    from dnmail.exports.writers import Column, write_csv, write_xlsx

    assert neutralise(value) == "'" + value
    columns = [Column("department", "Phòng ban")]
    write_csv(tmp_path / "x.csv", columns, [(value,)])
    assert csv_rows(tmp_path / "x.csv")[1][1] == "'" + value
    write_xlsx(tmp_path / "x.xlsx", columns, [(value,)], title="x")
    cell = openpyxl.load_workbook(tmp_path / "x.xlsx").active["B2"]
    assert cell.data_type == "s" and cell.value.startswith("'")


@pytest.mark.parametrize(
    "value", ["Nguyễn Văn An", " Văn phòng", "#1 Phòng", "'quoted", "\u3000Phòng"]
)
def test_plain_text_is_left_alone(value):
    assert neutralise(value) == value


def test_xlsx_writer_replaces_characters_xml_cannot_carry(tmp_path):
    path = tmp_path / "x.xlsx"
    cols = [writers.Column("a", "A"), writers.Column("b", "B")]
    writers.write_xlsx(path, cols, iter([("ab\x00c\x1f", "=\x07")]), title="t/[x]")
    ws = openpyxl.load_workbook(path).active
    assert [c.value for c in ws[2]] == [1, "ab\ufffdc\ufffd", "'=\ufffd"]
    assert ws.title == "t  x "


def test_xlsx_dates_are_vietnam_time_to_the_second(tmp_path):
    path = tmp_path / "d.xlsx"
    cols = [writers.Column("at", "At", "datetime", number_format="dd/mm/yyyy hh:mm:ss")]
    values = [
        datetime(2024, 3, 9, 16, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 0, 1, 5, tzinfo=UTC),
        datetime(1999, 1, 1, 0, 0, 37, tzinfo=UTC),
        None,
    ]
    writers.write_xlsx(path, cols, iter([(v,) for v in values]), title="t")
    ws = openpyxl.load_workbook(path).active
    assert [r[1].value for r in ws.iter_rows(min_row=2)] == [
        datetime(2024, 3, 9, 23, 59, 59),
        datetime(2025, 1, 1, 6, 0, 1),
        datetime(1999, 1, 1, 7, 0, 37),
        None,
    ]
    assert ws["B2"].is_date and ws["B2"].number_format == "dd/mm/yyyy hh:mm:ss"


def test_empty_exports_have_headers_only(engine, run, tmp_path):
    with Session(engine) as s, s.begin():
        seed_units(s)
    for fmt in ("xlsx", "csv", "json"):
        out = tmp_path / f"e.{fmt}"
        assert run("export", "locked", "-o", out).code == 0
    assert sheet_rows(tmp_path / "e.xlsx") == [LOCKED_HEADERS]
    assert csv_rows(tmp_path / "e.csv") == [LOCKED_HEADERS]
    assert json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))["rows"] == []


def test_parse_day_and_start_of_day():
    assert clock.parse_day("2024-03-10") == date(2024, 3, 10)
    assert clock.start_of_day(date(2024, 3, 10)) == datetime(2024, 3, 9, 17, 0, tzinfo=UTC)


def test_a_failure_reason_is_shown_in_the_readers_language(seeded, engine, run, tmp_path):
    """provision stores a failure reason as its message id and values (docs/translations.md):
    the Chờ cấp export prints it in Vietnamese, `queue list` in the interface's language,
    whichever language the run that failed spoke."""
    from sqlalchemy import update

    from dnmail import i18n
    from dnmail.db.models import Request
    from dnmail.domain.messages import message, stored
    from dnmail.i18n import N_

    reason = message(N_("requested address {local} is a reserved name"), local="admin")
    with Session(engine) as s, s.begin():
        s.execute(
            update(Request).where(Request.staff_hr_id == "HR009").values(last_error=stored(reason))
        )
    out = tmp_path / "pending.json"
    assert run("export", "pending", "-o", out).code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["rows"][1]["last_error"] == "địa chỉ đề nghị admin là tên dành riêng"
    r = run("--format", "json", "queue", "list")
    assert r.code == 0, r
    [failed] = [x for x in json.loads(r.out)["items"] if x["hr_id"] == "HR009"]
    assert failed["last_error"] == "requested address admin is a reserved name"
    try:
        r = run("--lang", "vi", "--format", "json", "queue", "list")
    finally:
        i18n.set_language("en")
    [failed] = [x for x in json.loads(r.out)["items"] if x["hr_id"] == "HR009"]
    assert failed["last_error"] == "địa chỉ đề nghị admin là tên dành riêng"
