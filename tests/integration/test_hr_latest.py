"""HR's latest word wins (issue 14 §2): a wrong roster forced through, then the right
one before (or after part of) the night's `provision`. The open requests the right
roster contradicts are withdrawn, with an audit event naming it, and replaced by what
it asks; the safety brake does not hold it; nobody HR says is working ends up locked
by a request HR took back. Real slapd, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import ldap3
import pytest
from sqlalchemy import select

from conftest import seed_staff, seed_units
from dnmail.db.models import AuditEvent, Mailbox, Request
from dnmail.domain.states import LockReason, RequestKind
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests
from support.workbooks import write_roster

ACTIVE, RETIRED, RESIGNED = "Đang công tác", "Nghỉ hưu", "Thôi việc"
NAMES = ["An", "Bình", "Châu", "Dũng", "Hà", "Khoa", "Linh", "Tú", "Hạnh", "Mai"]
# snv: ten people (above safety.min_unit_size = 8, so its 25 % share rule applies).
PEOPLE = [
    (f"S{i:02d}", f"Nguyễn Văn {n}", "snv", "Văn phòng", "Chuyên viên", f"09050000{i:02d}")
    for i, n in enumerate(NAMES)
] + [("G00", "Trần Thị Hoa", "sgtvt", "Văn phòng", "Chuyên viên", "0905111000")]


def row(person, *, unit=None, status=ACTIVE, phone=None, position=None):
    hr, name, u, dept, pos, ph = person
    return [hr, name, unit or u, dept, position or pos, phone or ph, status]


def right_roster(tmp_path: Path, name: str = "right.csv", **overrides) -> Path:
    """Everyone working where they are; `overrides`: hr_id → row() keyword arguments."""
    return write_roster(tmp_path / name, [row(p, **overrides.get(p[0], {})) for p in PEOPLE])


@pytest.fixture
def office(rt):
    with rt.transaction() as s:
        seed_units(s, ("snv", "sgtvt", "stttt"), config=rt.config)
        seed_staff(s, PEOPLE)
    for unit in ("snv", "sgtvt"):
        with rt.transaction() as s:
            create_requests(
                session=s, config=rt.config, unit=unit, actor="test", now=rt.now(),
                items=[NewRequest(p[0], RequestKind.CREATE) for p in PEOPLE if p[2] == unit],
            )
    assert {i.state for i in provision(rt).items} == {"done"}
    return rt


def sync(cli, roster, *extra):
    r = cli("--format", "json", "sync", roster, *extra)
    return r, r.json() if r.out.strip() else None


def by_kind(doc) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in doc["actions"]:
        out.setdefault(a["kind"], []).append(a["hr_id"])
    return {k: sorted(v) for k, v in out.items()}


def requests_of(rt) -> dict[int, Request]:
    with rt.transaction() as s:
        return {r.id: r for r in s.scalars(select(Request))}


def open_ids(rt) -> dict[str, tuple[int, str, str]]:
    return {
        r.staff_hr_id: (r.id, r.kind, r.unit_code)
        for r in requests_of(rt).values()
        if r.state in ("pending", "failed")
    }


def withdraw_events(rt) -> dict[int, dict]:
    with rt.transaction() as s:
        return {
            int(e.target.split(":")[1]): json.loads(e.details)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "request.withdraw"))
        }


def entry(info, uid):
    c = ldap3.Connection(info.url, info.root_dn, info.root_password, auto_bind=True)
    c.search(info.suffix, f"(uid={uid})", attributes=["*", "+"])
    [e] = c.entries
    out = (e.entry_dn, e.entry_attributes_as_dict)
    c.unbind()
    return out


def addresses(rt) -> dict[str, Mailbox]:
    with rt.transaction() as s:
        return {m.staff_hr_id: m for m in s.scalars(select(Mailbox))}


def locked_in_directory(rt, info) -> set[str]:
    return {
        hr for hr, m in addresses(rt).items()
        if entry(info, m.address)[1].get("pwdAccountLockedTime")
    }


WRONG_RESIGNED = [f"S{i:02d}" for i in range(1, 10)]  # 9 of snv's 10: the brake holds


def wrong_resignations(tmp_path: Path) -> Path:
    return right_roster(
        tmp_path, "wrong.csv", **{hr: {"status": RESIGNED} for hr in WRONG_RESIGNED}
    )


def force_wrong(cli, roster):
    held, _ = sync(cli, roster, "--apply")
    assert held.code == 1 and "safety brake" in held.err, held
    forced, doc = sync(cli, roster, "--apply", "--force")
    assert forced.code == 0, forced
    return doc


def test_cancel_withdrawn_when_hr_says_working_again(office, cli, ldap, tmp_path):
    rt = office
    force_wrong(cli, wrong_resignations(tmp_path))
    cancels = open_ids(rt)
    assert sorted(cancels) == WRONG_RESIGNED
    assert {k for _i, k, _u in cancels.values()} == {"cancel"}

    right = right_roster(tmp_path)
    # The dry run shows the withdrawals and changes nothing.
    before = requests_of(rt)
    dry, doc = sync(cli, right)
    assert dry.code == 0, dry
    assert by_kind(doc) == {"withdraw-contradicted": WRONG_RESIGNED}
    assert doc["brake"] == [] and doc["counts"]["withdraw-contradicted"] == 9
    assert {a["contradiction"] for a in doc["actions"]} == {"hr-active-again"}
    assert {r.id: r.state for r in requests_of(rt).values()} == {
        r.id: r.state for r in before.values()
    }
    table = cli("sync", right)
    assert "Withdrawn: HR says otherwise" in table.out
    assert "dry run, nothing stored" in table.err

    # Applied without --force: withdrawals that keep people working are not braked.
    r, doc = sync(cli, right, "--apply")
    assert r.code == 0, r
    assert doc["forced"] is False and doc["brake"] == []
    assert by_kind(doc) == {"withdraw-contradicted": WRONG_RESIGNED}
    assert open_ids(rt) == {}
    states = {r.id: r.state for r in requests_of(rt).values()}
    assert {states[i] for i, _k, _u in cancels.values()} == {"withdrawn"}
    events = withdraw_events(rt)
    for i, _k, _u in cancels.values():
        assert events[i]["file"] == "right.csv"
        assert events[i]["by"] == "sync" and events[i]["reason"] == "hr-active-again"
        assert len(events[i]["sha256"]) == 64
    with rt.transaction() as s:
        applied = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "sync.apply").order_by(AuditEvent.id)
        ).all()[-1]
    assert applied.target == "file:right.csv"
    details = json.loads(applied.details)
    assert sorted(details["contradicted"]) == sorted(i for i, _k, _u in cancels.values())
    assert details["forced"] is False

    assert provision(rt).items == []
    assert locked_in_directory(rt, ldap) == set()
    # The same roster again: nothing to do (no update for the status that came back).
    again, doc = sync(cli, right, "--apply")
    assert again.code == 0 and doc["actions"] == []


def test_cancel_withdrawn_after_staff_import_of_the_right_roster(office, cli, ldap, tmp_path):
    """`staff import` of the right roster came first: the staff table already says
    working, and sync still withdraws the cancels HR took back."""
    rt = office
    force_wrong(cli, wrong_resignations(tmp_path))
    right = right_roster(tmp_path)
    assert cli("staff", "import", right).code == 0
    r, doc = sync(cli, right, "--apply")
    assert r.code == 0, r
    assert by_kind(doc) == {"withdraw-contradicted": WRONG_RESIGNED}
    assert provision(rt).items == []
    assert locked_in_directory(rt, ldap) == set()


def test_cancel_of_the_unit_is_kept(office, cli, tmp_path):
    """A cancel the unit asked for (reason other) states no HR status: HR's roster
    saying the person works does not withdraw it."""
    rt = office
    with rt.transaction() as s:
        [v] = create_requests(
            session=s, config=rt.config, unit="snv", actor="test", now=rt.now(),
            items=[NewRequest("S03", RequestKind.CANCEL, None, LockReason.OTHER)],
        )
    r, doc = sync(cli, right_roster(tmp_path), "--apply")
    assert r.code == 0 and doc["actions"] == []
    assert open_ids(rt) == {"S03": (v.id, "cancel", "snv")}


def test_lock_reason_changed_replaces_the_cancel(office, cli, ldap, tmp_path):
    rt = office
    force_wrong(cli, wrong_resignations(tmp_path))
    old = open_ids(rt)
    retired = right_roster(
        tmp_path, "retired.csv", **{hr: {"status": RETIRED} for hr in WRONG_RESIGNED}
    )
    # Nine locks still, but the queue had them already: the brake does not count them.
    r, doc = sync(cli, retired, "--apply")
    assert r.code == 0, r
    assert by_kind(doc) == {"withdraw-contradicted": WRONG_RESIGNED, "lock": WRONG_RESIGNED}
    assert {a["contradiction"] for a in doc["actions"] if a["contradiction"]} == {
        "lock-reason-changed"
    }
    new = open_ids(rt)
    assert sorted(new) == WRONG_RESIGNED and not set(new.values()) & set(old.values())
    provision(rt)
    assert locked_in_directory(rt, ldap) == set(WRONG_RESIGNED)
    assert {addresses(rt)[hr].lock_reason for hr in WRONG_RESIGNED} == {"retired"}


def test_move_withdrawn_when_hr_says_the_old_unit(office, cli, ldap, tmp_path):
    rt = office
    moved = {"S01": {"unit": "sgtvt"}, "S02": {"unit": "sgtvt"}}
    r, doc = sync(cli, right_roster(tmp_path, "wrong.csv", **moved), "--apply")
    assert r.code == 0 and by_kind(doc) == {"move": ["S01", "S02"]}
    boxes = addresses(rt)
    for hr in ("S01", "S02"):  # the old unit's officer lost them at once
        assert "dnmail-transfer" in entry(ldap, boxes[hr].address)[1]["employeeType"]
    moves = open_ids(rt)

    # HR: S01 stays in snv after all, S02 goes to stttt instead.
    right = right_roster(tmp_path, S02={"unit": "stttt"})
    r, doc = sync(cli, right, "--apply")
    assert r.code == 0, r
    assert by_kind(doc) == {"withdraw-contradicted": ["S01", "S02"], "move": ["S02"]}
    replacement = next(a for a in doc["actions"] if a["kind"] == "move")
    assert replacement["replaces"] == moves["S02"][0]
    events = withdraw_events(rt)
    assert {events[moves[h][0]]["reason"] for h in ("S01", "S02")} == {"unit-changed"}
    assert open_ids(rt)["S02"][1:] == ("change", "stttt")
    # S01 is snv's again: the mark is gone; S02 is still marked (moving).
    assert "dnmail-transfer" not in entry(ldap, boxes["S01"].address)[1].get("employeeType", [])
    assert "dnmail-transfer" in entry(ldap, boxes["S02"].address)[1]["employeeType"]

    assert {i.hr_id for i in provision(rt).items} == {"S02"}
    assert entry(ldap, boxes["S01"].address)[0].startswith(f"uid={boxes['S01'].address},ou=snv,")
    assert entry(ldap, boxes["S02"].address)[0].startswith(f"uid={boxes['S02'].address},ou=stttt,")
    again, doc = sync(cli, right, "--apply")
    assert again.code == 0 and doc["actions"] == []


def test_change_withdrawn_when_hr_reverts_the_values(office, cli, ldap, tmp_path):
    rt = office
    wrong = right_roster(
        tmp_path, "wrong.csv",
        S01={"phone": "0999999999"}, S02={"position": "Giám đốc", "phone": "0999999998"},
    )
    r, doc = sync(cli, wrong, "--apply")
    assert r.code == 0 and by_kind(doc) == {"update": ["S01", "S02"]}
    changes = open_ids(rt)
    # HR takes back S01's phone and S02's phone, but S02's new position stands.
    right = right_roster(tmp_path, S02={"position": "Giám đốc"})
    r, doc = sync(cli, right, "--apply")
    assert r.code == 0, r
    assert by_kind(doc) == {"withdraw-contradicted": ["S01"], "skipped": ["S02"]}
    assert withdraw_events(rt)[changes["S01"][0]]["reason"] == "values-reverted"
    assert open_ids(rt) == {"S02": changes["S02"]}
    provision(rt)
    boxes = addresses(rt)
    assert entry(ldap, boxes["S01"].address)[1]["telephoneNumber"] == ["0905000001"]
    attrs = entry(ldap, boxes["S02"].address)[1]
    assert attrs["title"] == ["Giám đốc"] and attrs["telephoneNumber"] == ["0905000002"]
    again, doc = sync(cli, right, "--apply")
    assert again.code == 0 and doc["actions"] == []


def test_provision_in_between_for_part_of_the_queue(office, cli, ldap, tmp_path):
    """The wrong roster (resignations, moves, a phone) forced through; `provision` runs
    for part of its queue; then the right roster. What was done is not undone: the
    people locked are reported for `dnmail unlock`; the rest is withdrawn."""
    rt = office
    wrong = right_roster(
        tmp_path, "wrong.csv",
        **{hr: {"status": RESIGNED} for hr in WRONG_RESIGNED[2:]},  # S03..S09: 7 of 10
        S01={"unit": "sgtvt"}, S02={"unit": "sgtvt", "phone": "0999999999"},
    )
    force_wrong(cli, wrong)
    queued = open_ids(rt)
    done_now = [queued[h][0] for h in ("S03", "S04", "S01")]
    assert {i.state for i in provision(rt, done_now).items} == {"done"}
    assert locked_in_directory(rt, ldap) == {"S03", "S04"}

    right = right_roster(tmp_path)
    r, doc = sync(cli, right, "--apply")
    assert r.code == 0, r  # no --force: the brake did not hold the correcting roster
    assert doc["brake"] == []
    kinds = by_kind(doc)
    assert kinds["withdraw-contradicted"] == ["S02", "S05", "S06", "S07", "S08", "S09"]
    assert kinds["move"] == ["S01"]  # moved already: moved back (a new request)
    assert kinds["skipped"] == ["S03", "S04"]
    for a in doc["actions"]:
        if a["kind"] == "skipped":
            assert "dnmail unlock" in a["detail"]
    events = withdraw_events(rt)
    for hr in ("S02", "S05", "S06", "S07", "S08", "S09"):
        assert events[queued[hr][0]]["file"] == "right.csv"

    provision(rt)
    assert locked_in_directory(rt, ldap) == {"S03", "S04"}  # done, not undone
    boxes = addresses(rt)
    assert entry(ldap, boxes["S01"].address)[0].startswith(f"uid={boxes['S01'].address},ou=snv,")
    assert entry(ldap, boxes["S02"].address)[1]["telephoneNumber"] == ["0905000002"]
    for hr in ("S03", "S04"):
        assert cli("unlock", boxes[hr].address).code == 0
    assert locked_in_directory(rt, ldap) == set()
    assert {m.state for m in addresses(rt).values()} == {"active"}
