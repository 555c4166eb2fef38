"""TLS to the directory and to PostgreSQL, against real servers (issue 6, item 4).

Three slapd servers: one with a certificate for localhost/127.0.0.1 issued by the test
CA, one whose certificate (same CA) names another host, and the plain session server.
Both of dnmail's directory connections are exercised — ldap3 (`Directory.connect`,
`get`) and the pipelined one (`add_mailboxes`, `find_by_hr_ids`) — and the CLI.

Why the host name is tested on its own: ldap3 2.9's `Tls(validate=CERT_REQUIRED)`
switches the context's check_hostname off and compares names afterwards with
`ssl.match_hostname`, deprecated and gone in Python 3.12 (ldap3 then falls back to a
copy that refuses IP addresses in subjectAltName). dnmail wraps the socket itself with
the same verifying context as the pipelined connection (OpenSSL checks the name during
the handshake); these tests hold it to that.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import socket
import ssl
import warnings
from pathlib import Path

import pytest

from conftest import _unavailable, write_config
from conftest_slapd import require_openldap, unique
from dnmail.config import DirectorySettings
from dnmail.directory import pipeline
from dnmail.directory.gateway import Directory
from dnmail.errors import ConfigError, DatabaseUnavailable, DirectoryUnavailable, ExitCode
from dnmail.local.render import TlsFiles
from dnmail.local.slapd import SlapdInfo, ThrowawaySlapd

pytestmark = pytest.mark.slapd


# --- a small PKI (cryptography) ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Path  # the CA dnmail is told to trust
    other_ca: Path  # an unrelated CA
    good: TlsFiles  # localhost + 127.0.0.1, issued by `ca`
    wrong_name: TlsFiles  # ldap.example.invalid only, issued by `ca`


def _name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_ca(cn: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server_cert(ca_cert, ca_key, cn: str, *, dns=(), ips=()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _write(directory: Path, stem: str, cert, key, ca: Path) -> TlsFiles:
    from cryptography.hazmat.primitives import serialization

    files = TlsFiles(cert=directory / f"{stem}.pem", key=directory / f"{stem}.key", ca=ca)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(files.key, 0o600)
    return files


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    from cryptography.hazmat.primitives import serialization

    d = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = _make_ca("dnmail test CA")
    other_cert, _ = _make_ca("dnmail unrelated CA")
    ca = d / "ca.pem"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    other = d / "other-ca.pem"
    other.write_bytes(other_cert.public_bytes(serialization.Encoding.PEM))
    good = _make_server_cert(ca_cert, ca_key, "localhost", dns=["localhost"], ips=["127.0.0.1"])
    wrong = _make_server_cert(ca_cert, ca_key, "ldap.example.invalid", dns=["ldap.example.invalid"])
    return Pki(ca, other, _write(d, "server", *good, ca), _write(d, "wrong-name", *wrong, ca))


def _serve(tmp_path_factory, name: str, tls: TlsFiles):
    require_openldap()
    server = ThrowawaySlapd(tmp_path_factory.mktemp(name), tls=tls)
    info = server.start()
    return server, info


@pytest.fixture(scope="module")
def tls_ldap(tmp_path_factory, pki) -> SlapdInfo:
    """StartTLS on info.url, ldaps on info.ldaps_url; certificate for localhost/127.0.0.1."""
    server, info = _serve(tmp_path_factory, "slapd-tls", pki.good)
    yield info
    server.stop()


@pytest.fixture(scope="module")
def wrong_name_ldap(tmp_path_factory, pki) -> SlapdInfo:
    """A certificate from the trusted CA, issued for ldap.example.invalid only."""
    server, info = _serve(tmp_path_factory, "slapd-wrong-name", pki.wrong_name)
    yield info
    server.stop()


# --- helpers ------------------------------------------------------------------------------

MODES = {
    # mode: (url of the server to use, start_tls)
    "ldaps": (lambda info: info.ldaps_url, False),
    "starttls": (lambda info: info.url, True),
    "ldaps-by-name": (lambda info: info.ldaps_url.replace("127.0.0.1", "localhost"), False),
}


def settings(info: SlapdInfo, mode: str, ca_file: Path | str = "", **extra) -> DirectorySettings:
    url_of, start_tls = MODES[mode]
    return DirectorySettings(
        url=url_of(info),
        base_dn=info.suffix,
        bind_dn=info.service_dn,
        start_tls=start_tls,
        ca_file=str(ca_file),
        **extra,
    )


def assert_no_secret(info: SlapdInfo, *texts: str | None) -> None:
    for text in texts:
        for secret in (info.service_password, info.root_password, info.mailauth_password):
            assert secret not in (text or "")


def refused(info: SlapdInfo, s: DirectorySettings) -> DirectoryUnavailable:
    with pytest.raises(DirectoryUnavailable) as err:
        Directory.connect(s, info.service_password)
    e = err.value
    assert e.exit_code == ExitCode.UNAVAILABLE
    assert s.url in e.message  # names the server
    assert_no_secret(info, e.message, e.hint)
    return e


def mailbox(info: SlapdInfo, branch: str, uid: str, hr_id: str):
    dn = f"uid={uid},{branch}"
    attrs = {"uid": uid, "cn": "Nguyễn Văn Bảo Mật", "sn": "Nguyễn", "givenName": "Mật",
             "mail": f"{uid}@danang.gov.vn", "employeeNumber": hr_id}  # fmt: skip
    return dn, attrs, f"Mật-khẩu-{uid}"


# --- the trusted CA ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_trusted_ca_connects_adds_and_reads_over_tls(tls_ldap, pki, mode):
    s = settings(tls_ldap, mode, pki.ca)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = Directory.connect(s, tls_ldap.service_password)
    # dnmail does not lean on ssl.match_hostname (deprecated; removed in Python 3.12).
    assert not [w for w in caught if "match_hostname" in str(w.message)]
    with d:
        raw = d._conn.socket  # the ldap3 connection is encrypted ...
        assert isinstance(raw, ssl.SSLSocket) and raw.version() in ("TLSv1.2", "TLSv1.3")
        assert d._conn.tls_started if mode == "starttls" else d._conn.server.ssl

        code = unique("tls")
        branch = f"ou={code},{tls_ldap.people_dn}"
        assert d.ensure_ou(branch, code)
        dn, attrs, password = mailbox(tls_ldap, branch, code, f"HR-{code}")
        assert d.add_mailboxes([(dn, attrs, password)]) == [None]  # pipelined
        w = d._writer._sock  # ... and so is the pipelined one, checked the same way
        assert isinstance(w, ssl.SSLSocket) and w.version() in ("TLSv1.2", "TLSv1.3")
        assert ("IP Address", "127.0.0.1") in w.getpeercert()["subjectAltName"]

        got = d.get(dn)  # read back over ldap3
        assert got is not None and got.employee_number == f"HR-{code}" and got.first("pwdReset")
        found = d.find_by_hr_ids([f"HR-{code}", "HR-nobody"])  # and over the pipelined path
        assert [e.dn.lower() for e in found[f"HR-{code}"]] == [dn.lower()]
        assert "HR-nobody" not in found


# --- an unknown CA ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_unknown_ca_is_refused(tls_ldap, pki, mode):
    e = refused(tls_ldap, settings(tls_ldap, mode, pki.other_ca))
    assert "certificate could not be verified" in e.message
    assert f"not issued by a CA in directory.ca_file ({pki.other_ca})" in e.message
    assert "directory.ca_file" in e.hint


def test_without_ca_file_the_system_store_does_not_trust_a_private_ca(tls_ldap):
    e = refused(tls_ldap, settings(tls_ldap, "ldaps"))
    assert "certificate could not be verified" in e.message
    assert "system CA store" in e.message


def test_pipelined_connection_verifies_on_its_own(tls_ldap, pki):
    """The second connection does its own check: settings naming an unrelated CA stop it
    before a single add is sent, in the same words as connect()."""
    good = settings(tls_ldap, "ldaps", pki.ca)
    with Directory.connect(good, tls_ldap.service_password) as trusted:
        d = Directory(
            dataclasses.replace(good, ca_file=str(pki.other_ca)),
            trusted._conn,
            bind_dn=tls_ldap.service_dn,
            password=tls_ldap.service_password,
        )
        code = unique("tls")
        branch = f"ou={code},{tls_ldap.people_dn}"
        trusted.ensure_ou(branch, code)
        item = mailbox(tls_ldap, branch, code, f"HR-{code}")
        with pytest.raises(DirectoryUnavailable) as err:
            d.add_mailboxes([item])
        assert "certificate could not be verified" in err.value.message
        assert good.url in err.value.message
        assert_no_secret(tls_ldap, err.value.message, err.value.hint)
        assert trusted.get(item[0]) is None  # nothing was added
        with pytest.raises(DirectoryUnavailable, match="could not be verified"):
            d.find_by_hr_ids([f"HR-{code}"])


def test_pipelined_writer_refuses_unknown_ca_and_wrong_name(tls_ldap, wrong_name_ldap, pki):
    untrusted, ip_mismatch = (2, 18, 19, 20, 21), (64,)  # openssl/x509_vfy.h
    for info, ca, codes in (
        (tls_ldap, pki.other_ca, untrusted),
        (wrong_name_ldap, pki.ca, ip_mismatch),
    ):
        for url, start_tls in ((info.ldaps_url, False), (info.url, True)):
            with pytest.raises(ssl.SSLCertVerificationError) as err:
                pipeline.PipelinedWriter(
                    url, bind_dn=info.service_dn, password=info.service_password,
                    start_tls=start_tls, ca_file=str(ca),
                )  # fmt: skip
            assert err.value.verify_code in codes, err.value.verify_message


# --- the wrong host name ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "host", "why"),
    [
        ("ldaps", "127.0.0.1", "IP address mismatch"),
        ("starttls", "127.0.0.1", "IP address mismatch"),
        ("ldaps-by-name", "localhost", "Hostname mismatch"),
    ],
)
def test_certificate_for_another_host_is_refused(wrong_name_ldap, pki, mode, host, why):
    # The chain is fine (the trusted CA issued it): only the name is wrong.
    e = refused(wrong_name_ldap, settings(wrong_name_ldap, mode, pki.ca))
    assert "certificate could not be verified" in e.message
    assert f"it is not issued for {host}" in e.message
    assert why in e.message
    assert "subjectAltName" in e.hint


def test_pipelined_connection_checks_the_host_name(tls_ldap, wrong_name_ldap, pki):
    with Directory.connect(settings(tls_ldap, "ldaps", pki.ca), tls_ldap.service_password) as ok:
        d = Directory(
            settings(wrong_name_ldap, "ldaps", pki.ca),
            ok._conn,
            bind_dn=wrong_name_ldap.service_dn,
            password=wrong_name_ldap.service_password,
        )
        with pytest.raises(DirectoryUnavailable, match="it is not issued for 127.0.0.1"):
            d.find_by_hr_ids(["HR-any"])


# --- servers and settings that cannot do TLS ---------------------------------------------


def test_start_tls_against_a_server_without_tls(slapd, pki):
    s = DirectorySettings(url=slapd.url, base_dn=slapd.suffix, bind_dn=slapd.service_dn,
                          start_tls=True, ca_file=str(pki.ca))  # fmt: skip
    e = refused(slapd, s)
    assert "the server refused StartTLS" in e.message
    assert "olcTLSCertificateFile" in e.hint


def test_ldaps_to_a_plain_port(slapd, pki):
    s = DirectorySettings(url=slapd.url.replace("ldap://", "ldaps://"), base_dn=slapd.suffix,
                          bind_dn=slapd.service_dn, ca_file=str(pki.ca))  # fmt: skip
    e = refused(slapd, s)
    assert "TLS handshake failed" in e.message


def test_unreadable_ca_file_is_a_config_error(tls_ldap, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for ca_file, words in ((tmp_path / "missing.pem", "cannot read"), (junk, "no usable PEM")):
        with pytest.raises(ConfigError) as err:
            Directory.connect(settings(tls_ldap, "ldaps", ca_file), tls_ldap.service_password)
        assert err.value.exit_code == ExitCode.BAD_INPUT
        assert "directory.ca_file" in err.value.message and words in err.value.message


# --- plain ldap:// ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ldap://192.0.2.1:389", "ldap://ldap.danang.gov.vn"])
def test_plain_ldap_to_another_host_is_refused(url):
    s = DirectorySettings(url=url)
    with pytest.raises(ConfigError) as err:
        Directory.connect(s, "secret-not-shown")
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert "directory.allow_insecure = true" in err.value.message
    assert "directory.start_tls" in err.value.message and "ldaps://" in err.value.message
    assert "secret-not-shown" not in err.value.message


def test_plain_ldap_to_loopback_is_allowed(slapd):
    for url in (slapd.url, slapd.url.replace("127.0.0.1", "localhost")):
        s = DirectorySettings(url=url, base_dn=slapd.suffix, bind_dn=slapd.service_dn)
        with Directory.connect(s, slapd.service_password) as d:
            assert d.exists(slapd.people_dn)


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (where one exists)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the source address
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(addr).is_loopback else addr


def test_allow_insecure_permits_plain_ldap_to_another_host(tmp_path):
    require_openldap()
    addr = _non_loopback_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with ThrowawaySlapd(tmp_path / "lan", host=addr) as info:
        s = DirectorySettings(url=info.url, base_dn=info.suffix, bind_dn=info.service_dn)
        with pytest.raises(ConfigError, match="allow_insecure"):
            Directory.connect(s, info.service_password)
        s = dataclasses.replace(s, allow_insecure=True)
        with Directory.connect(s, info.service_password) as d:
            assert d.exists(info.people_dn)


# --- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def dnmail(tmp_path, monkeypatch, capsys):
    """Write a config for `info` with extra [directory] lines, run dnmail with it."""
    from conftest import CliResult
    from dnmail.cli.main import invoke

    monkeypatch.setenv("COLUMNS", "300")

    def run(info: SlapdInfo | None, directory: str, *args: str) -> CliResult:
        path = tmp_path / f"config-{unique('c')}.toml"
        write_config(path, db_url=f"sqlite:///{tmp_path / 'dnmail.db'}", ldap=info, extra=directory)
        capsys.readouterr()
        code = invoke(["--config", str(path), *args])
        out = capsys.readouterr()
        result = CliResult(code, out.out, " ".join(out.err.split()))  # unwrap console lines
        if info is not None:
            assert_no_secret(info, result.out, result.err)
        return result

    return run


def test_cli_init_over_ldaps_and_starttls(dnmail, tls_ldap, pki):
    ldaps = dataclasses.replace(tls_ldap, url=tls_ldap.ldaps_url)
    r = dnmail(ldaps, f'ca_file = "{pki.ca}"', "--format", "json", "init")
    assert r.code == 0, r
    assert r.json()["directory_checked"] is True
    r = dnmail(tls_ldap, f'start_tls = true\nca_file = "{pki.ca}"', "init")
    assert r.code == 0, r


def test_cli_init_refuses_unknown_ca_and_wrong_name(dnmail, tls_ldap, wrong_name_ldap, pki):
    ldaps = dataclasses.replace(tls_ldap, url=tls_ldap.ldaps_url)
    r = dnmail(ldaps, f'ca_file = "{pki.other_ca}"', "init")
    assert r.code == ExitCode.UNAVAILABLE, r
    assert (
        f"directory {tls_ldap.ldaps_url}: the server's TLS certificate could not be verified"
        in r.err
    )
    assert "hint:" in r.err and "directory.ca_file" in r.err

    r = dnmail(wrong_name_ldap, f'start_tls = true\nca_file = "{pki.ca}"', "init")
    assert r.code == ExitCode.UNAVAILABLE, r
    assert "could not be verified: it is not issued for 127.0.0.1" in r.err


def test_cli_init_refuses_plain_ldap_to_another_host(dnmail, tls_ldap):
    lan = dataclasses.replace(tls_ldap, url="ldap://192.0.2.1:389")
    r = dnmail(lan, "", "init")
    assert r.code == ExitCode.BAD_INPUT, r
    assert "directory.allow_insecure = true" in r.err


# --- PostgreSQL sslmode ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_cluster():
    """A throw-away PostgreSQL cluster (tests/servers/postgres.py), started by each test
    with `ssl = on` or `off`: both sides of docs/tls.md hold, whatever the machine's own
    server is set to."""
    from servers.postgres import PostgresUnavailable, ThrowawayPostgres

    try:
        cluster = ThrowawayPostgres.create()
    except PostgresUnavailable as e:
        _unavailable(f"a throw-away PostgreSQL ({e})")
    yield cluster
    cluster.remove()


SECRET = "Pg-s3cret-NOT-SHOWN"


def _url(admin_url: str, query: str) -> str:
    """The cluster's URL with a password (it must never show) and `query`."""
    scheme, rest = admin_url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}?{query}"


def _unreachable(url: str) -> DatabaseUnavailable:
    from dnmail.db.session import make_engine, translate_db_errors

    engine = make_engine(url)
    try:
        with pytest.raises(DatabaseUnavailable) as err, translate_db_errors(url):
            with engine.connect():
                pass
    finally:
        engine.dispose()
    assert err.value.exit_code == ExitCode.UNAVAILABLE
    assert SECRET not in err.value.message
    return err.value


@pytest.mark.postgres
def test_postgresql_sslmode_require_is_refused_by_a_server_without_ssl(pg_cluster):
    """make_engine keeps ?sslmode=…; libpq acts on it: no SSL on the server → a clear
    DatabaseUnavailable. The password never shows."""
    from dnmail.db.session import make_engine

    with pg_cluster.running(tls=None) as admin:
        url = _url(admin, "sslmode=require")
        engine = make_engine(url)
        assert engine.url.query["sslmode"] == "require"
        assert engine.url.drivername == "postgresql+psycopg"
        engine.dispose()
        e = _unreachable(url)
        assert "server does not support SSL, but SSL was required" in e.message
        assert "sslmode=require" in e.message


@pytest.mark.postgres
def test_postgresql_session_is_encrypted_and_verified_when_the_server_has_ssl(pg_cluster, pki):
    """SSL on → the session is encrypted (`require`), and `verify-full` with the CA named
    in the URL checks the chain and the host name; an unknown CA is refused."""
    from sqlalchemy import text

    from dnmail.db.session import make_engine, translate_db_errors

    with pg_cluster.running(tls=pki.good) as admin:
        for query in ("sslmode=require", f"sslmode=verify-full&sslrootcert={pki.ca}",
                      f"sslmode=verify-ca&sslrootcert={pki.ca}"):
            for host in ("127.0.0.1", "localhost"):
                url = _url(admin, query).replace("@127.0.0.1:", f"@{host}:")
                engine = make_engine(url)
                try:
                    with translate_db_errors(url), engine.connect() as c:
                        ssl_on, version = c.execute(text(
                            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                        )).one()
                finally:
                    engine.dispose()
                assert ssl_on and version in ("TLSv1.2", "TLSv1.3"), (query, host)
        e = _unreachable(_url(admin, f"sslmode=verify-full&sslrootcert={pki.other_ca}"))
        assert "certificate verify failed" in e.message, e.message
        # sslmode=disable still connects to this server (pg_hba allows it): the client
        # decides, which is why docs/tls.md says `verify-full`
        engine = make_engine(_url(admin, "sslmode=disable"))
        try:
            with engine.connect() as c:
                assert c.execute(text(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar() is False
        finally:
            engine.dispose()
