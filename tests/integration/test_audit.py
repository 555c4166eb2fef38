"""The audit trail: `audit verify` catches altered, deleted and inserted events (exit 3),
`--anchor` catches what a chain alone cannot, concurrent writers build one chain, and
`audit list` filters and pages (SQLite and PostgreSQL through `db_url`)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from conftest import CliResult, write_config
from dnmail.db.models import AuditEvent
from dnmail.db.session import make_engine
from dnmail.services import audit

T0 = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # 09:00 in Đà Nẵng


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    yield e
    e.dispose()


@pytest.fixture
def run(tmp_path, db_url, capsys, monkeypatch):
    from dnmail.cli.main import invoke

    config = write_config(tmp_path / "config.toml", db_url=db_url)
    monkeypatch.setenv("DNMAIL_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")

    def _run(*args) -> CliResult:
        capsys.readouterr()
        code = invoke([str(a) for a in args])
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return _run


EVENTS = [
    ("iid-admin", "unit.add", "unit:snv", {"name": "Sở Nội vụ"}),
    ("snv@danang.gov.vn", "request.create", "request:1", {"hr_id": "HR001", "kind": "create"}),
    ("iid-admin", "provision.create", "request:1", {"address": "thanhnq", "hr_id": "HR001"}),
    ("iid-admin", "mailbox.reset-password", "mailbox:thanhnq", {"hr_id": "HR001"}),
    ("snv@danang.gov.vn", "request.create", "request:2", {"hr_id": "HR002", "kind": "cancel"}),
    ("iid-admin", "mailbox.lock", "mailbox:hanhltm", {"reason": "retired", "note": "Nghỉ hưu"}),
]


@pytest.fixture
def chain(engine):
    """Six events, one a day from 1 March, each in its own transaction."""
    for i, (actor, action, target, details) in enumerate(EVENTS):
        with Session(engine) as s, s.begin():
            audit.record(
                session=s,
                actor=actor,
                action=action,
                target=target,
                at=T0 + timedelta(days=i),
                details=details,
            )
    return engine


def sql(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def event(engine, event_id: int) -> AuditEvent:
    with Session(engine) as s:
        return s.get(AuditEvent, event_id)


# --- verify -------------------------------------------------------------------------------


def test_an_intact_chain_verifies(chain, run):
    r = run("audit", "verify")
    assert r.code == 0, r
    assert "6 event(s) checked" in r.err
    r = run("--format", "json", "audit", "verify")
    assert r.code == 0
    doc = r.json()
    assert doc["ok"] is True and doc["checked"] == 6 and doc["broken_at"] is None
    assert doc["head"]["id"] == 6 and doc["head"]["hash"] == event(chain, 6).hash


def test_an_empty_trail_verifies(engine, run):
    r = run("--format", "json", "audit", "verify")
    assert r.code == 0 and r.json()["checked"] == 0 and r.json()["head"] is None


def test_an_altered_event_is_named(chain, run):
    sql(
        chain,
        "UPDATE audit_events SET details = :d WHERE id = 3",
        d='{"address":"someoneelse","hr_id":"HR001"}',
    )
    r = run("audit", "verify")
    assert r.code == 3, r
    assert "event #3" in r.err and "altered" in r.err
    r = run("--format", "json", "audit", "verify")
    assert r.code == 3
    assert r.json()["broken_at"] == 3 and r.json()["ok"] is False


@pytest.mark.parametrize(
    "column,value",
    [
        ("actor", "someone-else"),
        ("action", "mailbox.unlock"),
        ("target", "mailbox:other"),
        ("at", datetime(2024, 3, 3, 3, 0)),
    ],
)
def test_any_altered_field_is_caught(chain, run, column, value):
    sql(chain, f"UPDATE audit_events SET {column} = :v WHERE id = 4", v=value)
    r = run("audit", "verify")
    assert r.code == 3 and "event #4" in r.err, r


def test_a_deleted_event_is_named(chain, run):
    sql(chain, "DELETE FROM audit_events WHERE id = 3")
    r = run("audit", "verify")
    assert r.code == 3, r
    assert "event #4" in r.err and "3–3 are missing" in r.err


def test_a_deleted_first_event_is_named(chain, run):
    sql(chain, "DELETE FROM audit_events WHERE id = 1")
    r = run("audit", "verify")
    assert r.code == 3 and "event #2" in r.err and "1–1 are missing" in r.err, r


def _shift_up(engine, after: int) -> None:
    """Make room for a forged event after `after`: ids above it move up by one, one at a
    time from the top (a primary key cannot hold two rows at once)."""
    with engine.begin() as conn:
        ids = (
            conn.execute(
                text("SELECT id FROM audit_events WHERE id > :a ORDER BY id DESC"), {"a": after}
            )
            .scalars()
            .all()
        )
        for i in ids:
            conn.execute(
                text("UPDATE audit_events SET id = :n WHERE id = :o"), {"n": i + 1, "o": i}
            )


def _insert(engine, *, id, at, actor, action, target, details, prev_hash, hash) -> None:
    sql(
        engine,
        "INSERT INTO audit_events (id, at, actor, action, target, details, prev_hash, hash)"
        " VALUES (:id, :at, :actor, :action, :target, :details, :prev_hash, :hash)",
        id=id,
        at=at.replace(tzinfo=None),
        actor=actor,
        action=action,
        target=target,
        details=details,
        prev_hash=prev_hash,
        hash=hash,
    )


def test_an_inserted_event_is_caught_even_with_a_valid_hash_of_its_own(chain, run):
    # The forger knows the hash rule: the forged event links to #3 and hashes correctly.
    # The event after it still links to #3, and its id moved: the chain breaks there.
    prev = event(chain, 3)
    at = T0 + timedelta(days=2, hours=1)
    details = '{"reason":"other"}'
    forged = audit.event_hash(
        4, at, "iid-admin", "mailbox.unlock", "mailbox:thanhnq", details, prev.hash
    )
    _shift_up(chain, 3)
    _insert(
        chain,
        id=4,
        at=at,
        actor="iid-admin",
        action="mailbox.unlock",
        target="mailbox:thanhnq",
        details=details,
        prev_hash=prev.hash,
        hash=forged,
    )
    r = run("audit", "verify")
    assert r.code == 3, r
    assert "event #5" in r.err and "inserted" in r.err


def test_an_appended_event_with_a_made_up_hash_is_caught(chain, run):
    last = event(chain, 6)
    _insert(
        chain,
        id=7,
        at=T0 + timedelta(days=7),
        actor="iid-admin",
        action="mailbox.unlock",
        target="mailbox:hanhltm",
        details="{}",
        prev_hash=last.hash,
        hash="ab" * 32,
    )
    r = run("audit", "verify")
    assert r.code == 3 and "event #7" in r.err, r


def test_deleting_the_last_event_needs_the_anchor(chain, run, tmp_path):
    anchor = tmp_path / "audit.anchor"
    r = run("audit", "verify", "--anchor", anchor)
    assert r.code == 0, r
    saved = json.loads(anchor.read_text())
    assert (saved["id"], saved["hash"]) == (6, event(chain, 6).hash)

    sql(chain, "DELETE FROM audit_events WHERE id = 6")
    # A chain alone cannot see it (documented): what is left is a valid, shorter chain…
    assert run("audit", "verify").code == 0
    # …the head saved off the database can.
    r = run("audit", "verify", "--anchor", anchor)
    assert r.code == 3, r
    assert "event #6" in r.err and "deleted" in r.err
    assert json.loads(anchor.read_text())["id"] == 6  # a failed check keeps the old head


def test_the_anchor_catches_a_rewritten_chain(chain, run, tmp_path):
    anchor = tmp_path / "audit.anchor"
    assert run("audit", "verify", "--anchor", anchor).code == 0
    # Alter #3 and recompute every hash from there on: a valid chain, another history.
    with Session(chain) as s, s.begin():
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        prev = events[1].hash
        events[2].details = '{"address":"someoneelse","hr_id":"HR001"}'
        for e in events[2:]:
            e.prev_hash = prev
            e.hash = audit.event_hash(e.id, e.at, e.actor, e.action, e.target, e.details, prev)
            prev = e.hash
    assert run("audit", "verify").code == 0
    r = run("audit", "verify", "--anchor", anchor)
    assert r.code == 3 and "event #6" in r.err and "rewritten" in r.err, r


def test_the_anchor_follows_the_head(chain, run, tmp_path):
    anchor = tmp_path / "audit.anchor"
    assert run("audit", "verify", "--anchor", anchor).code == 0
    with Session(chain) as s, s.begin():
        audit.record(
            session=s,
            actor="iid-admin",
            action="mailbox.unlock",
            target="mailbox:hanhltm",
            at=T0 + timedelta(days=8),
        )
    r = run("--format", "json", "audit", "verify", "--anchor", anchor)
    assert r.code == 0, r
    assert r.json()["anchor"]["id"] == 6
    assert json.loads(anchor.read_text())["id"] == 7
    (tmp_path / "junk").write_text("not json")
    assert run("audit", "verify", "--anchor", tmp_path / "junk").code == 2


def test_concurrent_writers_build_one_chain(engine, run):
    """Two writers with their own connections append at once: still one chain."""
    per_thread = 40
    errors = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            e = make_engine(engine.url.render_as_string(hide_password=False))
            start.wait()
            for i in range(per_thread):
                with Session(e) as s, s.begin():
                    audit.record(
                        session=s,
                        actor=name,
                        action="test.append",
                        target=f"{name}:{i}",
                        at=datetime.now(UTC),
                        details={"i": i},
                    )
            e.dispose()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("cron", "admin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    r = run("--format", "json", "audit", "verify")
    assert r.code == 0, r
    assert r.json()["checked"] == 2 * per_thread
    with Session(engine) as s:
        ids = s.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
        actors = s.scalars(select(AuditEvent.actor)).all()
    assert ids == list(range(1, 2 * per_thread + 1))
    assert actors.count("cron") == actors.count("admin") == per_thread


# --- list ---------------------------------------------------------------------------------


def test_list_is_newest_first_and_paged(chain, run):
    r = run("--format", "json", "audit", "list", "--limit", "4")
    assert r.code == 0, r
    doc = r.json()
    assert doc["total"] == 6 and doc["order"] == "newest first"
    assert [e["id"] for e in doc["items"]] == [6, 5, 4, 3]
    assert doc["items"][0]["details"] == {"reason": "retired", "note": "Nghỉ hưu"}
    r = run("--format", "json", "audit", "list", "--limit", "4", "--page", "2")
    assert [e["id"] for e in r.json()["items"]] == [2, 1]
    r = run("audit", "list", "--limit", "2")
    assert r.code == 0 and "mailbox:hanhltm" in r.out and "Nghỉ hưu" in r.out
    assert "page 1 of 3" in r.err


@pytest.mark.parametrize(
    "args,ids",
    [
        (["--actor", "snv@danang.gov.vn"], [5, 2]),
        (["--actor", "snv@*"], [5, 2]),
        (["--target", "request:1"], [3, 2]),
        (["--target", "request:*"], [5, 3, 2]),
        (["--target", "mailbox:thanhnq"], [4]),
        (["--action", "request.create"], [5, 2]),
        (["--action", "mailbox.*"], [6, 4]),
        (["--since", "2024-03-04"], [6, 5, 4]),
        (["--since", "2024-03-04", "--actor", "iid-admin"], [6, 4]),
        (["--target", "request_%"], []),  # LIKE wildcards are literal
    ],
)
def test_list_filters(chain, run, args, ids):
    r = run("--format", "json", "audit", "list", *args)
    assert r.code == 0, r
    assert [e["id"] for e in r.json()["items"]] == ids


def test_list_since_is_a_local_date(chain, run):
    # event 4 is at 2024-03-04 02:00 UTC = 09:00 in Đà Nẵng; 03-03 17:00 UTC starts the 4th
    sql(chain, "UPDATE audit_events SET at = :at WHERE id = 3", at=datetime(2024, 3, 3, 17, 30))
    r = run("--format", "json", "audit", "list", "--since", "2024-03-04")
    assert [e["id"] for e in r.json()["items"]] == [6, 5, 4, 3]
    assert run("audit", "list", "--since", "4/3/2024").code == 2


def test_csv_output(chain, run):
    r = run("--format", "csv", "audit", "list", "--limit", "1")
    assert r.code == 0
    lines = r.out.strip().splitlines()
    assert lines[0] == "Mã,Thời điểm (UTC+7),Người thực hiện,Hành động,Đối tượng,Chi tiết"
    assert lines[1].startswith("6,2024-03-06 09:00:00,iid-admin,mailbox.lock,mailbox:hanhltm,")
    r = run("--format", "csv", "audit", "verify")
    assert r.out.strip().splitlines() == ["ok,checked,broken_at,problem", "True,6,,"]


# --- a keyed trail (issue 12 §6) ----------------------------------------------------------

KEY_HEX = "5a" * 32


@pytest.fixture
def key_file(tmp_path):
    """This host's audit key, where `run`'s config looks by default (<data dir>)."""
    path = tmp_path / "data" / "audit.key"
    path.parent.mkdir(exist_ok=True)
    path.write_text(KEY_HEX + "\n")
    path.chmod(0o600)
    return path


def append(engine, events, *, key=None, start_day=0) -> None:
    for i, (actor, action, target, details) in enumerate(events):
        with Session(engine) as s, s.begin():
            if key is not None:
                s.info[audit.KEY_INFO] = key
            audit.record(session=s, actor=actor, action=action, target=target,
                         at=T0 + timedelta(days=start_day + i), details=details)


@pytest.fixture
def keyed(engine, key_file):
    """The six events of `chain`, each with its MAC; unit snv whose officer wrote two."""
    append(engine, EVENTS, key=audit.AuditKey(bytes.fromhex(KEY_HEX), str(key_file)))
    sql(engine, "INSERT INTO units (code, name, account, branch_dn, created_at) VALUES "
        "('snv', 'Sở Nội vụ', 'snv@danang.gov.vn', 'ou=snv', :t)", t=T0.replace(tzinfo=None))
    return engine


def rehash_from(engine, first: int, *, strip_macs: bool) -> None:
    """What someone who can write the database, but has no key, can do: alter event
    `first` and recompute every later hash (and drop the MACs they cannot recompute)."""
    with Session(engine) as s, s.begin():
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        prev = events[first - 2].hash
        events[first - 1].details = '{"address":"someoneelse","hr_id":"HR001"}'
        for e in events[first - 1:]:
            e.prev_hash = prev
            e.hash = audit.event_hash(e.id, e.at, e.actor, e.action, e.target, e.details, prev)
            if strip_macs:
                e.mac = e.key_id = None
            prev = e.hash


def test_a_keyed_trail_verifies_and_says_so(keyed, run):
    r = run("audit", "verify")
    assert r.code == 0, r
    assert "keyed since event #1, last keyed event #6" in r.err
    assert "head: event #6" in r.err and "--anchor" in r.err
    doc = run("--format", "json", "audit", "verify").json()
    assert (doc["keyed_since"], doc["last_keyed"], doc["macs_checked"]) == (1, 6, True)


def test_an_event_rewritten_and_rehashed_is_caught_with_the_key(keyed, run, key_file):
    """The attack: rewrite an event, recompute every later hash. Unkeyed, that verified
    as intact without an anchor (test_the_anchor_catches_a_rewritten_chain)."""
    rehash_from(keyed, 3, strip_macs=False)
    r = run("audit", "verify")
    assert r.code == 3, r
    assert "event #3" in r.err and "its MAC does not match" in r.err
    # Without the key on this host the MACs cannot be checked: said, not hidden.
    key_file.unlink()
    r = run("audit", "verify")
    assert r.code == 0 and "MACs NOT checked: this host has no audit key" in r.err, r


def test_macs_stripped_from_a_rewritten_trail_are_caught_even_without_the_key(keyed, run,
                                                                           key_file):
    rehash_from(keyed, 3, strip_macs=True)
    for present in (True, False):
        r = run("audit", "verify")
        assert r.code == 3, r
        assert "event #3" in r.err and "carries no MAC although the trail is keyed since " \
               "event #1, and its actor 'iid-admin' is no unit officer" in flat_err(r)
        key_file.unlink(missing_ok=True)


def flat_err(r) -> str:
    return " ".join(r.err.split())


def test_an_appended_event_without_the_key_is_caught(keyed, run):
    append(keyed, [("iid-admin", "mailbox.unlock", "mailbox:hanhltm", {})], start_day=9)
    r = run("audit", "verify")
    assert r.code == 3 and "event #7" in r.err and "carries no MAC" in r.err, r


def test_a_unit_officers_events_need_no_key(keyed, run):
    """Officers append on their own hosts, which never hold the key: their events carry
    no MAC and are covered by the next keyed event."""
    append(keyed, [("snv@danang.gov.vn", "request.create", "request:9", {})], start_day=9)
    r = run("audit", "verify")
    assert r.code == 0 and "1 unit officers' event(s) without a MAC" in r.err, r


def test_events_from_before_the_key_are_covered_by_the_first_keyed_one(chain, run, key_file):
    """The migration path: an installation keyed later. The trail is keyed from its first
    keyed event; what came before is covered by it through the hash chain."""
    append(chain, EVENTS[:2], key=audit.AuditKey(bytes.fromhex(KEY_HEX), str(key_file)),
           start_day=10)
    r = run("audit", "verify")
    assert r.code == 0, r
    assert "events #1–#6 were written before the audit key and are covered by keyed event #7" \
        in flat_err(r)
    rehash_from(chain, 3, strip_macs=False)  # a pre-key event rewritten, hashes redone
    r = run("audit", "verify")
    assert r.code == 3 and "event #7" in r.err and "MAC does not match" in r.err, r


def test_deleting_the_newest_keyed_events_still_needs_the_anchor(keyed, run, tmp_path):
    anchor = tmp_path / "audit.anchor"
    assert run("audit", "verify", "--anchor", anchor).code == 0
    sql(keyed, "DELETE FROM audit_events WHERE id >= 5")
    assert run("audit", "verify").code == 0  # documented: a key cannot see a cut tail
    r = run("audit", "verify", "--anchor", anchor)
    assert r.code == 3 and "deleted" in r.err, r


def test_another_hosts_key_is_refused_before_anything_is_written(keyed, engine):
    from dnmail.errors import Refused

    other = audit.AuditKey(bytes.fromhex("7b" * 32), "/elsewhere/audit.key")
    with pytest.raises(Refused, match="keyed with another key"):
        append(engine, EVENTS[:1], key=other)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 6


@pytest.mark.parametrize("content, mode, message", [
    (KEY_HEX, 0o644, "is readable by other users"),
    ("not a key", 0o600, "does not hold an audit key"),
])
def test_a_bad_key_file_is_refused(chain, run, key_file, content, mode, message):
    key_file.write_text(content)
    key_file.chmod(mode)
    r = run("audit", "verify")
    assert r.code == 2 and message in r.err and KEY_HEX not in r.err, r
