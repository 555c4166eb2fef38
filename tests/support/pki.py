"""A throw-away PKI built in code with `cryptography` (no network, no openssl CLI).

It mirrors what a unit's chief of office holds in production: a root CA (the
government CA's role), an intermediate CA that issues signing certificates, and one
signing certificate per unit. Around them, the cases the signature rule must refuse:

  root ─┬─ intermediate ─┬─ snv        Chánh Văn phòng Sở Nội vụ   nonRepudiation + digitalSignature
        │                ├─ snv_deputy Phó Chánh Văn phòng SNV     digitalSignature only
        │                ├─ sgtvt      Chánh Văn phòng Sở GTVT     nonRepudiation only
        │                ├─ expired    valid from 4 years to 2 years before `now`
        │                └─ revoked    listed in the intermediate's CRL
        └─ intermediate_b ─┬─ no_crl      (no CRL is ever published for intermediate_b)
                           └─ deputy_twin the subject AND serial number of `snv_deputy`
                                          (pinned by issuer + serial: another trusted CA's
                                          certificate with that serial must not pass)
  rogue_root ─┬─ rogue_snv             the exact subject of `snv`, different key
              └─ stranger              an unrelated, untrusted signer

`crl_root` (covers the intermediates) and `crl_intermediate` (lists `revoked`) are
DER; `pki.crls` gives both, which is what `revocation = "require"` needs for the
signers under `intermediate`.

Keys are RSA-2048 by default (the government CA's choice); `key_type="ec"` builds a
faster P-256 PKI. Everything here is test material: never trust these roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _start_of_day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def _suite_now() -> datetime:
    """The real time, to the minute; never exactly midnight (messages print a midnight
    as a bare date, any other moment as date and time)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now + timedelta(minutes=1) if now == _start_of_day(now) else now


#: The validation moment the test-suite uses ("the time of import"): the real time when
#: the tests start. Nothing can move the clock of a `dnmail` subprocess, so the PKI is
#: dated around the real now: valid from ~11 months before it to 20 years after it;
#: the expired signer's certificate ended 2 years before it. In-process tests that need
#: "now" to be exactly TEST_NOW freeze it there with time-machine.
TEST_NOW = _suite_now()


def shown(dt: datetime) -> str:
    """A moment as dnmail's messages print it: a bare date at midnight UTC, else date and
    time ("2026-11-28" or "2026-11-28 09:00 UTC")."""
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%d}" if dt == _start_of_day(dt) else f"{dt:%Y-%m-%d %H:%M} UTC"

DEFAULT_NOT_BEFORE = _start_of_day(TEST_NOW) - timedelta(days=330)
DEFAULT_NOT_AFTER = _start_of_day(TEST_NOW) + timedelta(days=20 * 365)


def make_name(cn: str, *, title: str | None = None, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, "Đà Nẵng"))
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def sha256_fingerprint(cert: x509.Certificate | bytes) -> str:
    """Lowercase hex SHA-256 of the DER certificate (what
    `openssl x509 -outform DER | sha256sum` prints)."""
    der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Identity:
    """A certificate with its private key and the CA certificates above it (root last)."""

    label: str
    cert: x509.Certificate
    key: object  # RSAPrivateKey | EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()  # issuing CA first, root last

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        return sha256_fingerprint(self.cert)

    @property
    def pin(self) -> str:
        """The config form: "sha256:<64 hex>"."""
        return "sha256:" + self.fingerprint

    @property
    def issuer_serial_pin(self) -> str:
        """The config alternative: "issuer=<RFC 4514 DN>;serial=0x<hex>"."""
        return f"issuer={self.cert.issuer.rfc4514_string()};serial={self.cert.serial_number:#x}"

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()


def _new_key(key_type: str):
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key type {key_type!r}")


def _ski(key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def make_ca(
    label: str,
    subject: x509.Name,
    *,
    key_type: str = "rsa",
    issuer: Identity | None = None,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    path_length: int | None = None,
) -> Identity:
    """A root CA (issuer None) or an intermediate CA signed by `issuer`."""
    key = _new_key(key_type)
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
    cert = builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
    chain = (issuer.cert, *issuer.chain) if issuer else ()
    return Identity(label, cert, key, chain)


def make_signer(
    label: str,
    subject: x509.Name,
    issuer: Identity,
    *,
    key_type: str = "rsa",
    non_repudiation: bool = True,
    digital_signature: bool = True,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    serial: int | None = None,
    time_stamping: bool = False,
) -> Identity:
    """An end-entity signing certificate (what a chief of office's token holds).

    `time_stamping=True` makes a TSA certificate (critical EKU timeStamping) instead.
    """
    key = _new_key(key_type)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=non_repudiation,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
            if time_stamping
            else x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=time_stamping,
        )
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Identity(label, cert, key, (issuer.cert, *issuer.chain))


def make_crl(
    issuer: Identity,
    revoked: Iterable[tuple[x509.Certificate, datetime]] = (),
    *,
    this_update: datetime,
    next_update: datetime,
    number: int = 1,
) -> bytes:
    """A DER CRL signed by `issuer` listing `revoked` (cert, revocation date)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[attr-defined]
            critical=False,
        )
    )
    for cert, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(when)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    crl = builder.sign(issuer.key, hashes.SHA256())  # type: ignore[arg-type]
    return crl.public_bytes(serialization.Encoding.DER)


SNV_ORG = "Sở Nội vụ thành phố Đà Nẵng"
SGTVT_ORG = "Sở Giao thông Vận tải thành phố Đà Nẵng"


@dataclass
class TestPki:
    root: Identity
    intermediate: Identity
    intermediate_b: Identity
    snv: Identity
    snv_deputy: Identity
    sgtvt: Identity
    expired: Identity
    revoked: Identity
    no_crl: Identity
    deputy_twin: Identity
    rogue_root: Identity
    rogue_snv: Identity
    stranger: Identity
    crl_root: bytes
    crl_intermediate: bytes
    revoked_at: datetime
    extra: dict[str, Identity] = field(default_factory=dict)

    __test__ = False  # not a pytest class

    @property
    def trust_roots(self) -> list[bytes]:
        return [self.root.cert_der]

    @property
    def crls(self) -> list[bytes]:
        return [self.crl_root, self.crl_intermediate]

    def unit_signers_config(self) -> dict[str, list[str]]:
        """`[units.X] signers` as the config would hold them."""
        return {
            "snv": [self.snv.pin, self.snv_deputy.issuer_serial_pin],
            "sgtvt": [self.sgtvt.pin],
        }


def build_test_pki(
    *,
    key_type: str = "rsa",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    now: datetime = TEST_NOW,
) -> TestPki:
    """Build the whole test PKI (about 1 s with RSA, 0.1 s with EC).

    Everything is dated relative to `now` (by default the real time the suite started):
    the signers are valid from 330 days before its day to 20 years after it (or between
    `not_before` and `not_after`), the expired signer from 4 to 2 years before it. CRLs
    are issued 30 days before `now` and expire a year after it, and the revoked signer's
    revocation date is 10 days before `now`, so that validation at `now` (or at the real
    time in a subprocess started soon after) sees a fresh CRL listing it.
    """
    today = _start_of_day(now)
    if not_before is None:
        not_before = today - timedelta(days=330)
    if not_after is None:
        not_after = today + timedelta(days=20 * 365)
    ca_name = "Cơ quan chứng thực thử nghiệm dnmail"
    # The CAs are older than every signer (the expired one included), as real ones are.
    ca_from = min(not_before, today - timedelta(days=5 * 365))
    root = make_ca(
        "root",
        make_name("dnmail Test Root CA", org=ca_name),
        key_type=key_type,
        not_before=ca_from - timedelta(days=365),
        not_after=not_after + timedelta(days=365),
    )
    inter = make_ca(
        "intermediate",
        make_name("dnmail Test Signing CA", org=ca_name),
        key_type=key_type,
        issuer=root,
        path_length=0,
        not_before=ca_from - timedelta(days=180),
        not_after=not_after + timedelta(days=180),
    )
    inter_b = make_ca(
        "intermediate_b",
        make_name("dnmail Test Signing CA B", org=ca_name),
        key_type=key_type,
        issuer=root,
        path_length=0,
        not_before=ca_from - timedelta(days=180),
        not_after=not_after + timedelta(days=180),
    )

    def signer(label, cn, title, org, issuer=inter, **kw):
        return make_signer(
            label,
            make_name(cn, title=title, org=org),
            issuer,
            key_type=key_type,
            not_before=kw.pop("not_before", not_before),
            not_after=kw.pop("not_after", not_after),
            **kw,
        )

    snv = signer("snv", "Nguyễn Văn An", "Chánh Văn phòng", SNV_ORG)
    snv_deputy = signer(
        "snv_deputy",
        "Trần Thị Hoa",
        "Phó Chánh Văn phòng",
        SNV_ORG,
        non_repudiation=False,
        digital_signature=True,
    )
    sgtvt = signer(
        "sgtvt",
        "Lê Văn Hùng",
        "Chánh Văn phòng",
        SGTVT_ORG,
        non_repudiation=True,
        digital_signature=False,
    )
    expired = signer(
        "expired",
        "Hoàng Văn Cũ",
        "Chánh Văn phòng",
        SNV_ORG,
        not_before=today - timedelta(days=4 * 365),
        not_after=today - timedelta(days=2 * 365),
    )
    revoked = signer("revoked", "Đặng Văn Mất", "Chánh Văn phòng", SNV_ORG)
    no_crl = signer("no_crl", "Phan Thị Bê", "Chánh Văn phòng", SNV_ORG, issuer=inter_b)
    deputy_twin = make_signer(
        "deputy_twin",
        snv_deputy.cert.subject,
        inter_b,
        key_type=key_type,
        non_repudiation=False,
        digital_signature=True,
        serial=snv_deputy.cert.serial_number,
        not_before=not_before,
        not_after=not_after,
    )

    rogue_root = make_ca(
        "rogue_root",
        root.cert.subject,
        key_type=key_type,  # same subject too
        not_before=not_before,
        not_after=not_after,
    )
    rogue_snv = make_signer(
        "rogue_snv",
        snv.cert.subject,
        rogue_root,
        key_type=key_type,
        not_before=not_before,
        not_after=not_after,
    )
    stranger = make_signer(
        "stranger",
        make_name("Người Lạ", title="Chánh Văn phòng", org=SNV_ORG),
        rogue_root,
        key_type=key_type,
        not_before=not_before,
        not_after=not_after,
    )

    revoked_at = now - timedelta(days=10)
    this_update = now - timedelta(days=30)
    next_update = now + timedelta(days=365)
    crl_root = make_crl(root, this_update=this_update, next_update=next_update)
    crl_inter = make_crl(
        inter, [(revoked.cert, revoked_at)], this_update=revoked_at, next_update=next_update
    )
    return TestPki(
        root=root,
        intermediate=inter,
        intermediate_b=inter_b,
        snv=snv,
        snv_deputy=snv_deputy,
        sgtvt=sgtvt,
        expired=expired,
        revoked=revoked,
        no_crl=no_crl,
        deputy_twin=deputy_twin,
        rogue_root=rogue_root,
        rogue_snv=rogue_snv,
        stranger=stranger,
        crl_root=crl_root,
        crl_intermediate=crl_inter,
        revoked_at=revoked_at,
    )


# --- files, for config `[signatures] trust_roots` / `crls` ----------------------------


def write_pem(path: Path | str, certs: Sequence[x509.Certificate] | x509.Certificate) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(certs, x509.Certificate):
        certs = [certs]
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_crl_pem(path: Path | str, crl_der: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    crl = x509.load_der_x509_crl(crl_der)
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def write_key_pem(path: Path | str, identity: Identity) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(identity.key_pem)
    path.chmod(0o600)
    return path


def write_pki(pki: TestPki, directory: Path | str) -> dict[str, Path]:
    """root.pem, intermediate*.pem, the CRLs, and each signer's cert: paths by name."""
    d = Path(directory)
    out = {
        "root": write_pem(d / "root.pem", pki.root.cert),
        "intermediate": write_pem(d / "intermediate.pem", pki.intermediate.cert),
        "intermediate_b": write_pem(d / "intermediate_b.pem", pki.intermediate_b.cert),
        "crl_root": write_crl_pem(d / "root.crl.pem", pki.crl_root),
        "crl_intermediate": write_crl_pem(d / "intermediate.crl.pem", pki.crl_intermediate),
    }
    for ident in (pki.snv, pki.snv_deputy, pki.sgtvt, pki.expired, pki.revoked, pki.no_crl):
        out[ident.label] = write_pem(d / f"{ident.label}.pem", ident.cert)
    return out
