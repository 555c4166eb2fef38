"""Handout files and the order of effects of a password (issue 12 §4).

Attacks reproduced here, each refused with nothing changed: a handout written through
a planted symlink or onto an existing file (as root, `--handout /dev/null` once made
/dev/null 0600), a predictable name planted in a directory others can write, a handout
directory of another user. And the order of effects: the handout is written first
(temporary name), then the password is changed, then the file is published; on any
failure nothing changed, or the password is shown and the change said — never lost.
SQLite and PostgreSQL, a real slapd.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import seed_staff, seed_units
from conftest_slapd import bind_result, root
from dnmail.db.models import AuditEvent, Request
from dnmail.domain.states import RequestKind
from dnmail.exports.handouts import HandoutError
from dnmail.services import accounts
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests
from support.handouts import handout_rows

pytestmark = pytest.mark.slapd

PEOPLE = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456"),
    ("HR002", "Trần Đức", "snv", "Văn phòng", "Kế toán", "02363822222"),
]
NOBODY = 65534


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def queue(rt, *hr_ids: str) -> None:
    with rt.transaction() as s:
        create_requests(session=s, config=rt.config, unit="snv",
                        items=[NewRequest(h, RequestKind.CREATE) for h in hr_ids],
                        actor="t", now=rt.now())


def audit_count(rt, action: str) -> int:
    with rt.transaction(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == action))


@pytest.fixture
def world(rt, tmp_path):
    """Unit snv with one mailbox, thanhnq, whose handout password is returned."""
    with rt.transaction() as s:
        seed_units(s, config=rt.config)
        seed_staff(s, PEOPLE)
    queue(rt, "HR001")
    out = tmp_path / "first"
    summary = provision(rt, handout_dir=out)
    [item] = summary.done
    [f] = summary.handouts
    [row] = handout_rows(f)
    return rt, item.dn, row["Mật khẩu"]


# --- where a handout may be written -------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the attack is root's: /dev/null is root's file")
def test_handout_onto_dev_null_is_refused_and_dev_null_keeps_its_mode(world, ldap, cli):
    rt, dn, password = world
    before = mode(Path("/dev/null"))
    try:
        r = cli("reset-password", "thanhnq", "--handout", "/dev/null")
    finally:  # never leave the host's /dev/null broken, whatever the code under test did
        after = mode(Path("/dev/null"))
        if after != before:
            os.chmod("/dev/null", before)
    assert after == before, f"dnmail changed /dev/null to {after:o}"
    assert r.code == 2, r
    assert "/dev/null exists already: a handout never reuses or overwrites a file" in r.err
    assert bind_result(ldap, dn, password) == 0  # nothing changed
    assert audit_count(rt, "mailbox.reset-password") == 0


def test_a_planted_symlink_is_never_followed(world, ldap, cli, tmp_path):
    rt, dn, password = world
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    trap = tmp_path / "reset.csv"
    trap.symlink_to(victim)
    r = cli("reset-password", "thanhnq", "--handout", trap)
    assert r.code == 2 and "exists already" in r.err, r
    assert victim.read_text() == "precious\n" and mode(victim) == 0o644
    dangling = tmp_path / "reset2.csv"
    dangling.symlink_to(tmp_path / "created-by-the-attacker.csv")
    r = cli("reset-password", "thanhnq", "--handout", dangling)
    assert r.code == 2 and "exists already" in r.err, r
    assert not (tmp_path / "created-by-the-attacker.csv").exists()
    assert bind_result(ldap, dn, password) == 0


def test_an_existing_handout_is_never_overwritten(world, cli, tmp_path):
    rt, _, _ = world
    old = tmp_path / "old.csv"
    old.write_text("a handout not yet handed over\n")
    old.chmod(0o600)
    r = cli("reset-password", "thanhnq", "--handout", old)
    assert r.code == 2 and "exists already" in r.err, r
    assert old.read_text() == "a handout not yet handed over\n"


@pytest.mark.parametrize("bits", [0o777, 0o1777, 0o770, 0o730])
def test_a_handout_directory_others_may_write_is_refused(world, ldap, cli, tmp_path, bits):
    rt, dn, password = world
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(bits)
    queue(rt, "HR002")
    r = cli("provision", "--handout-dir", shared)
    assert r.code == 2, r
    assert f"handout directory {shared} is writable by other users" in r.err
    assert f"run: chmod go-w {shared}" in r.err
    assert list(shared.iterdir()) == []
    with rt.transaction(readonly=True) as s:  # nothing done, nothing created
        assert s.scalar(select(Request.state).where(Request.staff_hr_id == "HR002")) == "pending"
    assert bind_result(ldap, dn, password) == 0
    r = cli("reset-password", "thanhnq", "--handout", shared / "reset.csv")
    assert r.code == 2 and "is writable by other users" in r.err, r
    assert bind_result(ldap, dn, password) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory away")
def test_a_handout_directory_of_another_user_is_refused(world, cli, tmp_path):
    rt, _, _ = world
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    r = cli("unit", "set-password", "snv", "--handout", theirs / "snv.csv")
    assert r.code == 2, r
    assert f"handout directory {theirs} belongs to" in r.err and "uid 65534" in r.err


def test_handout_names_cannot_be_guessed_and_planted_files_are_ignored(world, ldap, tmp_path):
    """The old attack: another user planted handout-<unit>-<stamp>.csv (now .xlsx,
    readable by them) under the name dnmail was about to use, and read a new mailbox's
    password."""
    rt, _, _ = world
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    stamp = rt.now().strftime("%Y%m%dT%H%M%S")
    planted = out / f"handout-snv-{stamp}.xlsx"
    planted.write_text("")
    planted.chmod(0o666)
    queue(rt, "HR002")
    summary = provision(rt, handout_dir=out)
    [f] = summary.handouts
    assert f != planted and planted.read_text() == ""
    assert f.name.startswith(f"handout-snv-{stamp}-") and len(f.name) > len(planted.name) + 4
    assert mode(f) == 0o600
    [row] = handout_rows(f)
    assert bind_result(ldap, summary.done[0].dn, row["Mật khẩu"]) == 0
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_a_missing_handout_directory_is_made_private(world, tmp_path):
    rt, _, _ = world
    queue(rt, "HR002")
    out = tmp_path / "new" / "handouts"
    summary = provision(rt, handout_dir=out)
    assert summary.handouts and mode(out) == 0o700


# --- the order of effects -----------------------------------------------------------


def test_reset_with_a_dead_directory_leaves_no_handout_and_no_event(world, tmp_path,
                                                                    monkeypatch):
    """The handout is written first, under a temporary name; the password change then
    fails: the file is removed and nothing is recorded."""
    rt, _, _ = world
    out = tmp_path / "out"
    out.mkdir(mode=0o700)

    def unreachable(*a, **k):
        from dnmail.errors import DirectoryUnavailable

        assert [p for p in out.iterdir() if p.name.endswith(".part")], "handout not written first"
        raise DirectoryUnavailable("cannot reach the directory ldap://127.0.0.1:9")

    monkeypatch.setattr(type(rt.directory), "set_password", unreachable)
    from dnmail.errors import DirectoryUnavailable

    with pytest.raises(DirectoryUnavailable):
        accounts.reset_password(rt, "thanhnq", handout=out / "reset.csv")
    assert list(out.iterdir()) == []
    assert audit_count(rt, "mailbox.reset-password") == 0


@pytest.mark.parametrize("with_handout", [False, True])
def test_a_database_failing_after_the_change_never_loses_the_password(world, ldap, tmp_path,
                                                                      monkeypatch, with_handout):
    """The directory changed the password, then the commit failed: the password is
    shown (or its handout published) and the result says it was not recorded."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    rt, dn, old = world

    def broken_commit(self):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", broken_commit)
    handout = tmp_path / "out" / "reset.csv" if with_handout else None
    r = accounts.reset_password(rt, "thanhnq", handout=handout)
    monkeypatch.undo()
    assert r.unrecorded and "WAS changed" in r.unrecorded and "disk I/O error" in r.unrecorded
    if with_handout:
        assert r.password is None and r.handout == handout and mode(handout) == 0o600
        [row] = handout_rows(handout)
        new = row["Mật khẩu"]
    else:
        new = r.password
    assert bind_result(ldap, dn, new) == 0 and bind_result(ldap, dn, old) == 49


def test_the_cli_shows_an_unrecorded_password_and_exits_3(world, ldap, cli, monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    rt, dn, _ = world
    real = Session.commit
    calls = []

    def commit(self):
        # Other units of work (the operator's check) commit; the reset's fails.
        if self.info.get("dnmail_fail"):
            calls.append(1)
            raise OperationalError("COMMIT", {}, Exception("database is locked"))
        return real(self)

    original_flush = Session.flush

    def flush(self, *a, **k):
        if any(isinstance(o, AuditEvent) for o in self.new):
            self.info["dnmail_fail"] = True
        return original_flush(self, *a, **k)

    monkeypatch.setattr(Session, "commit", commit)
    monkeypatch.setattr(Session, "flush", flush)
    r = cli("--format", "json", "reset-password", "thanhnq")
    monkeypatch.undo()
    assert calls and r.code == 3, r
    password = r.json()["password"]
    assert bind_result(ldap, dn, password) == 0
    assert "the password WAS changed in the directory" in r.err


def test_provision_handouts_that_cannot_be_written_show_the_passwords(world, ldap, tmp_path,
                                                                      monkeypatch):
    """A full disk after the directory made the mailboxes: the chunk is still recorded
    (it happened) and the passwords are returned to be shown, never lost."""
    import dnmail.exports.handouts as handouts

    rt, _, _ = world
    queue(rt, "HR002")
    out = tmp_path / "out"

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(handouts.os, "fsync", full)
    summary = provision(rt, handout_dir=out)
    monkeypatch.undo()
    [item] = summary.items
    assert item.state == "done" and item.password and not item.handed_out
    assert "could not be written" in summary.handout_problem
    assert "No space left on device" in summary.handout_problem
    assert bind_result(ldap, item.dn, item.password) == 0
    with rt.transaction(readonly=True) as s:
        assert s.scalar(select(Request.state).where(Request.staff_hr_id == "HR002")) == "done"


def test_a_handout_that_cannot_be_written_stops_the_run_after_that_chunk(world, ldap, tmp_path,
                                                                      monkeypatch):
    """Passwords on the screen are the last resort: after the first chunk whose handout
    fails, nothing more is made; the rest of the queue waits, pending, for the next run."""
    import dnmail.exports.handouts as handouts

    rt, _, _ = world
    with rt.transaction() as s:
        seed_staff(s, [("HR003", "Lê Thị Hoa", "snv", "Văn phòng", "Chuyên viên", "0905000003"),
                       ("HR004", "Phạm Văn Bình", "snv", "Văn phòng", "Chuyên viên", "0905000004")])
    queue(rt, "HR002", "HR003", "HR004")
    monkeypatch.setattr(rt, "config", replace(
        rt.config, provision=replace(rt.config.provision, chunk_size=1)))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(handouts.os, "fsync", full)
    summary = provision(rt, handout_dir=tmp_path / "out")
    monkeypatch.undo()
    [item] = summary.items  # one chunk of one, then the run stopped
    assert item.state == "done" and item.password and not item.handed_out
    assert "stay pending" in summary.handout_problem
    with rt.transaction(readonly=True) as s:
        states = dict(s.execute(select(Request.staff_hr_id, Request.state)
                                .where(Request.staff_hr_id.in_(["HR002", "HR003", "HR004"]))).all())
    assert sorted(states.values()) == ["done", "pending", "pending"]
    again = provision(rt, handout_dir=tmp_path / "again")  # the disk is mended: the rest
    assert len(again.done) == 2 and all(i.handed_out for i in again.done)
    assert not again.handout_problem


def test_provision_cli_exit_3_and_the_password_when_the_handout_fails(world, ldap, cli,
                                                                      tmp_path, monkeypatch):
    import dnmail.exports.handouts as handouts

    rt, _, _ = world
    queue(rt, "HR002")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(handouts.os, "fsync", full)
    r = cli("--format", "json", "provision", "--handout-dir", tmp_path / "out")
    monkeypatch.undo()
    assert r.code == 3, r
    [item] = r.json()["items"]
    assert bind_result(ldap, item["dn"], item["password"]) == 0
    assert "are shown instead" in r.err and "stay pending" in r.err


def test_a_handout_that_cannot_be_created_changes_nothing(world, ldap, tmp_path, monkeypatch):
    """Creating the file fails (a full disk): nothing was sent to the directory."""
    import dnmail.exports.handouts as handouts

    rt, _, _ = world
    queue(rt, "HR002")
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    real_open = os.open

    def no_space(path, flags, mode=0o777, **kw):
        if str(path).startswith(str(out)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(handouts.os, "open", no_space)
    with pytest.raises(HandoutError, match="cannot create a handout"):
        provision(rt, handout_dir=out)
    monkeypatch.undo()
    with rt.transaction(readonly=True) as s:
        assert s.scalar(select(Request.state).where(Request.staff_hr_id == "HR002")) == "pending"
    conn = root(ldap)
    conn.search(f"ou=people,{ldap.suffix}", "(employeeNumber=HR002)")
    assert conn.entries == []
    conn.unbind()


# --- the format of provision's handouts (issue 13 §3) --------------------------------


def test_provision_handouts_are_printable_workbooks_one_per_unit(world, ldap, tmp_path,
                                                                 monkeypatch):
    """A unit's handout is one workbook whatever the number of chunks (rewritten whole in
    the same private file): a title row with the unit and the date, the header frozen
    and repeated on every printed page, A4 landscape one page wide, the phone and the
    password as text cells exactly as they are."""
    from openpyxl import load_workbook

    rt, _, _ = world
    with rt.transaction() as s:
        seed_staff(s, [("HR003", "Lê Thị Hoa", "snv", "Văn phòng", "Chuyên viên", "0905000003")])
    queue(rt, "HR002", "HR003")
    monkeypatch.setattr(rt, "config", replace(
        rt.config, provision=replace(rt.config.provision, chunk_size=1)))
    out = tmp_path / "out"
    summary = provision(rt, handout_dir=out)
    [f] = summary.handouts
    assert f.suffix == ".xlsx" and mode(f) == 0o600 and len(summary.done) == 2
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    rows = handout_rows(f)
    assert [r["STT"] for r in rows] == [1, 2]
    by_phone = {r["Số điện thoại"]: r for r in rows}
    assert set(by_phone) == {"02363822222", "0905000003"}  # the leading 0 kept
    for item in summary.done:
        [row] = [r for r in rows if r["Tên hộp thư"] == f"{item.address}@danang.gov.vn"]
        assert bind_result(ldap, item.dn, row["Mật khẩu"]) == 0
    ws = load_workbook(f).active
    title = ws["A1"].value
    assert title.startswith("Mật khẩu hộp thư được cấp — Đơn vị: ") and "(snv)" in title
    assert " — ngày " in title and " tháng " in title
    assert ws["A2"].value == "STT" and ws.freeze_panes == "A3"
    assert ws.print_title_rows == "$2:$2"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    phone = next(c for c in ws[3] if c.value in by_phone)
    password = next(c for c in ws[3] if c.value == by_phone[phone.value]["Mật khẩu"])
    assert phone.data_type == "s" and phone.number_format == "@"
    assert password.data_type == "s"


def test_provision_writes_csv_handouts_when_asked(world, ldap, cli, tmp_path):
    rt, _, _ = world
    queue(rt, "HR002")
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    r = cli("provision", "--handout-dir", out, "--handout-format", "csv")
    assert r.code == 0, r
    [f] = list(out.iterdir())
    assert f.name.startswith("handout-snv-") and f.suffix == ".csv" and mode(f) == 0o600
    assert f.read_bytes().startswith("\ufeff".encode())  # Excel reads the diacritics
    [row] = handout_rows(f)
    assert row["Số điện thoại"] == "02363822222"
    dn = entries_dn(rt, "HR002")
    assert bind_result(ldap, dn, row["Mật khẩu"]) == 0


def test_an_unknown_handout_format_is_refused_before_anything_changes(world, cli, tmp_path):
    rt, _, _ = world
    queue(rt, "HR002")
    r = cli("provision", "--handout-dir", tmp_path / "out", "--handout-format", "pdf")
    assert r.code == 2, r
    with rt.transaction(readonly=True) as s:
        assert s.scalar(select(Request.state).where(Request.staff_hr_id == "HR002")) == "pending"


def entries_dn(rt, hr_id: str) -> str:
    from dnmail.db.models import Mailbox

    with rt.transaction(readonly=True) as s:
        return s.scalar(select(Mailbox.dn).where(Mailbox.staff_hr_id == hr_id))


def test_a_workbook_that_cannot_be_written_leaves_the_csv_handout(world, ldap, tmp_path,
                                                                 monkeypatch):
    """A unit's passwords reach disk chunk by chunk in its CSV handout; the workbook is
    made from them at the end of the run. When it cannot be (a full disk), the CSV
    stays, published, with every password: nothing is lost."""
    import dnmail.exports.handouts as handouts

    rt, _, _ = world
    queue(rt, "HR002")

    def full(rows, *, heading):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(handouts, "_xlsx_bytes", full)
    out = tmp_path / "out"
    summary = provision(rt, handout_dir=out)
    [f] = summary.handouts
    assert f.suffix == ".csv" and mode(f) == 0o600 and sorted(out.iterdir()) == [f]
    [row] = handout_rows(f)
    [item] = summary.done
    assert item.handed_out and bind_result(ldap, item.dn, row["Mật khẩu"]) == 0
