"""`dnmail request import`: Excel and signed PDF slips, end to end, on SQLite and PostgreSQL.

The readers have their own tests (test_excel_slips.py, test_pdf_slips.py); here each
file goes the whole way: CLI → service → database (→ directory, for the good slip),
and every refusal is checked to leave nothing behind: no slip, no request, no audit
event. The PKI and the PDFs are built in code; the config points at the PKI's files
by paths relative to itself, as an operator's would.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta
from pathlib import Path

import ldap3
import pytest
from sqlalchemy import func, select

from conftest import seed_staff, seed_units, write_config
from dnmail.db.models import AuditEvent, Mailbox, Request, Slip
from dnmail.domain.matching import ADDRESS_COLUMN
from dnmail.domain.states import RequestKind
from support import pdfslips as ps
from support.pki import TEST_NOW, build_test_pki, shown, write_crl_pem, write_pem
from support.workbooks import (
    SlipPerson,
    text_as_xlsx,
    write_slip_xlsx,
    xxe_xlsx,
    zip_bomb_xlsx,
)

ROOT = Path(__file__).resolve().parents[2]
CLAIMED = TEST_NOW - timedelta(days=8, minutes=30)  # the signing time the signer writes

STAFF = [
    ("SNV-0003", "Phạm Minh Tuấn", "snv", "Phòng Tổ chức", "Chuyên viên", "0905123456"),
    ("SNV-0004", "Võ Thị Lan", "snv", "Văn phòng", "Văn thư", "0914222333"),
    ("SNV-0005", "Nguyễn Văn Bình", "snv", "Phòng Tổ chức", "Chuyên viên", "0905000005"),
    ("SNV-0006", "Nguyễn Văn Bình", "snv", "Văn phòng", "Lái xe", "0905000006"),
    ("SNV-0007", "Đỗ Thị Hưu", "snv", "Văn phòng", "Chuyên viên", "", "retired"),
    ("SGT-0001", "Lê Thị Hà", "sgtvt", "Văn phòng", "Chuyên viên", "0905000011"),
    ("SGT-0002", "Trần Văn Nam", "sgtvt", "Phòng Kế hoạch", "Chuyên viên", "0905000012"),
]
SNV_ROWS = (
    ps.Person("Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", "tuanpm"),
    ps.Person("Võ Thị Lan", "Văn phòng", "0914222333", ""),
)
SGT_ROWS = (
    ps.Person("Lê Thị Hà", "Văn phòng", "0905000011", ""),
    ps.Person("Trần Văn Nam", "", "", ""),
)
FAKE_ROWS = (ps.Person("Nguyễn Văn Bình", "Văn phòng", "0905000006", "binhnv"),)


# --- material shared by the session ---------------------------------------------------


@pytest.fixture(scope="session")
def pki():
    return build_test_pki()


@pytest.fixture(scope="session")
def pki_dir(pki, tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    write_pem(d / "root.pem", pki.root.cert)
    write_crl_pem(d / "root.crl.pem", pki.crl_root)
    write_crl_pem(d / "intermediate.crl.pem", pki.crl_intermediate)
    return d


@pytest.fixture(scope="session")
def pdfs(pki):
    """Signed slips, by name (bytes)."""
    snv = ps.make_slip_pdf(SNV_ROWS)
    good = ps.sign_pdf(snv, pki.snv, timestamp=CLAIMED)
    return {
        "good": good,
        "sgtvt": ps.sign_pdf(
            ps.make_slip_pdf(SGT_ROWS, unit_name="Sở Giao thông Vận tải"), pki.sgtvt
        ),
        "tampered": ps.flip_byte_in_signed_content(good),
        "painted": ps.paint_over_table(good, FAKE_ROWS),
        "untrusted": ps.sign_pdf(snv, pki.rogue_snv),
        "stranger": ps.sign_pdf(snv, pki.stranger),
        "expired": ps.sign_pdf(  # claims a time inside its certificate's validity
            snv, pki.expired, timestamp=pki.expired.cert.not_valid_before_utc + timedelta(days=500)
        ),
        "revoked": ps.sign_pdf(snv, pki.revoked),
        "other_unit": ps.sign_pdf(snv, pki.sgtvt),
        "unsigned": snv,
        "truncated": ps.truncate(good),
        "unknown_person": ps.sign_pdf(
            ps.make_slip_pdf([ps.Person("Hồ Văn Vắng", "Văn phòng", "", "")]),
            pki.snv,
        ),
    }


def signatures_toml(pki, *, revocation: str = "soft-fail") -> str:
    # The expired and revoked signers are pinned on purpose: their certificate is then
    # the only reason they are refused.
    snv = [pki.snv.pin, pki.snv_deputy.issuer_serial_pin, pki.expired.pin, pki.revoked.pin]
    return f"""
[signatures]
trust_roots = ["pki/root.pem"]
crls = ["pki/root.crl.pem", "pki/intermediate.crl.pem"]
revocation = "{revocation}"

[units.snv]
signers = [{", ".join(f'"{p}"' for p in snv)}]

[units.sgtvt]
signers = ["{pki.sgtvt.pin}"]
"""


@pytest.fixture
def config_file(tmp_path, db_url, ldap, pki, pki_dir):
    """The conftest config, plus [signatures] and [units.X] signers (paths relative)."""
    shutil.copytree(pki_dir, tmp_path / "pki")
    return write_config(
        tmp_path / "config.toml", db_url=db_url, ldap=ldap, extra=signatures_toml(pki)
    )


@pytest.fixture
def world(rt, time_machine):
    """Two units and their staff; the clock stopped at TEST_NOW (the time of import)."""
    time_machine.move_to(TEST_NOW, tick=False)
    with rt.transaction() as s:
        seed_units(s, ("snv", "sgtvt"), config=rt.config)
        seed_staff(s, STAFF)
    return rt


def counts(rt) -> dict[str, int]:
    with rt.transaction() as s:
        return {
            model.__name__: s.scalar(select(func.count()).select_from(model))
            for model in (Slip, Request, AuditEvent, Mailbox)
        }


def put(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


ACTOR = "iid-admin"  # [operator] admins, by default


def run_import(cli, *args):
    return cli("--format", "json", "--as", ACTOR, "request", "import", *args)


def refused_file(result, code: int = 2) -> dict:
    assert result.code == code, result
    doc = result.json()
    [f] = doc["files"]
    assert f["status"] == "refused" and f["problems"] and not f["requests"], f
    return f


def messages(f: dict) -> str:
    return "\n".join(p["message"] for p in f["problems"])


# --- accepted ------------------------------------------------------------------------


def test_signed_pdf_becomes_requests_then_mailboxes(world, cli, ldap, tmp_path, pdfs, pki):
    rt = world
    path = put(tmp_path, "phieu-snv.pdf", pdfs["good"])
    before = counts(rt)
    result = run_import(cli, path)  # no --unit: the signer's unit
    assert result.code == 0, result
    [f] = result.json()["files"]
    assert (f["status"], f["unit"], f["kind"], f["format"], f["verdict"]) == (
        "accepted",
        "snv",
        "create",
        "pdf",
        "signed",
    )
    assert f["sha256"] == hashlib.sha256(pdfs["good"]).hexdigest()
    assert f["signer"]["fingerprint"] == pki.snv.fingerprint
    assert f["signer"]["pin"] == pki.snv.pin
    assert [
        (r["hr_id"], r["full_name"], r.get("requested_address"), r["row"], r["page"])
        for r in f["requests"]
    ] == [
        ("SNV-0003", "Phạm Minh Tuấn", "tuanpm", 1, 1),
        ("SNV-0004", "Võ Thị Lan", None, 2, 1),
    ]
    assert f["problems"] == [] and f["warnings"] == []

    with rt.transaction() as s:
        slip = s.scalars(select(Slip)).one()
        assert slip.id == f["slip_id"]
        assert (slip.sha256, slip.file_name, slip.format, slip.unit_code, slip.verdict) == (
            f["sha256"],
            "phieu-snv.pdf",
            "pdf",
            "snv",
            "signed",
        )
        assert slip.signer_subject.startswith("CN=Nguyễn Văn An,title=Chánh Văn phòng")
        assert "CN=dnmail Test Signing CA" in slip.signer_issuer
        assert slip.signer_serial == f"{pki.snv.cert.serial_number:#x}"
        assert slip.signer_fingerprint == pki.snv.fingerprint
        assert slip.signed_at == CLAIMED  # what the signer claims, kept for information
        assert slip.imported_at == TEST_NOW and slip.imported_by == ACTOR
        assert (slip.requester_name, slip.requester_position, slip.requester_phone) == (
            "Nguyễn Văn An",
            "Chánh Văn phòng",
            "02363822111",
        )
        assert slip.content == "Cấp mới hộp thư điện tử"
        reqs = s.scalars(select(Request).order_by(Request.id)).all()
        assert [r.id for r in reqs] == [r["id"] for r in f["requests"]]
        assert {(r.slip_id, r.kind, r.unit_code, r.state) for r in reqs} == {
            (slip.id, "create", "snv", "pending")
        }
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "slip.import")).one()
        assert event.target == f"slip:{slip.id}" and event.actor == ACTOR
        assert f'"request_ids":[{reqs[0].id},{reqs[1].id}]' in event.details
        assert f["sha256"] in event.details and '"verdict":"signed"' in event.details
    after = counts(rt)
    assert after["Slip"] - before["Slip"] == 1 and after["Request"] - before["Request"] == 2

    from dnmail.services.provisioning import provision

    summary = provision(rt)
    assert {(i.hr_id, i.address, i.state) for i in summary.items} == {
        ("SNV-0003", "tuanpm", "done"),
        ("SNV-0004", "lanvt", "done"),
    }
    c = ldap3.Connection(ldap.url, ldap.root_dn, ldap.root_password, auto_bind=True)
    c.search(ldap.suffix, "(uid=tuanpm)", attributes=["employeeNumber", "mail"])
    [entry] = c.entries
    assert entry.entry_dn == f"uid=tuanpm,ou=snv,ou=people,{ldap.suffix}"
    assert entry.employeeNumber.value == "SNV-0003"
    c.unbind()


def test_excel_slip_needs_the_unit_and_is_recorded_unsigned(world, cli, tmp_path):
    rt = world
    path = write_slip_xlsx(
        tmp_path / "phieu.xlsx",
        [
            SlipPerson("Phạm Minh Tuấn", "Phòng Tổ chức", 905123456, "TuanPM"),  # lost its 0
            SlipPerson("võ  thị LAN", "Văn phòng"),  # case and spaces do not matter
        ],
    )
    before = counts(rt)
    f = refused_file(run_import(cli, path))
    assert "an Excel slip carries no signature" in messages(f) and "--unit" in messages(f)
    assert counts(rt) == before

    result = run_import(cli, path, "--unit", "snv")
    assert result.code == 0, result
    [f] = result.json()["files"]
    assert (f["status"], f["unit"], f["kind"], f["verdict"], f["signer"]) == (
        "accepted",
        "snv",
        "create",
        "unsigned-xlsx",
        None,
    )
    assert [
        (r["hr_id"], r.get("requested_address"), r["sheet"], r["row"]) for r in f["requests"]
    ] == [("SNV-0003", "tuanpm", "Phiếu yêu cầu", 14), ("SNV-0004", None, "Phiếu yêu cầu", 15)]
    [warning] = f["warnings"]  # the phone typed as a number
    assert warning["row"] == 14 and "leading 0 restored" in warning["message"]
    assert "leading 0 restored" in result.err
    with rt.transaction() as s:
        slip = s.scalars(select(Slip)).one()
        assert (
            slip.format,
            slip.verdict,
            slip.signer_subject,
            slip.signer_fingerprint,
            slip.signed_at,
        ) == ("xlsx", "unsigned-xlsx", None, None, None)
        assert slip.requester_name == "Nguyễn Văn An"
        assert {r.slip_id for r in s.scalars(select(Request))} == {slip.id}


def test_blank_template_filled_in_is_read_back(world, cli, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "mau.xlsx"
    result = cli("template", "slip", "-o", path, "--rows", "5")
    assert result.code == 0, result
    assert cli("template", "slip", "-o", path).code == 1  # never overwritten silently
    assert cli("template", "slip", "-o", tmp_path / "mau.pdf").code == 2
    wb = load_workbook(path)
    ws = wb.active
    ws["C8"], ws["C9"], ws["C11"] = "Nguyễn Văn An", "Chánh Văn phòng", "Cấp mới"
    ws["B15"], ws["C15"], ws["D15"] = "Nguyễn Văn Bình", "Văn phòng", "0905000006"
    ws["B16"], ws["E16"] = "Võ Thị Lan", "lan.vo"  # refused: a dot is not allowed
    wb.save(path)
    f = refused_file(run_import(cli, path, "--unit", "snv"))
    [problem] = f["problems"]
    assert (problem["row"], problem["column"]) == (
        16,
        "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
    )
    assert "requested address refused" in problem["message"]

    ws["E16"] = "lanvo"
    wb.save(path)
    result = run_import(cli, path, "--unit", "snv")
    assert result.code == 0, result
    [f] = result.json()["files"]
    assert [(r["hr_id"], r.get("requested_address")) for r in f["requests"]] == [
        ("SNV-0006", None),
        ("SNV-0004", "lanvo"),
    ]  # the namesake told apart by department


def test_same_file_twice_is_refused_with_the_first_import(world, cli, tmp_path, pdfs):
    rt = world
    path = put(tmp_path, "a.pdf", pdfs["good"])
    first = run_import(cli, path)
    assert first.code == 0, first
    ids = [r["id"] for r in first.json()["files"][0]["requests"]]
    before = counts(rt)
    copy = put(tmp_path, "renamed copy.pdf", pdfs["good"])  # the name does not matter
    for again in (path, copy):
        f = refused_file(run_import(cli, again))
        text = messages(f)
        assert f"already imported on {shown(TEST_NOW)}" in text
        assert f"requests #{ids[0]}, #{ids[1]}" in text and "'a.pdf'" in text
        assert f["sha256"] == hashlib.sha256(pdfs["good"]).hexdigest()
    # the same file twice in one run: the second is refused, the first imported once
    path2 = put(tmp_path, "sgt.pdf", pdfs["sgtvt"])
    result = run_import(cli, path2, path2)
    assert result.code == 3, result
    assert [f["status"] for f in result.json()["files"]] == ["accepted", "refused"]
    assert counts(rt)["Slip"] == before["Slip"] + 1
    assert counts(rt)["Request"] == before["Request"] + 2


def test_three_files_one_bad_imports_the_good_ones(world, cli, tmp_path, pdfs):
    rt = world
    files = [
        put(tmp_path, "snv.pdf", pdfs["good"]),
        put(tmp_path, "bad.pdf", pdfs["tampered"]),
        put(tmp_path, "sgtvt.pdf", pdfs["sgtvt"]),
    ]
    before = counts(rt)
    result = run_import(cli, *files)
    assert result.code == 3, result
    doc = result.json()
    assert (doc["accepted"], doc["refused"], doc["dry_run"]) == (2, 1, False)
    assert [(f["file"], f["status"], f["unit"]) for f in doc["files"]] == [
        (str(files[0]), "accepted", "snv"),
        (str(files[1]), "refused", None),
        (str(files[2]), "accepted", "sgtvt"),
    ]
    assert "changed after signing" in messages(doc["files"][1])
    after = counts(rt)
    assert after["Slip"] - before["Slip"] == 2 and after["Request"] - before["Request"] == 4
    # the table form says the same to a person
    table = cli("request", "import", *files)
    assert table.code == 2  # all three known or refused now
    assert "already imported" in table.out and "Refused" in table.out


def test_dry_run_stores_nothing(world, cli, tmp_path, pdfs):
    rt = world
    pdf = put(tmp_path, "snv.pdf", pdfs["good"])
    xlsx = write_slip_xlsx(tmp_path / "x.xlsx", [SlipPerson("Nguyễn Văn Bình", "Phòng Tổ chức")])
    before = counts(rt)
    result = run_import(cli, "--dry-run", pdf, xlsx, "--unit", "snv")
    assert result.code == 0, result
    doc = result.json()
    assert doc["dry_run"] is True
    assert [f["status"] for f in doc["files"]] == ["would-accept", "would-accept"]
    assert [r["id"] for f in doc["files"] for r in f["requests"]] == [None, None, None]
    assert [r["hr_id"] for r in doc["files"][1]["requests"]] == ["SNV-0005"]
    assert counts(rt) == before
    assert run_import(cli, pdf).code == 0  # not taken for a file imported before


def test_service_validates_at_the_time_of_import(world, tmp_path, pdfs, pki, time_machine):
    """Through the service: the same signed file, imported before and after its
    signer's certificate expired (the claimed signing time changes nothing)."""
    from dnmail.services.slip_import import import_slips

    rt = world
    path = put(tmp_path, "slip.pdf", pdfs["good"])  # signer valid for 20 years from about now
    batch = import_slips(rt, [path], dry_run=True)
    assert [f.status for f in batch.files] == ["would-accept"] and batch.exit_code == 0
    ended = pki.snv.cert.not_valid_after_utc
    time_machine.move_to(ended + timedelta(days=59, hours=9), tick=False)
    batch = import_slips(rt, [path])
    [f] = batch.files
    assert f.status == "refused" and batch.exit_code == 2
    assert f"certificate expired at {shown(ended)}" in f.problems[0].message
    assert f"the signing time it claims ({shown(CLAIMED)})" in f.problems[0].message
    assert counts(rt)["Slip"] == 0


def test_the_shipped_sample_slip(world, cli, config_file):
    """samples/slip-snv.pdf with the sample PKI, configured as samples/pki/README.md says."""
    from dnmail.signatures.certs import fingerprint_of

    pki = ROOT / "samples" / "pki"
    pin = "sha256:" + fingerprint_of((pki / "snv-chief.pem").read_bytes())
    config_file.write_text(
        config_file.read_text().split("[signatures]")[0]
        + f"""
[signatures]
trust_roots = ["{pki / "root.pem"}"]
crls = ["{pki / "root.crl.pem"}", "{pki / "intermediate.crl.pem"}"]
revocation = "require"
max_age_days = 3660  # the shipped sample was signed once, when it was made

[units.snv]
signers = ["{pin.upper().replace("SHA256:", "sha256:")}"]
"""
    )
    result = run_import(cli, ROOT / "samples" / "slip-snv.pdf")
    assert result.code == 0, result
    [f] = result.json()["files"]
    assert (f["unit"], f["verdict"], f["signer"]["pin"]) == ("snv", "signed", pin)
    assert [r["hr_id"] for r in f["requests"]] == ["SNV-0003", "SNV-0004"]


def test_kind_from_the_slip_or_the_option(world, cli, tmp_path):
    rt = world
    with rt.transaction() as s:
        _mailbox(s, "SNV-0004", "lanvt")
    cancel = write_slip_xlsx(
        tmp_path / "huy.xlsx", [SlipPerson("Võ Thị Lan", address="lanvt")], content="Hủy bỏ hộp thư"
    )
    wrong = write_slip_xlsx(
        tmp_path / "sai.xlsx",
        [SlipPerson("Võ Thị Lan", address="tuanpm")],
        content="Hủy bỏ hộp thư",
    )
    none = write_slip_xlsx(tmp_path / "none.xlsx", [SlipPerson("Võ Thị Lan")], content="")
    f = refused_file(run_import(cli, wrong, "--unit", "snv"))
    assert "names the mailbox 'tuanpm', but this person's mailbox is lanvt@" in messages(f)
    f = refused_file(run_import(cli, none, "--unit", "snv"))
    assert "names no single kind of request" in messages(f) and "--kind" in messages(f)
    result = run_import(cli, none, "--unit", "snv", "--kind", "cancel")
    assert result.code == 0, result
    [f] = result.json()["files"]
    assert (f["kind"], [r["hr_id"] for r in f["requests"]]) == ("cancel", ["SNV-0004"])
    # the slip says "Hủy bỏ" itself; the person has an open request now
    f = refused_file(run_import(cli, cancel, "--unit", "snv"))
    [problem] = f["problems"]
    assert (problem["row"], problem["column"]) == (14, "Họ và tên")
    assert "already has an open cancel request" in problem["message"]
    with rt.transaction() as s:
        assert s.scalars(select(Request.kind)).all() == ["cancel"]


def test_change_slip_with_a_new_mailbox_name_is_a_rename(world, cli, tmp_path):
    """Issue 14 §1: a change slip's mailbox column may carry the new name the unit asks
    for; it is checked exactly as a create's requested name (here: the address rule,
    and a name taken by another mailbox), naming the row and the column."""
    rt = world
    with rt.transaction() as s:
        _mailbox(s, "SNV-0004", "lanvt")
        _mailbox(s, "SNV-0003", "tuanpm")
    bad = write_slip_xlsx(
        tmp_path / "sai.xlsx", [SlipPerson("Võ Thị Lan", address="lan.vt")],
        content="Thay đổi tên hộp thư",
    )
    taken = write_slip_xlsx(
        tmp_path / "trung.xlsx", [SlipPerson("Võ Thị Lan", address="tuanpm")],
        content="Thay đổi tên hộp thư",
    )
    good = write_slip_xlsx(
        tmp_path / "doi.xlsx", [SlipPerson("Võ Thị Lan", address="lanvo@danang.gov.vn")],
        content="Thay đổi tên hộp thư",
    )
    f = refused_file(run_import(cli, bad, "--unit", "snv"))
    [problem] = f["problems"]
    assert problem["column"] == ADDRESS_COLUMN and "requested address refused" in problem["message"]
    f = refused_file(run_import(cli, taken, "--unit", "snv"))
    [problem] = f["problems"]
    assert problem["column"] == ADDRESS_COLUMN
    assert "tuanpm@danang.gov.vn is already taken" in problem["message"]
    result = run_import(cli, good, "--unit", "snv")
    assert result.code == 0, result
    [f] = result.json()["files"]
    assert f["kind"] == "change"
    assert [(r["hr_id"], r["requested_address"]) for r in f["requests"]] == [("SNV-0004", "lanvo")]


def _mailbox(s, hr_id: str, address: str) -> None:
    s.add(
        Mailbox(
            address=address,
            base=address,
            staff_hr_id=hr_id,
            unit_code="snv",
            dn=f"uid={address},ou=snv,ou=people,dc=x",
            state="active",
            created_at=TEST_NOW,
            updated_at=TEST_NOW,
        )
    )
    s.flush()


# --- refused: signed PDFs ------------------------------------------------------------

PDF_REFUSALS = [
    # (pdfs key, extra arguments, what the reason says)
    ("tampered", (), "the signed bytes were changed after signing"),
    ("painted", (), "the document was changed after signing"),
    ("untrusted", ("--unit", "snv"), "does not chain to a configured trust root"),
    ("stranger", (), "does not chain to a configured trust root"),
    ("expired", (), "certificate expired at {expired_end}"),
    (
        "other_unit",
        ("--unit", "snv"),
        "not an authorised signer of unit snv (authorised for: sgtvt)",
    ),
    ("unsigned", (), "has no digital signature"),
    ("truncated", (), "not a readable PDF"),
    ("unknown_person", (), "nobody named 'Hồ Văn Vắng' among the staff of unit snv"),
]


@pytest.mark.parametrize(("key", "args", "reason"), PDF_REFUSALS, ids=[c[0] for c in PDF_REFUSALS])
def test_pdf_refused_and_nothing_stored(world, cli, tmp_path, pdfs, pki, key, args, reason):
    rt = world
    reason = reason.format(expired_end=shown(pki.expired.cert.not_valid_after_utc))
    path = put(tmp_path, f"{key}.pdf", pdfs[key])
    before = counts(rt)
    f = refused_file(run_import(cli, path, *args))
    assert reason in messages(f), f
    assert all(p["file"] == f"{key}.pdf" for p in f["problems"])
    assert counts(rt) == before


def test_revoked_signer_refused_when_revocation_is_required(
    world, cli, tmp_path, pdfs, pki, config_file
):
    rt = world
    config_file.write_text(
        config_file.read_text().replace('revocation = "soft-fail"', 'revocation = "require"')
    )
    path = put(tmp_path, "revoked.pdf", pdfs["revoked"])
    before = counts(rt)
    f = refused_file(run_import(cli, path))
    assert f"certificate revoked at {shown(pki.revoked_at)} (a compromised key)" in messages(f)
    assert run_import(cli, put(tmp_path, "good.pdf", pdfs["good"])).code == 0  # CRLs cover it
    assert counts(rt)["Slip"] == before["Slip"] + 1


def test_not_a_pdf_and_not_a_slip(world, cli, tmp_path):
    rt = world
    before = counts(rt)
    fake = put(tmp_path, "phieu.pdf", b"Dear IID, please create mailboxes.\n")
    other = put(tmp_path, "phieu.docx", b"PK\x03\x04 not really")
    odd = put(tmp_path, "phieu.txt", b"hello")
    result = run_import(cli, fake, odd, tmp_path / "missing.pdf", tmp_path)
    assert result.code == 2, result
    reasons = [messages(f) for f in result.json()["files"]]
    assert "not a PDF file" in reasons[0]
    assert "must be an Excel workbook (.xlsx) or a signed PDF" in reasons[1]
    assert "cannot read the file" in reasons[2] and "directory" in reasons[3]
    f = refused_file(run_import(cli, other, "--unit", "snv"))  # a zip, but no .xlsx
    assert "must be an Excel workbook (.xlsx) or a signed PDF" in messages(f)
    assert counts(rt) == before


# --- refused: Excel slips ------------------------------------------------------------


def _namesakes(tmp_path):
    return write_slip_xlsx(tmp_path / "s.xlsx", [SlipPerson("Nguyễn Văn Bình")])


def _twice(tmp_path):  # the second row is the same person, told apart by the phone
    return write_slip_xlsx(
        tmp_path / "s.xlsx",
        [
            SlipPerson("Nguyễn Văn Bình", "Phòng Tổ chức"),
            SlipPerson("NGUYỄN VĂN BÌNH", "", "0905 000 005"),
        ],
    )


def _formula(tmp_path):
    return write_slip_xlsx(tmp_path / "s.xlsx", [SlipPerson('=HYPERLINK("http://x","A")')])


def _empty(tmp_path):
    return write_slip_xlsx(tmp_path / "s.xlsx", [])


def _has_mailbox(tmp_path):
    return write_slip_xlsx(
        tmp_path / "s.xlsx", [SlipPerson("Phạm Minh Tuấn"), SlipPerson("Võ Thị Lan")]
    )


def _retired_and_taken(tmp_path):
    return write_slip_xlsx(
        tmp_path / "s.xlsx",
        [
            SlipPerson("Đỗ Thị Hưu"),
            SlipPerson("Nguyễn Văn Bình", "Phòng Tổ chức", "", "postmaster"),
            SlipPerson("Nguyễn Văn Bình", "Văn phòng", "", "lanvt"),
        ],
    )


def _unknown(tmp_path):
    return write_slip_xlsx(
        tmp_path / "s.xlsx",
        [SlipPerson("Nguyễn Văn Bình", "Phòng Tổ chức"), SlipPerson("Pham Minh Tuan")],
    )


def _same_address(tmp_path):
    return write_slip_xlsx(
        tmp_path / "s.xlsx",
        [
            SlipPerson("Nguyễn Văn Bình", "Phòng Tổ chức", "", "binh"),
            SlipPerson("Nguyễn Văn Bình", "Văn phòng", "", "BINH@danang.gov.vn"),
        ],
    )


EXCEL_REFUSALS = [
    # (builder, [(row, column, what the reason says)]; row None: about the whole file)
    ("unknown_person", _unknown, [(15, "Họ và tên", "nobody named 'Pham Minh Tuan'")]),
    (
        "ambiguous_person",
        _namesakes,
        [
            (
                14,
                "Họ và tên",
                "2 staff of unit snv are named 'Nguyễn Văn Bình': "
                "SNV-0005 (Phòng Tổ chức, 0905000005); "
                "SNV-0006 (Văn phòng, 0905000006); the slip gives no department or phone",
            )
        ],
    ),
    (
        "same_person_twice",
        _twice,
        [(15, "Họ và tên", "Nguyễn Văn Bình (SNV-0005) is listed twice: row 14 and row 15")],
    ),
    ("formula", _formula, [(14, "B (Họ và tên)", "formula")]),
    ("empty_table", _empty, [(13, None, "the slip's table is empty")]),
    (
        "has_mailbox",
        _has_mailbox,
        [
            (14, "Họ và tên", "already has the mailbox tuanpm@danang.gov.vn"),
            (15, "Họ và tên", "already has an open create request"),
        ],
    ),
    (
        "retired_reserved_taken",
        _retired_and_taken,
        [
            (14, "Họ và tên", "HR status is Nghỉ hưu, not active"),
            (15, "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ", "postmaster is a reserved name"),
            (
                16,
                "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
                "lanvt@danang.gov.vn is already taken",
            ),
        ],
    ),
    (
        "same_address_twice",
        _same_address,
        [
            (
                15,
                "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
                "binh@danang.gov.vn is also asked for on row 14",
            )
        ],
    ),
    (
        "zip_bomb",
        lambda d: zip_bomb_xlsx(d / "s.xlsx", size=8 * 1024**2),
        [(None, None, "zip bomb")],
    ),
    ("xxe", lambda d: xxe_xlsx(d / "s.xlsx"), [(None, None, "DOCTYPE or ENTITY")]),
    ("text_as_xlsx", lambda d: text_as_xlsx(d / "s.xlsx"), [(None, None, "not a zip container")]),
]


@pytest.mark.parametrize(
    ("build", "expected"), [c[1:] for c in EXCEL_REFUSALS], ids=[c[0] for c in EXCEL_REFUSALS]
)
def test_excel_refused_with_every_reason_and_nothing_stored(world, cli, tmp_path, build, expected):
    rt = world
    with rt.transaction() as s:
        _mailbox(s, "SNV-0003", "tuanpm")
        _mailbox(s, "SGT-0001", "lanvt")  # someone else's address
    from dnmail.services.requests import NewRequest, create_requests

    with rt.transaction() as s:
        create_requests(
            session=s,
            config=rt.config,
            unit="snv",
            items=[NewRequest("SNV-0004", RequestKind.CREATE)],
            actor="test",
            now=TEST_NOW,
        )
    path = build(tmp_path)
    before = counts(rt)
    f = refused_file(run_import(cli, path, "--unit", "snv"))
    got = f["problems"]
    assert len(got) == len(expected), got
    for problem, (row, column, text) in zip(got, expected, strict=True):
        assert problem["file"] == "s.xlsx"
        assert text in problem["message"], problem
        assert problem.get("row") == row and problem.get("column") == column, problem
    assert counts(rt) == before


def test_a_unit_officer_imports_for_its_own_unit_only(world, cli, tmp_path, pdfs):
    rt = world
    own, other = put(tmp_path, "snv.pdf", pdfs["good"]), put(tmp_path, "sgt.pdf", pdfs["sgtvt"])
    result = cli("--format", "json", "--as", "snv@danang.gov.vn", "request", "import", own, other)
    assert result.code == 3, result
    accepted, refused = result.json()["files"]
    assert (accepted["status"], accepted["unit"]) == ("accepted", "snv")
    assert "not an authorised signer of unit snv (authorised for: sgtvt)" in messages(refused)
    with rt.transaction() as s:
        assert s.scalars(select(Slip.imported_by)).all() == ["snv@danang.gov.vn"]


# --- what the chief signed is what gets imported (issue 12 §1, §2) ----------------------


@pytest.fixture(scope="session")
def tsa(pki):
    from support.pki import make_name, make_signer

    return make_signer("tsa", make_name("dnmail Test TSA"), pki.intermediate, time_stamping=True)


def test_a_signed_slips_kind_is_the_chiefs(world, cli, tmp_path, pdfs):
    """The attack: a "Cấp mới" slip imported as --kind cancel (the next provision would
    lock the mailboxes). A signed slip's kind is what was signed; --kind may only
    repeat it. (An Excel slip's --kind stays an override: test_kind_from_the_slip_…)"""
    rt = world
    path = put(tmp_path, "phieu.pdf", pdfs["good"])
    before = counts(rt)
    f = refused_file(run_import(cli, path, "--kind", "cancel"))
    assert "the signed slip asks for Cấp mới (create); --kind cancel may not override what " \
           "the chief signed" in messages(f)
    assert f["kind"] == "create"
    assert counts(rt) == before
    result = run_import(cli, path, "--kind", "create")
    assert result.code == 0, result
    assert result.json()["files"][0]["kind"] == "create"


def test_a_signed_slip_naming_no_kind_gets_none_from_the_option(world, cli, tmp_path, pki):
    rt = world
    data = ps.sign_pdf(ps.make_slip_pdf(SNV_ROWS, content="Về hộp thư điện tử"), pki.snv,
                       timestamp=CLAIMED)
    before = counts(rt)
    f = refused_file(run_import(cli, put(tmp_path, "x.pdf", data), "--kind", "create"))
    assert "names no single kind of request" in messages(f)
    assert "--kind cannot supply what the chief did not sign" in messages(f)
    assert counts(rt) == before


def test_form_fields_filled_after_signing_are_named_not_imported(world, cli, tmp_path, pki):
    """DocMDP lets anyone fill a signed form's fields: the viewer then shows a value the
    chief never signed. The slip is taken as signed, with a warning saying so."""
    signed = ps.sign_pdf(ps.add_text_field(ps.make_slip_pdf(SNV_ROWS)), pki.snv,
                         timestamp=CLAIMED)
    filled = ps.fill_text_field(signed, "Huy bo tat ca")
    result = run_import(cli, put(tmp_path, "filled.pdf", filled))
    assert result.code == 0, result
    [f] = result.json()["files"]
    [warning] = f["warnings"]
    assert "form fields were filled in after the slip was signed" in warning["message"]
    assert "not part of the signed slip and was not imported" in warning["message"]
    assert [r["hr_id"] for r in f["requests"]] == ["SNV-0003", "SNV-0004"]


@pytest.mark.parametrize("dress", ["one-byte", "metadata-update", "co-signed"])
def test_a_signed_slip_is_imported_once_whatever_is_added(world, cli, tmp_path, pdfs, pki,
                                                          dress):
    """The attack: the same signed slip with one appended byte, or a metadata-only
    incremental update, had another file hash and was imported again (bringing back a
    rejected request, re-locking an unlocked mailbox)."""
    rt = world
    good = pdfs["good"]
    first = run_import(cli, put(tmp_path, "phieu.pdf", good))
    assert first.code == 0, first
    with rt.transaction() as s:  # IID rejects the requests: they must not come back
        s.execute(Request.__table__.update().values(state="rejected"))
    again = {
        "one-byte": ps.append_after_eof(good, b"\n"),
        "metadata-update": ps.update_metadata(good),
        "co-signed": ps.sign_pdf(good, pki.snv_deputy, field_name="Sig2"),
    }[dress]
    assert hashlib.sha256(again).digest() != hashlib.sha256(good).digest()
    before = counts(rt)
    f = refused_file(run_import(cli, put(tmp_path, "phieu-lai.pdf", again)))
    text = messages(f)
    assert "its signature 'Sig1' was already imported on" in text, text
    assert "file 'phieu.pdf'" in text and "ask the unit for a new slip" in text
    assert counts(rt) == before


def test_a_slip_signed_too_long_ago_is_refused(world, cli, tmp_path, pki):
    rt = world
    old = ps.sign_pdf(ps.make_slip_pdf(SNV_ROWS), pki.snv, timestamp=TEST_NOW - timedelta(days=31))
    before = counts(rt)
    f = refused_file(run_import(cli, put(tmp_path, "cu.pdf", old)))
    text = messages(f)
    assert "the slip was signed 31 days ago" in text
    assert "the signing time the signer states" in text
    assert "more than signatures.max_age_days (30); ask the unit for a freshly signed slip" in text
    assert counts(rt) == before
    fresh = ps.sign_pdf(
        ps.make_slip_pdf(SNV_ROWS), pki.snv, timestamp=TEST_NOW - timedelta(days=29)
    )
    assert run_import(cli, put(tmp_path, "moi.pdf", fresh)).code == 0


def test_a_trusted_timestamp_says_how_old_a_slip_is(world, cli, tmp_path, pki, tsa):
    """The signer claims a fresh time, the trusted timestamp (RFC 3161) shows the
    signature existed 40 days ago: the timestamp counts, and the message says so."""
    rt = world
    stale = ps.sign_pdf_timestamped(
        ps.make_slip_pdf(SNV_ROWS),
        pki.snv,
        tsa,
        tsa_time=TEST_NOW - timedelta(days=40),
        claimed=TEST_NOW,
    )
    before = counts(rt)
    f = refused_file(run_import(cli, put(tmp_path, "ts.pdf", stale)))
    text = messages(f)
    assert "signed 40 days ago" in text and "by a trusted timestamp of CN=dnmail Test TSA" in text
    assert counts(rt) == before
    fresh = ps.sign_pdf_timestamped(
        ps.make_slip_pdf(SNV_ROWS), pki.snv, tsa, tsa_time=TEST_NOW - timedelta(days=2)
    )
    result = run_import(cli, put(tmp_path, "ts-moi.pdf", fresh))
    assert result.code == 0, result


def test_a_slip_claiming_a_future_signing_time_is_refused(world, cli, tmp_path, pki):
    future = ps.sign_pdf(
        ps.make_slip_pdf(SNV_ROWS), pki.snv, timestamp=TEST_NOW + timedelta(days=3)
    )
    f = refused_file(run_import(cli, put(tmp_path, "mai.pdf", future)))
    assert "the slip claims to be signed in the future" in messages(f)
