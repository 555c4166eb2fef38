"""`dnmail sync`: an HR roster becomes staff changes and change/cancel requests, on
SQLite and PostgreSQL, with `provision` carrying them out against a real slapd."""

from __future__ import annotations

import csv
from pathlib import Path

import ldap3
import pytest
from sqlalchemy import func, select

from conftest import seed_staff, seed_units
from dnmail.config import SafetySettings
from dnmail.db.models import AuditEvent, Mailbox, Request, Staff
from dnmail.domain.states import LockReason, RequestKind
from dnmail.errors import Refused
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests
from dnmail.services.sync import check_brake, plan_sync

HEADERS = [
    "Mã hồ sơ",
    "Họ và tên",
    "Mã đơn vị",
    "Phòng ban",
    "Chức vụ",
    "Số điện thoại",
    "Trạng thái",
]
ACTIVE, RETIRED, RESIGNED, LEFT = "Đang công tác", "Nghỉ hưu", "Thôi việc", "Chuyển công tác"

# hr_id, name, unit, department, position, phone  (address the default pattern gives)
PEOPLE = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456"),  # thanhnq
    ("HR002", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "Chuyên viên", "0905000111"),  # hanhltm
    ("HR003", "Trần Đức", "snv", "Văn phòng", "Kế toán", "0905000222"),  # duct
    ("HR004", "Phạm Văn An", "sgtvt", "Phòng Kế hoạch", "Chuyên viên", ""),  # anpv
    ("HR005", "Hoàng Minh Khoa", "snv", "Thanh tra", "Thanh tra viên", "0905000333"),  # khoahm
    ("HR006", "Võ Thị Linh", "snv", "Văn phòng", "Văn thư", "0905000444"),  # linhvt
    ("HR007", "Bùi Hữu Dũng", "snv", "Phòng Tổ chức", "Phó Trưởng phòng", ""),  # dungbh
    ("HR008", "Đặng Ngọc Châu", "snv", "Văn phòng", "Chuyên viên", ""),  # no mailbox
    ("HR009", "Phan Thanh Tú", "snv", "Văn phòng", "Lái xe", ""),  # tupt
    ("HR010", "Huỳnh Văn Bình", "sgtvt", "Văn phòng", "Chuyên viên", ""),  # binhhv
]
ADDRESS = {
    "HR001": "thanhnq", "HR002": "hanhltm", "HR003": "duct", "HR004": "anpv",
    "HR005": "khoahm", "HR006": "linhvt", "HR007": "dungbh", "HR009": "tupt", "HR010": "binhhv",
}  # fmt: skip


def write_roster(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADERS)
        w.writerows(rows)
    return path


def roster_row(person, *, unit=None, phone=None, status=ACTIVE):
    hr, name, u, dept, pos, ph = person
    return [hr, name, unit or u, dept, pos, ph if phone is None else phone, status]


def queue(rt, unit, *hr_ids, kind=RequestKind.CREATE, reason=None):
    with rt.transaction() as s:
        return create_requests(
            session=s,
            config=rt.config,
            unit=unit,
            items=[NewRequest(h, kind, None, reason) for h in hr_ids],
            actor="test",
            now=rt.now(),
        )


def root_entry(info, uid):
    c = ldap3.Connection(info.url, info.root_dn, info.root_password, auto_bind=True)
    c.search(info.suffix, f"(uid={uid})", attributes=["*", "+"])
    out = [(e.entry_dn, e.entry_attributes_as_dict) for e in c.entries]
    c.unbind()
    return out


def counts(rt) -> dict:
    with rt.transaction() as s:
        return {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (Staff, Request, Mailbox, AuditEvent)
        }


@pytest.fixture
def world(rt):
    """Every PEOPLE member but HR008 has a mailbox; then HR007 has an open change,
    HR008 an open create, HR009 an open cancel."""
    with rt.transaction() as s:
        seed_units(s, ("snv", "sgtvt", "stttt"), config=rt.config)
        seed_staff(s, PEOPLE)
    queue(rt, "snv", *[p[0] for p in PEOPLE if p[2] == "snv" and p[0] != "HR008"])
    queue(rt, "sgtvt", "HR004", "HR010")
    summary = provision(rt)
    assert {i.hr_id: i.address for i in summary.items} == ADDRESS
    queue(rt, "snv", "HR007", kind=RequestKind.CHANGE)
    queue(rt, "snv", "HR008")
    queue(rt, "snv", "HR009", kind=RequestKind.CANCEL, reason=LockReason.OTHER)
    return rt


def hr_roster(tmp_path: Path) -> Path:
    """Transfers, retirements, a resignation, a person who left the city, a phone change,
    a new person; HR006 is missing."""
    p = {x[0]: x for x in PEOPLE}
    rows = [
        roster_row(p["HR001"], unit="sgtvt"),
        roster_row(p["HR002"], status=RETIRED),
        roster_row(p["HR003"], status=RESIGNED),
        roster_row(p["HR004"], status=LEFT),
        roster_row(p["HR005"], phone="0912345678"),
        roster_row(p["HR007"], status=RETIRED),
        roster_row(p["HR008"], status=RESIGNED),
        roster_row(p["HR009"], status=RETIRED),
        roster_row(p["HR010"]),
        ["HR100", "Trương Thị Mai", "stttt", "Văn phòng", "Chuyên viên", "0905999888", ACTIVE],
    ]
    return write_roster(tmp_path / "roster.csv", rows)


def open_requests(rt) -> dict[str, tuple[str, str, str | None]]:
    with rt.transaction() as s:
        return {
            r.staff_hr_id: (r.kind, r.unit_code, r.lock_reason)
            for r in s.scalars(select(Request).where(Request.state.in_(["pending", "failed"])))
        }


def by_kind(doc) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in doc["actions"]:
        out.setdefault(a["kind"], []).append(a["hr_id"])
    return {k: sorted(v) for k, v in out.items()}


EXPECTED = {
    "new-staff": ["HR100"],
    "move": ["HR001"],
    "update": ["HR005"],
    "lock": ["HR002", "HR003", "HR004", "HR007"],
    "withdraw": ["HR008"],
    "missing": ["HR006"],
    "skipped": ["HR009"],
}


def test_dry_run_reports_and_stores_nothing(world, cli, tmp_path):
    roster = hr_roster(tmp_path)
    before = counts(world)
    r = cli("--format", "json", "sync", roster)
    assert r.code == 0, r
    doc = r.json()
    assert doc["applied"] is False
    assert by_kind(doc) == EXPECTED
    assert doc["counts"] == {"withdraw-contradicted": 0} | {k: len(v) for k, v in EXPECTED.items()}
    assert all(a["request_id"] is None for a in doc["actions"])
    locks = {a["hr_id"]: a["lock_reason"] for a in doc["actions"] if a["kind"] == "lock"}
    assert locks == {
        "HR002": "retired",
        "HR003": "resigned",
        "HR004": "transferred",
        "HR007": "retired",
    }
    assert counts(world) == before
    with world.transaction() as s:
        assert s.get(Staff, "HR001").unit_code == "snv"
    # The table names every kind for people.
    t = cli("sync", roster)
    assert t.code == 0, t
    for label in ("Unit change", "Mailbox lock", "New staff", "Not in the roster"):
        assert label in t.out
    assert "dry run, nothing stored" in t.err


def test_apply_queues_then_provision_carries_out(world, cli, ldap, tmp_path):
    rt = world
    roster = hr_roster(tmp_path)
    with rt.transaction() as s:
        superseded = {
            r.staff_hr_id: r.id
            for r in s.scalars(
                select(Request).where(
                    Request.staff_hr_id.in_(["HR007", "HR008"]), Request.state == "pending"
                )
            )
        }
    r = cli("--format", "json", "sync", roster, "--apply")
    assert r.code == 0, r
    doc = r.json()
    assert doc["applied"] is True
    assert by_kind(doc) == EXPECTED
    queued = {a["hr_id"]: a["request_id"] for a in doc["actions"] if a["request_id"]}
    assert set(queued) == {"HR001", "HR005", "HR002", "HR003", "HR004", "HR007"}

    assert open_requests(rt) == {
        "HR001": ("change", "sgtvt", None),
        "HR005": ("change", "snv", None),
        "HR002": ("cancel", "snv", "retired"),
        "HR003": ("cancel", "snv", "resigned"),
        "HR004": ("cancel", "sgtvt", "transferred"),
        "HR007": ("cancel", "snv", "retired"),
        "HR009": ("cancel", "snv", "other"),  # was open already: left alone
    }
    with rt.transaction() as s:
        # The cancel superseded HR007's change; HR008's create is withdrawn (nothing to lock).
        assert {s.get(Request, i).state for i in superseded.values()} == {"withdrawn"}
        assert s.get(Staff, "HR001").unit_code == "sgtvt"
        assert s.get(Staff, "HR002").hr_status == "retired"
        assert s.get(Staff, "HR100").unit_code == "stttt"
        assert s.get(Staff, "HR006").hr_status == "active"  # missing: left alone
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        actions = [e.action for e in events]
        assert actions.count("request.withdraw") == 2
        assert {e.target for e in events if e.action == "request.withdraw"} == {
            f"request:{i}" for i in superseded.values()
        }
        assert (
            sum(1 for e in events if e.action == "request.create" and e.actor == "iid-admin") == 6
        )
        assert actions[-1] == "sync.apply"

    # Before provision: the same roster again queues nothing (the open requests cover it).
    again = cli("--format", "json", "sync", roster, "--apply")
    assert again.code == 0, again
    d2 = again.json()
    assert d2["counts"]["move"] == d2["counts"]["lock"] == d2["counts"]["update"] == 0
    assert d2["counts"]["new-staff"] == 0
    assert all(a["request_id"] is None for a in d2["actions"])
    assert len(open_requests(rt)) == 7

    summary = provision(rt)
    assert {i.state for i in summary.items} == {"done"}, summary.items
    # The transfer moved the entry to the new branch, keeping its address.
    [(dn, attrs)] = root_entry(ldap, "thanhnq")
    assert dn == f"uid=thanhnq,ou=sgtvt,ou=people,{ldap.suffix}"
    assert attrs["mail"] == ["thanhnq@danang.gov.vn"]
    assert "pwdAccountLockedTime" not in attrs
    # Leavers are locked (ppolicy): every bind fails, mail still arrives.
    for uid in ("hanhltm", "duct", "anpv", "dungbh", "tupt"):
        [(_dn, attrs)] = root_entry(ldap, uid)
        assert attrs.get("pwdAccountLockedTime"), uid
    [(_dn, attrs)] = root_entry(ldap, "khoahm")
    assert attrs["telephoneNumber"] == ["0912345678"]
    [(_dn, attrs)] = root_entry(ldap, "linhvt")
    assert "pwdAccountLockedTime" not in attrs  # missing from the roster: never locked
    with rt.transaction() as s:
        boxes = {m.staff_hr_id: m for m in s.scalars(select(Mailbox))}
    assert boxes["HR001"].unit_code == "sgtvt"
    assert {h: boxes[h].lock_reason for h in ("HR002", "HR003", "HR004", "HR007")} == {
        "HR002": "retired", "HR003": "resigned", "HR004": "transferred", "HR007": "retired",
    }  # fmt: skip

    # After provision: the same roster a third time queues nothing and skips nothing.
    third = cli("--format", "json", "sync", roster, "--apply")
    assert third.code == 0, third
    assert by_kind(third.json()) == {"missing": ["HR006"]}


def test_after_staff_import_sync_still_queues_from_the_mailboxes(world, cli, tmp_path):
    """`staff import` wrote the HR change first; the roster then equals the staff table,
    and sync must decide from the mailboxes."""
    roster = hr_roster(tmp_path)
    r = cli("staff", "import", roster)
    assert r.code == 0, r
    first = cli("--format", "json", "sync", roster, "--apply")
    assert first.code == 0, first
    kinds = by_kind(first.json())
    assert kinds == {k: v for k, v in EXPECTED.items() if k != "new-staff"}
    update = next(a for a in first.json()["actions"] if a["hr_id"] == "HR005")
    assert "changed since" in update["detail"]
    second = cli("--format", "json", "sync", roster, "--apply")
    assert all(a["request_id"] is None for a in second.json()["actions"])
    assert second.json()["counts"]["update"] == 0
    provision(world)
    third = cli("--format", "json", "sync", roster, "--apply")
    assert by_kind(third.json()) == {"missing": ["HR006"]}


@pytest.fixture
def big_unit(rt):
    """Unit snv with 10 active mailboxes (above safety.min_unit_size = 8)."""
    names = ["An", "Bình", "Châu", "Dũng", "Hà", "Khoa", "Linh", "Tú", "Hạnh", "Mai"]
    people = [
        (f"S{i:02d}", f"Nguyễn Văn {name}", "snv", "Văn phòng", "Chuyên viên", "")
        for i, name in enumerate(names)
    ]
    with rt.transaction() as s:
        seed_units(s, ("snv",), config=rt.config)
        seed_staff(s, people)
    queue(rt, "snv", *[p[0] for p in people])
    assert {i.state for i in provision(rt).items} == {"done"}
    return people


def test_safety_brake_stops_a_broken_roster(rt, big_unit, cli, tmp_path):
    # A broken export: 9 of the unit's 10 people "retired" (xlsx, as HR sends it).
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADERS)
    for i, p in enumerate(big_unit):
        ws.append(roster_row(p, status=ACTIVE if i == 0 else RETIRED))
    roster = tmp_path / "broken.xlsx"
    wb.save(roster)

    before = counts(rt)
    r = cli("sync", roster, "--apply")
    assert r.code == 1, r
    assert "safety brake" in r.err
    assert "unit snv: 9 of its 10 active mailboxes" in r.err
    assert "safety.max_lock_share = 25%" in r.err
    assert "--force" in r.err
    assert counts(rt) == before  # nothing stored: no staff change, no request, no event
    with rt.transaction() as s:
        assert s.get(Staff, "S05").hr_status == "active"
    # The dry run shows the plan and says the brake would hold (exit 1 too).
    dry = cli("--format", "json", "sync", roster)
    assert dry.code == 1
    assert dry.json()["counts"]["lock"] == 9
    assert dry.json()["brake"]
    assert counts(rt) == before

    forced = cli("--format", "json", "sync", roster, "--apply", "--force")
    assert forced.code == 0, forced
    assert forced.json()["forced"] is True
    assert sum(1 for v in open_requests(rt).values() if v == ("cancel", "snv", "retired")) == 9
    with rt.transaction() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "sync.apply")).one()
        assert '"forced":true' in ev.details


def test_brake_on_total_count_and_small_units(rt, big_unit, tmp_path):
    roster = write_roster(
        tmp_path / "r.csv",
        [roster_row(p, status=RETIRED if i < 2 else ACTIVE) for i, p in enumerate(big_unit)],
    )
    with rt.transaction() as s:
        _, actions = plan_sync(roster, session=s, config=rt.config)
        assert check_brake(actions, SafetySettings(), session=s) == []  # 2 of 10 ≤ 25 %
        [reason] = check_brake(actions, SafetySettings(max_lock_count=1), session=s)
        assert (
            "2 mailboxes would be locked in this run, more than safety.max_lock_count = 1" in reason
        )
        # Units smaller than min_unit_size are exempt from the share rule.
        small = SafetySettings(max_lock_share=0.1, min_unit_size=11)
        assert check_brake(actions, small, session=s) == []
        assert check_brake(actions, SafetySettings(max_lock_share=0.1, min_unit_size=10), session=s)


def test_apply_is_all_or_nothing(world, cli, tmp_path, monkeypatch):
    """A failure while queueing (here: a request raced in for one unit) leaves nothing."""
    import dnmail.services.sync as sync_mod

    calls = []
    real = sync_mod.create_requests

    def failing(**kw):
        calls.append(kw["unit"])
        if len(calls) == 2:
            raise Refused("request refused: another request was queued at the same moment")
        return real(**kw)

    monkeypatch.setattr(sync_mod, "create_requests", failing)
    before = counts(world)
    r = cli("sync", hr_roster(tmp_path), "--apply")
    assert r.code == 1, r
    assert len(calls) == 2
    assert counts(world) == before
    with world.transaction() as s:
        assert s.get(Staff, "HR002").hr_status == "active"
        assert (
            s.scalar(select(func.count()).select_from(Request).where(Request.state == "withdrawn"))
            == 0
        )


def test_bad_roster_is_refused_whole(world, cli, tmp_path):
    roster = write_roster(
        tmp_path / "bad.csv",
        [roster_row(PEOPLE[0], unit="nope"), roster_row(PEOPLE[1], status=RETIRED)],
    )
    before = counts(world)
    r = cli("sync", roster, "--apply")
    assert r.code == 2, r
    assert "unknown unit code 'nope'" in r.err and "row 2" in r.err
    assert counts(world) == before
