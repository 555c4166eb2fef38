"""Write the demo's signed slip and its (test-only) PKI.

    python samples/make_signed_sample.py [--force-new-pki]

Outputs, next to this script:
  pki/root.pem                 trust root for `[signatures] trust_roots`
  pki/intermediate.pem         the issuing CA (also embedded in the signature)
  pki/root.crl.pem             empty CRLs, for `[signatures] crls` / revocation = "require"
  pki/intermediate.crl.pem
  pki/snv-chief.pem            the signer: Chánh Văn phòng, Sở Nội vụ
  pki/*.key.pem                the private keys (TEST MATERIAL, see pki/README.md)
  slip-snv.pdf                 a Phụ lục II slip of unit snv, signed by its chief of office

The PKI is made once and reused on later runs (so the pin printed stays the same);
--force-new-pki makes a new one. Certificates are valid 2026-01-01 → 2046-01-01.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from support import pdfslips as ps  # noqa: E402
from support.pki import (  # noqa: E402
    SNV_ORG,
    Identity,
    make_ca,
    make_crl,
    make_name,
    make_signer,
    write_crl_pem,
    write_key_pem,
    write_pem,
)

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2046, 1, 1, tzinfo=UTC)
PKI_DIR = HERE / "pki"
ROWS = (
    ps.Person("Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", "tuanpm"),
    ps.Person("Võ Thị Lan", "Văn phòng", "0914222333", ""),
)


def _load(label: str, stem: str, chain: tuple[x509.Certificate, ...]) -> Identity:
    cert = x509.load_pem_x509_certificate((PKI_DIR / f"{stem}.pem").read_bytes())
    key = serialization.load_pem_private_key((PKI_DIR / f"{stem}.key.pem").read_bytes(), None)
    return Identity(label, cert, key, chain)


def load_or_make_pki(force: bool) -> tuple[Identity, Identity, Identity]:
    names = ("root", "intermediate", "snv-chief")
    if not force and all((PKI_DIR / f"{n}.pem").exists() and (PKI_DIR / f"{n}.key.pem").exists()
                         for n in names):
        root = _load("root", "root", ())
        inter = _load("intermediate", "intermediate", (root.cert,))
        chief = _load("snv", "snv-chief", (inter.cert, root.cert))
        return root, inter, chief
    org = "Cơ quan chứng thực mẫu dnmail (THỬ NGHIỆM)"
    root = make_ca("root", make_name("dnmail Sample Root CA", org=org),
                   not_before=NOT_BEFORE, not_after=NOT_AFTER)
    inter = make_ca("intermediate", make_name("dnmail Sample Signing CA", org=org), issuer=root,
                    path_length=0, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    chief = make_signer("snv", make_name("Nguyễn Văn An", title="Chánh Văn phòng", org=SNV_ORG),
                        inter, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    for ident, stem in ((root, "root"), (inter, "intermediate"), (chief, "snv-chief")):
        write_pem(PKI_DIR / f"{stem}.pem", ident.cert)
        write_key_pem(PKI_DIR / f"{stem}.key.pem", ident)
    return root, inter, chief


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force-new-pki", action="store_true")
    args = parser.parse_args(argv)

    root, inter, chief = load_or_make_pki(args.force_new_pki)
    # empty CRLs, valid for the whole life of the sample PKI
    write_crl_pem(PKI_DIR / "root.crl.pem",
                  make_crl(root, this_update=NOT_BEFORE, next_update=NOT_AFTER))
    write_crl_pem(PKI_DIR / "intermediate.crl.pem",
                  make_crl(inter, this_update=NOT_BEFORE, next_update=NOT_AFTER))

    pdf = ps.make_slip_pdf(
        ROWS,
        unit_name="Sở Nội vụ thành phố Đà Nẵng",
        requester_name="Nguyễn Văn An",
        requester_position="Chánh Văn phòng",
        requester_phone="0236 3822 111",
        content="Cấp mới hộp thư điện tử",
        date_line="Đà Nẵng, ngày 28 tháng 11 năm 2026",
    )
    signed = ps.sign_pdf(pdf, chief, field_name="ChanhVanPhong")
    out = HERE / "slip-snv.pdf"
    out.write_bytes(signed)

    print(f"wrote {out.relative_to(HERE.parent)} ({len(signed)} bytes) and {PKI_DIR.relative_to(HERE.parent)}/")
    print("config:")
    print("  [signatures]")
    print('  trust_roots = ["samples/pki/root.pem"]')
    print('  crls = ["samples/pki/root.crl.pem", "samples/pki/intermediate.crl.pem"]')
    print("  [units.snv]")
    print(f'  signers = ["{chief.pin}"]')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
