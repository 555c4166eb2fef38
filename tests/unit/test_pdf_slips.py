"""Signed PDF slips: the signature rule of DESIGN §5 and the table read from the signed revision.

The PKI and the PDFs are built in code (tests/support); nothing touches the network.
Every case asserts the verdict: accepted with what, or refused with which reason.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from datetime import timedelta

import pytest

from dnmail.domain.states import RequestKind
from dnmail.errors import ConfigError, InvalidFile, SignatureInvalid, UnsafeFile
from dnmail.readers.pdf_table import read_pdf_slip
from dnmail.signatures.certs import SignerInfo
from dnmail.signatures.pins import SignerPin
from dnmail.signatures.trust import load_certificates, load_crls
from dnmail.signatures.verify import PdfSlipVerdict, extract_signed_revision, verify_pdf_slip
from support import pdfslips as ps
from support.pki import (
    SNV_ORG,
    TEST_NOW,
    build_test_pki,
    make_crl,
    make_name,
    make_signer,
    sha256_fingerprint,
    shown,
    write_crl_pem,
    write_pem,
)

ROWS = (
    ps.Person("Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", "tuanpm"),
    ps.Person("Võ Thị Lan", "Văn phòng", "0914222333", ""),
    ps.Person("Nguyễn Thị Ánh Tuyết", "Phòng Công chức, viên chức", "0236 3822 456", "tuyetnta"),
)
FAKE_ROWS = (ps.Person("Kẻ Gian Lận", "Phòng Ma", "0999888777", "gianlan"),)


@pytest.fixture(scope="session")
def pki():
    return build_test_pki()


@pytest.fixture(scope="session")
def extra(pki):
    """Rarer certificates: encryption-only key usage, not yet valid, a TSA, a stale CRL."""
    return {
        "enc": make_signer("enc", make_name("Mã Hóa", org=SNV_ORG), pki.intermediate,
                           non_repudiation=False, digital_signature=False),
        "future": make_signer("future", make_name("Tương Lai", org=SNV_ORG), pki.intermediate,
                              not_before=TEST_NOW.replace(hour=0, minute=0) + timedelta(days=35)),
        "tsa": make_signer("tsa", make_name("dnmail Test TSA"), pki.intermediate,
                           time_stamping=True),
        # lists the revoked signer, but its next update (3 days ago) is before TEST_NOW
        "stale_crl": make_crl(pki.intermediate, [(pki.revoked.cert, pki.revoked_at)],
                              this_update=pki.revoked_at,
                              next_update=TEST_NOW - timedelta(days=3)),
    }


@pytest.fixture(scope="session")
def pins(pki):
    """[units.X] signers: the expired/revoked/no-CRL signers are pinned on purpose, so
    that the certificate problem is the only reason they are refused."""
    snv = [pki.snv.pin, pki.snv_deputy.issuer_serial_pin, pki.expired.pin, pki.revoked.pin,
           pki.no_crl.pin]
    return {
        "snv": [SignerPin.parse(p) for p in snv],
        "sgtvt": [SignerPin.parse(pki.sgtvt.pin)],
    }


@pytest.fixture(scope="session")
def slip_pdf():
    return ps.make_slip_pdf(ROWS)


@pytest.fixture(scope="session")
def good(pki, slip_pdf):
    return ps.sign_pdf(slip_pdf, pki.snv)


@pytest.fixture(scope="session")
def verify(pki, pins):
    def _verify(data: bytes, **kw) -> PdfSlipVerdict:
        args = dict(file_name="slip.pdf", trust_roots=pki.trust_roots, crls=pki.crls,
                    revocation="soft-fail", now=TEST_NOW, unit_signers=pins, unit="snv")
        args.update(kw)
        return verify_pdf_slip(data, **args)

    return _verify


def refused(verify, data: bytes, **kw) -> str:
    with pytest.raises(SignatureInvalid) as info:
        verify(data, **kw)
    message = str(info.value)
    assert message.startswith("slip.pdf: ")
    return message


def names(content) -> list[str]:
    return [r.full_name for r in content.rows]


# --- accepted ------------------------------------------------------------------------


def test_good_slip_is_accepted_and_read_back_exactly(verify, good, pki):
    verdict = verify(good)
    assert verdict.unit_code == "snv"
    assert verdict.signer.fingerprint == pki.snv.fingerprint
    assert verdict.signer.subject.startswith("CN=Nguyễn Văn An,title=Chánh Văn phòng")
    assert verdict.signed_revision == good
    [report] = verdict.signatures
    assert report.ok and report.intact and report.valid and report.trusted
    assert (report.coverage, report.modification_level, report.docmdp_ok) == (
        "ENTIRE_FILE", "NONE", True)
    assert report.revoked is False  # the intermediate's CRL covers it and does not list it

    content = read_pdf_slip(verdict.signed_revision, file_name="slip.pdf")
    assert content.format == "pdf"
    assert content.unit_name == "Sở Nội vụ thành phố Đà Nẵng"
    assert content.requester_name == "Nguyễn Văn An"
    assert content.requester_position == "Chánh Văn phòng"
    assert content.requester_phone == "02363822111"
    assert content.content == "Cấp mới hộp thư điện tử"
    assert content.kind is RequestKind.CREATE
    assert [(r.row, r.seq, r.full_name, r.department, r.phone, r.requested_address, r.page)
            for r in content.rows] == [
        (1, "1", "Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", "tuanpm", 1),
        (2, "2", "Võ Thị Lan", "Văn phòng", "0914222333", "", 1),
        (3, "3", "Nguyễn Thị Ánh Tuyết", "Phòng Công chức, viên chức", "02363822456",
         "tuyetnta", 1),
    ]
    assert content.warnings == ()


def test_nfd_input_reads_back_nfc(verify, pki):
    def nfd(s):
        return unicodedata.normalize("NFD", s)

    rows = [ps.Person(nfd(p.full_name), nfd(p.department), p.phone, p.address) for p in ROWS]
    data = ps.sign_pdf(ps.make_slip_pdf(rows, requester_name=nfd("Lê Thị Mỹ Hạnh"),
                                        content=nfd("Hủy bỏ hộp thư")), pki.snv)
    content = read_pdf_slip(verify(data).signed_revision, file_name="slip.pdf")
    assert names(content) == [p.full_name for p in ROWS]
    assert all(unicodedata.is_normalized("NFC", r.full_name + r.department) for r in content.rows)
    assert content.requester_name == "Lê Thị Mỹ Hạnh"
    assert content.kind is RequestKind.CANCEL


def test_two_good_signatures(verify, good, pki):
    data = ps.sign_pdf(good, pki.snv_deputy, field_name="Sig2")
    verdict = verify(data)
    first, second = verdict.signatures
    assert first.ok and second.ok
    assert (first.coverage, first.modification_level) == ("ENTIRE_REVISION", "FORM_FILLING")
    assert second.coverage == "ENTIRE_FILE"
    # the latest authorised signature counts: it covers the most
    assert verdict.signer.fingerprint == pki.snv_deputy.fingerprint
    assert verdict.signed_revision == data
    content = read_pdf_slip(verdict.signed_revision, file_name="s")
    assert names(content) == [p.full_name for p in ROWS]


def test_co_signature_by_another_unit_is_reported_but_the_chief_counts(verify, good, pki):
    data = ps.sign_pdf(good, pki.sgtvt, field_name="Sig2")
    verdict = verify(data)
    assert verdict.signer.fingerprint == pki.snv.fingerprint
    assert verdict.signed_revision == good  # Sig1's revision
    assert verdict.signatures[0].ok
    assert "not an authorised signer of unit snv (authorised for: sgtvt)" in (
        verdict.signatures[1].problems[0])


def test_digital_signature_only_key_usage_is_accepted(verify, slip_pdf, pki):
    # snv_deputy: keyUsage digitalSignature only, pinned by issuer + serial
    verdict = verify(ps.sign_pdf(slip_pdf, pki.snv_deputy))
    assert verdict.signer.serial == pki.snv_deputy.cert.serial_number


def test_non_repudiation_only_and_pkcs7_subfilter_are_accepted(verify, slip_pdf, pki):
    verdict = verify(ps.sign_pdf(slip_pdf, pki.sgtvt, pades=False), unit="sgtvt")
    assert verdict.unit_code == "sgtvt"


def test_metadata_update_after_signing_is_accepted(verify, good):
    data = ps.update_metadata(good)
    verdict = verify(data)
    assert verdict.signatures[0].modification_level == "LTA_UPDATES"
    assert verdict.signed_revision == good


def test_bytes_after_eof_are_accepted_and_never_read(verify, good):
    data = ps.append_after_eof(good, b"\n% junk after signing\n")
    verdict = verify(data)
    assert (verdict.signatures[0].coverage, verdict.signatures[0].modification_level) == (
        "ENTIRE_REVISION", "NONE")
    assert verdict.signed_revision == good


def test_document_timestamp_after_signing_is_accepted(verify, good, extra):
    data = ps.add_document_timestamp(good, extra["tsa"])
    verdict = verify(data)
    signature, timestamp = verdict.signatures
    assert signature.modification_level == "LTA_UPDATES" and signature.ok
    assert timestamp.intact and timestamp.ok
    assert verdict.signed_revision == good


def test_unit_inferred_from_pin(verify, slip_pdf, pki):
    verdict = verify(ps.sign_pdf(slip_pdf, pki.sgtvt), unit=None)
    assert verdict.unit_code == "sgtvt"
    # pins straight from the config text work too
    verdict = verify(ps.sign_pdf(slip_pdf, pki.sgtvt), unit=None,
                     unit_signers=pki.unit_signers_config())
    assert verdict.unit_code == "sgtvt"


def test_pem_trust_roots_and_crls_are_accepted(verify, good, pki):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem_crls = [x509.load_der_x509_crl(c).public_bytes(Encoding.PEM) for c in pki.crls]
    verdict = verify(good, trust_roots=[pki.root.cert_pem], crls=pem_crls, revocation="require")
    assert verdict.unit_code == "snv"


# --- refused: the bytes --------------------------------------------------------------


def test_bytes_changed_after_signing(verify, good):
    message = refused(verify, ps.flip_byte_in_signed_content(good))
    assert "signature 'Sig1' by CN=Nguyễn Văn An" in message
    assert "changed after signing" in message


def test_broken_second_signature_refuses_the_file(verify, good, pki):
    data = ps.sign_pdf(good, pki.snv_deputy, field_name="Sig2")
    message = refused(verify, ps.flip_byte_in_signature_dict(data))
    assert "signature 'Sig2'" in message and "changed after signing" in message
    assert "'Sig1'" not in message


HIDDEN_CANCEL = "Nội dung yêu cầu: Hủy bỏ"


def test_a_hidden_white_cancel_signed_with_a_change_slip_is_refused(verify, pki, monkeypatch):
    """Issue 12 §1: whoever prepares the slip adds a white "Hủy bỏ" the chief never sees;
    the signature holds (the chief signed it), so the reader must refuse it, naming the
    page and the text."""
    change = ps.make_slip_pdf(ROWS, content="Thay đổi thông tin hộp thư")
    signed = ps.sign_pdf(ps.add_hidden_text(change, HIDDEN_CANCEL), pki.snv)
    revision = verify(signed).signed_revision  # the signature is good

    with pytest.raises(InvalidFile) as exc:
        read_pdf_slip(revision, file_name="slip.pdf")
    (problem,) = exc.value.problems
    assert (problem.file, problem.page) == ("slip.pdf", 1)
    assert f"text '{HIDDEN_CANCEL}' would not be visible" in problem.message
    assert "#ffffff on #ffffff" in problem.message

    # the attack, without the check: the change slip reads as a cancel
    import dnmail.readers.pdf_visibility as visibility

    monkeypatch.setattr(visibility, "refuse_hidden_text", lambda pages, file_name: None)
    assert read_pdf_slip(revision, file_name="slip.pdf").kind is RequestKind.CANCEL
    assert read_pdf_slip(verify(ps.sign_pdf(change, pki.snv)).signed_revision,
                         file_name="slip.pdf").kind is RequestKind.CHANGE


@pytest.mark.parametrize("attack", [ps.paint_over_table, ps.replace_page_content])
def test_incremental_update_over_the_table_is_refused(verify, good, attack):
    data = attack(good, FAKE_ROWS)
    message = refused(verify, data)
    assert "the document was changed after signing" in message
    # what a viewer shows now is not what was signed ...
    try:
        latest = names(read_pdf_slip(data, file_name="slip.pdf"))
    except InvalidFile:
        latest = None  # overlaid text extracts as garbage
    assert latest != [p.full_name for p in ROWS]
    # ... and the signed revision still holds the original rows
    signed = extract_signed_revision(data, "Sig1")
    assert signed == good
    assert names(read_pdf_slip(signed, file_name="slip.pdf")) == [p.full_name for p in ROWS]


def test_unsigned_pdf(verify, slip_pdf):
    assert "has no digital signature" in refused(verify, slip_pdf)


def test_truncated_file_is_invalid(verify, good):
    with pytest.raises(InvalidFile) as info:
        verify(ps.truncate(good, 0.6))
    assert not isinstance(info.value, SignatureInvalid)
    assert str(info.value).startswith("slip.pdf: not a readable PDF")
    assert info.value.exit_code == 2


@pytest.mark.parametrize("data", [b"PK\x03\x04 not a pdf", b"", b"%PDF-1.7\n garbage"])
def test_non_pdf_is_invalid(verify, data):
    with pytest.raises(InvalidFile) as info:
        verify(data)
    assert str(info.value).startswith("slip.pdf: ")
    if data.startswith(b"PK"):
        assert isinstance(info.value, UnsafeFile)


# --- refused: the signer -------------------------------------------------------------


def test_untrusted_signer(verify, slip_pdf, pki):
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.stranger))
    assert "does not chain to a configured trust root" in message


def test_rogue_ca_copying_the_subject(verify, slip_pdf, pki, pins):
    assert pki.rogue_snv.cert.subject == pki.snv.cert.subject
    assert not any(p.matches(pki.rogue_snv.cert) for p in pins["snv"])
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.rogue_snv))
    assert "does not chain to a configured trust root" in message
    # even a (misconfigured) trust of the rogue root does not make its copy the pinned signer
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.rogue_snv),
                      trust_roots=[pki.root.cert_der, pki.rogue_root.cert_der])
    assert ("is not an authorised signer of unit snv (not named in any unit's signers; "
            f"its pin is {pki.rogue_snv.pin})") in message


def test_expired_signer(verify, slip_pdf, pki):
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.expired))
    ended = shown(pki.expired.cert.not_valid_after_utc)
    assert f"certificate expired at {ended} (validated at {shown(TEST_NOW)})" in message


def test_backdated_signature_is_validated_at_import_time(verify, slip_pdf, pki):
    # inside the expired cert's validity
    claimed = pki.expired.cert.not_valid_before_utc + timedelta(days=500)
    data = ps.sign_pdf(slip_pdf, pki.expired, timestamp=claimed)
    with pytest.raises(SignatureInvalid) as info:
        verify(data)
    [report] = info.value.reports
    assert report.signer.signing_time == claimed
    assert not report.trusted
    expired_at = shown(pki.expired.cert.not_valid_after_utc)
    assert f"certificate expired at {expired_at}" in str(info.value)
    assert f"the signing time it claims ({shown(claimed)})" in str(info.value)


def test_certificate_not_yet_valid(verify, slip_pdf, extra):
    data = ps.sign_pdf(slip_pdf, extra["future"])
    message = refused(verify, data, unit_signers={"snv": [SignerPin.parse(extra["future"].pin)]})
    starts = shown(extra["future"].cert.not_valid_before_utc)
    assert f"certificate is not valid before {starts} (validated at {shown(TEST_NOW)})" in message


def test_encryption_only_certificate_is_refused(verify, slip_pdf, extra):
    data = ps.sign_pdf(slip_pdf, extra["enc"])
    message = refused(verify, data, unit_signers={"snv": [SignerPin.parse(extra["enc"].pin)]})
    assert "key usage allows neither digitalSignature nor nonRepudiation" in message


@pytest.mark.parametrize("mode", ["require", "soft-fail"])
def test_revoked_signer_with_the_crl(verify, slip_pdf, pki, mode):
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.revoked), revocation=mode)
    assert f"certificate revoked at {shown(pki.revoked_at)}" in message


def test_stale_crl(verify, slip_pdf, pki, good, extra):
    stale = [pki.crl_root, extra["stale_crl"]]
    # soft-fail: a stale CRL still proves a revocation ...
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.revoked), crls=stale)
    assert "certificate revoked at" in message
    # ... and does not refuse a good signer
    assert verify(good, crls=stale).unit_code == "snv"
    # require: a stale CRL is no CRL
    assert "the configured CRL is out of date" in refused(
        verify, good, crls=stale, revocation="require"
    )


def test_revoked_signer_soft_fail_without_crl_passes(verify, slip_pdf, pki):
    # documents what soft-fail means: no CRL configured, nothing to refuse on
    verdict = verify(ps.sign_pdf(slip_pdf, pki.revoked), crls=())
    assert verdict.signatures[0].revoked is None


def test_require_with_every_crl_accepts_a_good_signer(verify, good):
    assert verify(good, revocation="require").signatures[0].revoked is False


def test_require_refuses_a_cert_no_crl_covers(verify, slip_pdf, pki, good):
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.no_crl), revocation="require")
    assert 'no configured CRL covers the certificate (revocation = "require")' in message
    message = refused(verify, good, revocation="require", crls=())
    assert "no configured CRL covers a CA certificate of its chain" in message


def test_no_crl_cert_passes_soft_fail(verify, slip_pdf, pki):
    assert verify(ps.sign_pdf(slip_pdf, pki.no_crl)).signatures[0].revoked is None


def test_trusted_signer_of_another_unit(verify, slip_pdf, pki):
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.sgtvt), unit="snv")
    assert message == (
        f"slip.pdf: signature 'Sig1' by {pki.sgtvt.subject.replace('2.5.4.12=', 'title=')}: "
        f"signer {pki.sgtvt.subject.replace('2.5.4.12=', 'title=')} is not an authorised signer "
        "of unit snv (authorised for: sgtvt)"
    )


def test_unit_inference_must_be_unambiguous(verify, slip_pdf, pki):
    both = {"snv": [SignerPin.parse(pki.snv.pin)], "stttt": [SignerPin.parse(pki.snv.pin)]}
    message = refused(verify, ps.sign_pdf(slip_pdf, pki.snv), unit=None, unit_signers=both)
    assert "authorised for several units (snv, stttt)" in message
    message = refused(
        verify,
        ps.sign_pdf(slip_pdf, pki.snv),
        unit=None,
        unit_signers={"sgtvt": [SignerPin.parse(pki.sgtvt.pin)]},
    )
    assert "is not an authorised signer of any unit" in message


def test_unit_without_signers(verify, good):
    assert "unit sxd has no authorised signers" in refused(verify, good, unit="sxd")


def test_every_reason_is_named(verify, good, pki):
    data = ps.sign_pdf(
        ps.sign_pdf(ps.make_slip_pdf(ROWS), pki.expired), pki.sgtvt, field_name="Sig2"
    )
    message = refused(verify, data)
    assert "\n  - signature 'Sig1'" in message and "certificate expired" in message
    assert "\n  - signature 'Sig2'" in message and "(authorised for: sgtvt)" in message


def test_bad_configuration(verify, good):
    with pytest.raises(ConfigError, match="revocation"):
        verify(good, revocation="hard-fail")
    with pytest.raises(ConfigError, match="no trust roots"):
        verify(good, trust_roots=[])


# --- pins and files ------------------------------------------------------------------


def test_signer_pin_forms(pki):
    fp = pki.snv.fingerprint
    colons = ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()
    for text in (f"sha256:{fp}", f"SHA256:{colons}", f"sha256: {fp.upper()}"):
        pin = SignerPin.parse(text)
        assert pin.fingerprint == fp and str(pin) == f"sha256:{fp}"
        assert pin.matches(pki.snv.cert) and pin.matches(pki.snv.cert_der)
        assert not pin.matches(pki.rogue_snv.cert)
    pin = SignerPin.parse(pki.snv_deputy.issuer_serial_pin)
    assert pin.matches(pki.snv_deputy.cert)
    assert pin.matches(SignerInfo.from_certificate(pki.snv_deputy.cert))
    assert not pin.matches(pki.snv.cert)
    decimal = SignerPin.parse(
        f"issuer={pki.intermediate.cert.subject.rfc4514_string()};"
        f"serial={pki.snv_deputy.cert.serial_number}"
    )
    assert decimal == pin
    openssl_form = SignerPin.parse(  # `openssl x509 -noout -issuer -serial -nameopt RFC2253`
        f"issuer={pki.intermediate.cert.subject.rfc4514_string()};"
        f"serial=0x{pki.snv_deputy.cert.serial_number:X}"
    )
    assert openssl_form == pin
    hex_serial = f"{pki.snv_deputy.cert.serial_number:x}"
    hex_serial = "0" * (len(hex_serial) % 2) + hex_serial
    colon_hex = ":".join(hex_serial[i : i + 2] for i in range(0, len(hex_serial), 2))
    assert SignerPin.parse(f"issuer={pin.issuer};serial={colon_hex}") == pin
    assert sha256_fingerprint(pki.snv.cert) == fp
    for bad in (
        "",
        "CN=Nguyễn Văn An",
        "sha256:1234",
        "md5:" + "0" * 32,
        "issuer=CN=x",
        "issuer=CN=x;serial=zz",
        "issuer=CN=x;serial=03FFAB",
        "issuer=not a dn;serial=1",
    ):
        with pytest.raises(ConfigError):
            SignerPin.parse(bad)


def test_load_certificates_and_crls(tmp_path, pki):
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pki.root.cert_pem + pki.intermediate.cert_pem)
    der = tmp_path / "root.der"
    der.write_bytes(pki.root.cert_der)
    assert load_certificates([bundle, der]) == [
        pki.root.cert_der,
        pki.intermediate.cert_der,
        pki.root.cert_der,
    ]
    crl_pem = write_crl_pem(tmp_path / "i.crl.pem", pki.crl_intermediate)
    crl_der = tmp_path / "r.crl"
    crl_der.write_bytes(pki.crl_root)
    assert load_crls([crl_pem, crl_der]) == [pki.crl_intermediate, pki.crl_root]
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"hello")
    with pytest.raises(ConfigError, match=r"junk\.pem"):
        load_certificates([junk])
    with pytest.raises(ConfigError, match=r"junk\.pem"):
        load_crls([junk])
    with pytest.raises(ConfigError, match=r"missing\.pem"):
        load_certificates([tmp_path / "missing.pem"])
    with pytest.raises(ConfigError, match=r"roots\.pem.*no X509 CRL"):
        load_crls([bundle])
    write_pem(tmp_path / "one.pem", pki.root.cert)
    assert load_certificates([tmp_path / "one.pem"]) == [pki.root.cert_der]


# --- reading the table ---------------------------------------------------------------


def _spelled(i: int) -> str:
    """A name part made of letters only (a person's name holds no digit): 1 → "Ab"."""
    return chr(65 + i // 26) + chr(97 + i % 26)


MANY = [
    ps.Person(f"Người Thứ {_spelled(i)}", "Phòng Một", f"09051234{i:02d}", f"user{i}")
    for i in range(1, 61)
]


@pytest.mark.parametrize("repeat_header", [True, False])
def test_table_across_pages(repeat_header):
    content = read_pdf_slip(ps.make_slip_pdf(MANY, repeat_header=repeat_header), file_name="m.pdf")
    assert names(content) == [p.full_name for p in MANY]
    assert [r.seq for r in content.rows] == [str(i) for i in range(1, 61)]
    assert {r.page for r in content.rows} == {1, 2}
    assert content.rows[-1].page == 2 and content.rows[-1].row < 60


def test_no_table_names_file_and_page():
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, "Just a letter, no table")
    c.save()
    with pytest.raises(InvalidFile) as info:
        read_pdf_slip(buf.getvalue(), file_name="letter.pdf")
    assert str(info.value).startswith("letter.pdf, page 1: no Phụ lục II table found")


def test_empty_table():
    with pytest.raises(InvalidFile, match=r"e\.pdf, page 1: the table has no rows"):
        read_pdf_slip(ps.make_slip_pdf([], blank_rows=3), file_name="e.pdf")


def test_bad_cells_name_page_row_and_column():
    rows = [ps.Person("Trần Đức", "Văn phòng", "12ab", ""), ps.Person("", "Văn phòng", "", "")]
    with pytest.raises(InvalidFile) as info:
        read_pdf_slip(ps.make_slip_pdf(rows), file_name="b.pdf")
    problems = info.value.problems
    assert [(p.page, p.row, p.column) for p in problems] == [
        (1, 1, "Số điện thoại"),
        (1, 2, "Họ và tên"),
    ]


def test_rows_after_an_empty_row_are_ignored_with_a_warning():
    rows = [
        ps.Person("Trần Đức", "VP", "0905123456"),
        ps.Person("", "", ""),
        ps.Person("Lê Thị Hà", "VP", "0905123457"),
    ]
    content = read_pdf_slip(ps.make_slip_pdf(rows), file_name="g.pdf")
    assert names(content) == ["Trần Đức"]
    [warning] = content.warnings
    assert (warning.page, warning.row) == (1, 2) and "rows 3" in warning.message


def test_restored_phone_is_a_warning():
    content = read_pdf_slip(
        ps.make_slip_pdf([ps.Person("Trần Đức", "VP", "905123456")]), file_name="w.pdf"
    )
    assert content.rows[0].phone == "0905123456" and content.rows[0].phone_restored
    [warning] = content.warnings
    assert (warning.file, warning.page, warning.row, warning.column) == (
        "w.pdf",
        1,
        1,
        "Số điện thoại",
    )


def test_heavy_libraries_are_imported_lazily():
    code = (
        "import sys, dnmail.signatures.verify, dnmail.readers.pdf_table, "
        "dnmail.readers.slip, dnmail.services.slip_import; "
        "bad = [m for m in ('pyhanko', 'pdfplumber', 'reportlab') if m in sys.modules]; "
        "print(*bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
