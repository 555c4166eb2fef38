"""An `issuer=…;serial=…` signer pin names one certificate by BOTH parts.

Serial numbers are unique per issuing CA only: another CA that the trust roots also
trust (here `intermediate_b`, under the same root) may issue a certificate with the pinned
serial — and the pinned signer's subject too. It must not count as the pinned signer.
"""

from __future__ import annotations

import pytest

from dnmail.errors import SignatureInvalid
from dnmail.signatures.certs import SignerInfo
from dnmail.signatures.pins import SignerPin, units_of
from dnmail.signatures.verify import verify_pdf_slip
from support import pdfslips as ps
from support.pki import TEST_NOW, build_test_pki

ROWS = (ps.Person("Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", "tuanpm"),)


@pytest.fixture(scope="module")
def pki():
    return build_test_pki(key_type="ec")


def test_the_twin_really_is_a_twin(pki):
    """The material: same subject, same serial, a different CA under the same root."""
    twin, deputy = pki.deputy_twin.cert, pki.snv_deputy.cert
    assert twin.serial_number == deputy.serial_number
    assert twin.subject == deputy.subject
    assert twin.issuer != deputy.issuer
    assert pki.deputy_twin.chain[-1] == pki.snv_deputy.chain[-1] == pki.root.cert


@pytest.mark.parametrize("form", ["certificate", "der", "signer-info"])
def test_a_pin_by_issuer_and_serial_refuses_the_same_serial_from_another_ca(pki, form):
    pin = SignerPin.parse(pki.snv_deputy.issuer_serial_pin)

    def as_form(identity):
        return {"certificate": identity.cert, "der": identity.cert_der,
                "signer-info": SignerInfo.from_certificate(identity.cert)}[form]

    assert pin.matches(as_form(pki.snv_deputy))
    assert not pin.matches(as_form(pki.deputy_twin))
    # and the same serial under another issuer's name written in the pin names the twin only
    twin_pin = SignerPin.parse(pki.deputy_twin.issuer_serial_pin)
    assert twin_pin.matches(as_form(pki.deputy_twin))
    assert not twin_pin.matches(as_form(pki.snv_deputy))


def test_units_of_the_twin_is_nobody(pki):
    pins = {"snv": [SignerPin.parse(pki.snv_deputy.issuer_serial_pin)]}
    assert units_of(SignerInfo.from_certificate(pki.snv_deputy.cert), pins) == ["snv"]
    assert units_of(SignerInfo.from_certificate(pki.deputy_twin.cert), pins) == []


def test_a_slip_signed_by_the_twin_is_refused(pki):
    """End to end through the verifier: the twin's chain is trusted and its signature is
    intact, so the pin is the one thing that refuses it."""
    slip = ps.make_slip_pdf(ROWS)
    args = dict(file_name="slip.pdf", trust_roots=pki.trust_roots, crls=(),
                revocation="soft-fail", now=TEST_NOW,
                unit_signers={"snv": [pki.snv_deputy.issuer_serial_pin]}, unit="snv")
    verdict = verify_pdf_slip(ps.sign_pdf(slip, pki.snv_deputy), **args)
    assert verdict.unit_code == "snv" and verdict.signer.serial == pki.snv_deputy.cert.serial_number

    with pytest.raises(SignatureInvalid) as info:
        verify_pdf_slip(ps.sign_pdf(slip, pki.deputy_twin), **args)
    [report] = info.value.reports
    assert report.intact and report.trusted, report
    message = str(info.value)
    assert "is not an authorised signer of unit snv" in message, message
    assert pki.deputy_twin.pin in message  # the pin an operator would have to add


def test_a_signer_whose_issuer_cannot_be_read_matches_no_issuer_pin(pki):
    """Mutation run survivor: an unreadable issuer name must never count as a match."""
    from dataclasses import replace

    pin = SignerPin.parse(pki.snv_deputy.issuer_serial_pin)
    info = SignerInfo.from_certificate(pki.snv_deputy.cert)
    assert pin.matches(info)
    assert not pin.matches(replace(info, issuer="not a DN at all"))
