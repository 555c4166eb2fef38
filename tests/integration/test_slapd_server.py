"""The throw-away slapd: build, start/stop, base entries, ppolicy behaviour, size, TLS.

Everything here talks to a real slapd built by dnmail.local (no mocks): the
behaviour dnmail relies on (ppolicy hashing, locking, must-change) is a property
of that configuration, not of dnmail's code.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import ldap3
import pytest
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE

from conftest_slapd import (
    add_mailbox,
    bind_result,
    connect,
    read_attrs,
    require_openldap,
    root,
    service,
    unique,
)
from dnmail.errors import DirectoryUnavailable
from dnmail.local.openldap import Toolchain
from dnmail.local.process import free_port, running_pid
from dnmail.local.render import TlsFiles
from dnmail.local.slapd import SlapdInfo, ThrowawaySlapd

pytestmark = pytest.mark.slapd

LOCKED = "000001010000Z"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# --- life cycle -------------------------------------------------------------------------


def test_start_stop_restart_keeps_data_and_secrets(tmp_path):
    require_openldap()
    workdir = tmp_path / "srv"
    server = ThrowawaySlapd(workdir)
    t0 = time.monotonic()
    info = server.start()
    elapsed = time.monotonic() - t0
    assert elapsed < 5, f"slapd took {elapsed:.2f}s to build and start"
    assert _alive(info.pid) and running_pid(workdir) == info.pid
    for name in ("secrets.json", "info.json"):
        mode = stat.S_IMODE((workdir / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    assert SlapdInfo.from_json((workdir / "info.json").read_text()) == info
    # Three different random passwords, none of them in the log.
    pws = {info.root_password, info.service_password, info.mailauth_password}
    assert len(pws) == 3
    log = (workdir / "slapd.log").read_text()
    assert not any(pw in log for pw in pws)

    conn = service(info)
    uid = unique()
    ok = conn.add(f"ou=restart,ou=people,{info.suffix}", ["organizationalUnit"], {"ou": "restart"})
    assert ok, conn.result
    add_mailbox(conn, info.suffix, "restart", uid, "pw-1")
    conn.unbind()

    server.stop()
    assert not _alive(info.pid)
    assert running_pid(workdir) is None
    server.stop()  # idempotent

    # Started again from the same directory: same data, same passwords, new pid.
    again = ThrowawaySlapd(workdir)
    info2 = again.start()
    try:
        assert info2.pid != info.pid
        assert info2.service_password == info.service_password
        assert bind_result(info2, f"uid={uid},ou=restart,ou=people,{info.suffix}", "pw-1") == 0
    finally:
        again.stop()


def test_context_manager_and_given_passwords(tmp_path):
    require_openldap()
    with ThrowawaySlapd(tmp_path / "cm", passwords={"service": "given-Sérvice-1"}) as info:
        assert info.service_password == "given-Sérvice-1"
        assert bind_result(info, info.service_dn, "given-Sérvice-1") == 0
        assert bind_result(info, info.root_dn, info.root_password) == 0
        pid = info.pid
    assert not _alive(pid)


def test_missing_openldap_is_a_clear_error(tmp_path):
    server = ThrowawaySlapd(tmp_path / "x", toolchain=Toolchain(sbin_dir=tmp_path / "nowhere"))
    with pytest.raises(DirectoryUnavailable) as err:
        server.start()
    assert "slapd" in str(err.value)
    assert "apt-get install slapd ldap-utils" in (err.value.hint or "")
    assert err.value.exit_code == 4


def test_local_start_is_detached_status_stop(tmp_path):
    require_openldap()
    workdir = tmp_path / "cli"
    cmd = [sys.executable, "-m", "dnmail", "local"]
    out = subprocess.run(
        [*cmd, "start", "--dir", str(workdir)], capture_output=True, text=True, check=True
    )
    # The python process has exited; slapd must still serve.
    env = dict(
        line.removeprefix("export ").split("=", 1)
        for line in out.stdout.splitlines()
        if line.startswith("export ")
    )
    info = SlapdInfo.from_json((workdir / "info.json").read_text())
    try:
        assert env["DNMAIL_TEST_LDAP_URL"] == info.url
        assert env["DNMAIL_BIND_DN"] == info.service_dn
        assert bind_result(info, info.service_dn, info.service_password) == 0
        assert int((workdir / "slapd.pid").read_text()) == info.pid
        assert subprocess.run([*cmd, "status", "--dir", str(workdir)]).returncode == 0
        # A second start reuses the running server.
        again = subprocess.run(
            [*cmd, "start", "--dir", str(workdir)], capture_output=True, text=True, check=True
        )
        assert "already running" in again.stderr
        assert json.loads((workdir / "info.json").read_text())["pid"] == info.pid
        # Nothing secret on stderr (only the intended export lines on stdout).
        assert info.service_password not in out.stderr + again.stderr
    finally:
        subprocess.run([*cmd, "stop", "--dir", str(workdir)], check=True)
    assert not _alive(info.pid)
    assert subprocess.run([*cmd, "status", "--dir", str(workdir)]).returncode == 1


def test_local_start_json_and_status_say_where(tmp_path):
    require_openldap()
    workdir = tmp_path / "json"
    cmd = [sys.executable, "-m", "dnmail"]
    out = subprocess.run(
        [*cmd, "--format", "json", "local", "start", "--dir", str(workdir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    try:
        env = json.loads(out.stdout)
        info = SlapdInfo.from_json((workdir / "info.json").read_text())
        assert env == info.env()
        status = subprocess.run(
            [*cmd, "local", "status", "--dir", str(workdir)], capture_output=True, text=True
        )
        assert status.returncode == 0
        assert f"(pid {info.pid}) on {info.url}" in status.stdout
    finally:
        subprocess.run([*cmd, "local", "stop", "--dir", str(workdir)], check=True)


def test_local_start_flat_keeps_its_layout(tmp_path):
    """`--layout flat` builds the flat layout's access rules; a restart without --layout
    keeps them, another layout is refused (exit 2), never a silent rebuild."""
    require_openldap()
    workdir = tmp_path / "flat"
    cmd = [sys.executable, "-m", "dnmail", "local"]

    def start(*extra):
        return subprocess.run(
            [*cmd, "start", "--dir", str(workdir), *extra], capture_output=True, text=True
        )

    try:
        first = start("--layout", "flat")
        assert first.returncode == 0, first.stderr
        assert "export DNMAIL_TEST_LDAP_LAYOUT=flat" in first.stdout
        assert "DNMAIL_TEST_LDAP_UNIT_ATTRIBUTE=departmentNumber" in first.stdout
        assert (
            'set="this/departmentNumber & user/uid"'
            in (workdir / "build" / "dnmail.ldif").read_text()
        )
        subprocess.run([*cmd, "stop", "--dir", str(workdir)], check=True)
        again = start()
        assert again.returncode == 0 and "DNMAIL_TEST_LDAP_LAYOUT=flat" in again.stdout
        subprocess.run([*cmd, "stop", "--dir", str(workdir)], check=True)
        other = start("--layout", "by-unit")
        assert other.returncode == 2 and "built for the flat layout" in other.stderr
    finally:
        subprocess.run([*cmd, "stop", "--dir", str(workdir)], check=True)


@pytest.mark.parametrize(
    "command", [["local", "start", "--dir", "srv"], ["deploy", "render", "--out", "out"]]
)
def test_tls_files_go_together(tmp_path, command):
    cert = tmp_path / "server.pem"
    cert.write_text("not used")
    done = subprocess.run(
        [sys.executable, "-m", "dnmail", *command, "--tls-cert", str(cert)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--tls-cert, --tls-key and --tls-ca go together" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "srv").exists() and not (tmp_path / "out").exists()


# --- base entries and ppolicy -----------------------------------------------------------


def test_base_entries(slapd):
    conn = root(slapd)
    s = slapd.suffix
    top = read_attrs(conn, s, "o", "dc", "objectClass")
    assert top["o"] == ["UBND thành phố Đà Nẵng"]
    assert top["dc"] == ["danang"]
    for dn in (
        f"ou=people,{s}",
        f"ou=units,{s}",
        f"ou=admins,{s}",
        f"ou=system,{s}",
        f"ou=policies,{s}",
        slapd.service_dn,
        slapd.mailauth_dn,
    ):
        assert read_attrs(conn, dn, "objectClass"), f"{dn} missing"
    policy = read_attrs(
        conn,
        f"cn=default,ou=policies,{s}",
        "pwdAttribute",
        "pwdLockout",
        "pwdMustChange",
        "pwdMaxFailure",
        "pwdAllowUserChange",
        "pwdCheckQuality",
    )
    assert policy["pwdAttribute"] == ["userPassword"]
    assert policy["pwdLockout"] == ["TRUE"]
    assert policy["pwdMustChange"] == ["TRUE"]
    assert policy["pwdAllowUserChange"] == ["TRUE"]
    assert policy["pwdMaxFailure"] == ["0"]
    assert policy["pwdCheckQuality"] == ["0"]
    # The service and mailauth passwords were loaded pre-hashed, never cleartext.
    for dn in (slapd.service_dn, slapd.mailauth_dn):
        (value,) = read_attrs(conn, dn, "userPassword")["userPassword"]
        assert value.startswith("{SSHA}")
    assert bind_result(slapd, slapd.service_dn, slapd.service_password) == 0
    assert bind_result(slapd, slapd.mailauth_dn, slapd.mailauth_password) == 0
    assert bind_result(slapd, slapd.service_dn, "wrong") == 49


@pytest.fixture
def unit(slapd):
    """A fresh unit branch for one test, removed afterwards."""
    code = unique("t")
    conn = service(slapd)
    assert conn.add(f"ou={code},ou=people,{slapd.suffix}", ["organizationalUnit"], {"ou": code})
    yield code
    conn.search(f"ou={code},ou=people,{slapd.suffix}", "(objectClass=*)", ldap3.LEVEL)
    for e in conn.entries:
        conn.delete(e.entry_dn)
    conn.delete(f"ou={code},ou=people,{slapd.suffix}")
    conn.unbind()


def test_cleartext_password_is_hashed_by_ppolicy_and_binds(slapd, unit):
    conn = service(slapd)
    password = "Mật khẩu-1"  # NFC, non-ASCII: what dnmail's generator may produce
    dn = add_mailbox(conn, slapd.suffix, unit, unique(), password)
    (stored,) = read_attrs(root(slapd), dn, "userPassword")["userPassword"]
    assert stored.startswith("{SSHA}")
    assert password not in stored
    assert bind_result(slapd, dn, password) == 0
    assert bind_result(slapd, dn, "mật khẩu-1") == 49


def test_lock_with_pwdAccountLockedTime_and_unlock(slapd, unit):
    conn = service(slapd)
    dn = add_mailbox(conn, slapd.suffix, unit, unique(), "right-1")
    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]}), conn.result
    assert bind_result(slapd, dn, "right-1") == 49  # the right password, refused
    assert bind_result(slapd, dn, "wrong") == 49
    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}), conn.result
    assert bind_result(slapd, dn, "right-1") == 0


def test_pwdreset_restricts_until_the_user_changes_the_password(slapd, unit):
    conn = service(slapd)
    dn = add_mailbox(conn, slapd.suffix, unit, unique(), "first-1", must_change=True)
    assert read_attrs(root(slapd), dn, "pwdReset")["pwdReset"] == ["TRUE"]

    user = connect(slapd, dn, "first-1")
    assert user.bound  # the bind itself succeeds ...
    user.search(dn, "(objectClass=*)", ldap3.BASE)
    assert user.result["result"] == 50  # ... everything else waits for the change
    # Password Modify by the user itself, no old password, no hash_algorithm
    # (ldap3 would send a hash that slapd hashes again).
    assert user.extend.standard.modify_password(new_password="mine-2"), user.result
    user.unbind()

    assert read_attrs(root(slapd), dn, "pwdReset").get("pwdReset", []) == []
    assert bind_result(slapd, dn, "first-1") == 49
    user = connect(slapd, dn, "mine-2")
    assert user.search(dn, "(objectClass=*)", ldap3.BASE), user.result
    user.unbind()


def test_reset_by_the_service_marks_must_change(slapd, unit):
    conn = service(slapd)
    dn = add_mailbox(conn, slapd.suffix, unit, unique(), "first-1")
    assert conn.extend.standard.modify_password(dn, new_password="reset-2"), conn.result
    attrs = read_attrs(root(slapd), dn, "pwdReset", "userPassword")
    assert attrs["pwdReset"] == ["TRUE"]  # ppolicy: reset by a password administrator
    assert attrs["userPassword"][0].startswith("{SSHA}")
    assert bind_result(slapd, dn, "reset-2") == 0


def _bulk_ldif(suffix: str, unit: str, n: int) -> str:
    records = []
    for i in range(n):
        uid = f"bulk{i:05d}"
        records.append(
            "\n".join(
                [
                    f"dn: uid={uid},ou={unit},ou=people,{suffix}",
                    "objectClass: inetOrgPerson",
                    f"uid: {uid}",
                    # Non-ASCII values are base64 in LDIF (RFC 2849).
                    "cn:: " + _b64(f"Nguyễn Văn Số {i}"),
                    "sn:: " + _b64("Nguyễn"),
                    "givenName:: " + _b64(f"Số {i}"),
                    f"mail: {uid}@danang.gov.vn",
                    f"employeeNumber: HR{i:06d}",
                    "telephoneNumber: 0905123456",
                    "title:: " + _b64("Chuyên viên"),
                    "ou:: " + _b64("Phòng Tổng hợp"),
                    f"userPassword: pw-{i}",
                    "pwdReset: TRUE",
                ]
            )
        )
    return "\n\n".join(records) + "\n"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_six_thousand_mailboxes_fit_and_page(tmp_path):
    """olcDbMaxSize is set: the 10 MiB default of back-mdb fills at ~5,000 entries.

    Its own server (0.1 s) so the session server stays small. The adds go over one
    connection with ldapadd (ldap3 spends ~0.8 ms of client CPU per add; ldapadd
    makes the same LDAP adds, cleartext passwords hashed by ppolicy, 3-4x faster).
    """
    require_openldap()
    n = 6000
    with ThrowawaySlapd(tmp_path / "bulk") as info:
        conn = service(info)
        assert conn.add(f"ou=bulk,ou=people,{info.suffix}", ["organizationalUnit"], {"ou": "bulk"})
        t0 = time.monotonic()
        ldapadd = shutil.which("ldapadd")
        if ldapadd:
            ldif = tmp_path / "bulk.ldif"
            ldif.write_text(_bulk_ldif(info.suffix, "bulk", n))
            secret = tmp_path / "bind.secret"
            secret.write_text(info.service_password)  # ldapadd -y: not on the command line
            secret.chmod(0o600)
            done = subprocess.run(
                [ldapadd, "-x", "-H", info.url, "-D", info.service_dn, "-y", str(secret),
                 "-f", str(ldif)],
                capture_output=True, text=True,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
        else:  # ldap-utils missing: the same adds with ldap3 (slower)
            for record in _bulk_ldif(info.suffix, "bulk", n).split("\n\n"):
                dn, *lines = record.strip().splitlines()
                attrs: dict[str, list[str]] = {}
                for line in lines:
                    name, value = line.split(": ", 1)
                    if name.endswith(":"):
                        name, value = name[:-1], base64.b64decode(value).decode()
                    attrs.setdefault(name, []).append(value)
                assert conn.add(dn.removeprefix("dn: "), attributes=attrs), conn.result
        added = time.monotonic() - t0

        # Above the frontend's 500-entry size limit: the service pages through all ...
        entries = conn.extend.standard.paged_search(
            f"ou=bulk,ou=people,{info.suffix}",
            "(uid=bulk*)",
            attributes=["uid"],
            paged_size=1000,
            generator=True,
        )
        assert sum(1 for e in entries if e["type"] == "searchResEntry") == n
        # ... and the passwords were hashed on the way in.
        sample = read_attrs(root(info), f"uid=bulk05999,ou=bulk,ou=people,{info.suffix}")
        assert sample["userPassword"][0].startswith("{SSHA}")
        assert bind_result(info, f"uid=bulk00042,ou=bulk,ou=people,{info.suffix}", "pw-42") == 0
        # The mail servers' identity keeps the default limit.
        mailauth = connect(info, info.mailauth_dn, info.mailauth_password)
        mailauth.search(f"ou=bulk,ou=people,{info.suffix}", "(uid=bulk*)", attributes=["uid"])
        assert mailauth.result["result"] == 4  # sizeLimitExceeded
        print(f"\n{n} adds in {added:.2f}s ({n / added:.0f}/s)")


# --- TLS ------------------------------------------------------------------------------


def _make_pki(directory: Path) -> TlsFiles:
    """A test CA and a server certificate for 127.0.0.1/localhost (cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dnmail test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        cert=directory / "server.pem", key=directory / "server.key", ca=directory / "ca.pem"
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
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


def test_starttls_and_ldaps(tmp_path):
    require_openldap()
    files = _make_pki(tmp_path / "pki")
    with ThrowawaySlapd(tmp_path / "tls", tls=files) as info:
        assert info.ldaps_url and info.ldaps_url.startswith("ldaps://127.0.0.1:")
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(files.ca))

        # StartTLS on the plain port, then a bind over the protected channel.
        conn = ldap3.Connection(
            ldap3.Server(info.url, tls=tls, get_info=ldap3.NONE),
            info.service_dn,
            info.service_password,
        )
        conn.open()
        assert conn.start_tls(), conn.result
        assert conn.bind(), conn.result
        assert conn.tls_started
        conn.unbind()

        # ldaps:// on its own port.
        conn = ldap3.Connection(
            ldap3.Server(info.ldaps_url, use_ssl=True, tls=tls, get_info=ldap3.NONE),
            info.service_dn,
            info.service_password,
        )
        assert conn.bind(), conn.result
        assert conn.server.ssl
        conn.unbind()

        # The plain port still answers without TLS (tests; production can require it).
        assert bind_result(info, info.service_dn, info.service_password) == 0


# --- production rendering (dnmail deploy render, deploy/slapd/README.md) ----------------


def _start_slapd(config_dir: Path, urls: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["/usr/sbin/slapd", "-d", "0", "-h", urls, "-F", str(config_dir)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc


def _wait_bind(url: str, dn: str, password: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, "slapd exited"
        try:
            conn = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), dn, password)
            if conn.bind():
                conn.unbind()
                return
        except ldap3.core.exceptions.LDAPException:
            pass
        time.sleep(0.02)
    pytest.fail(f"slapd at {url} never accepted a bind")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def _render(out: Path, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "dnmail", "deploy", "render", "--out", str(out),
         "--db-dir", str(out / "data"), "--run-dir", str(out)],
        capture_output=True, text=True, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pw-from-env" not in done.stdout + done.stderr
    for f in out.glob("*.ldif"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        leftover = re.findall(r"@[A-Z][A-Z0-9_]*@", f.read_text())
        assert not leftover, f"unrendered placeholders in {f.name}: {leftover}"
    return json.loads((out / "secrets.json").read_text())


def test_render_for_production_then_load_offline_as_the_readme_says(tmp_path):
    require_openldap()
    out = tmp_path / "render"
    secrets = _render(out, DNMAIL_SERVICE_PASSWORD="pw-from-env")
    assert secrets["service"] == "pw-from-env"
    assert "olcDbNoSync: FALSE" in (out / "config.ldif").read_text()  # production: fsync
    slapd_d = tmp_path / "slapd.d"
    slapd_d.mkdir()
    (out / "data").mkdir()
    for tool, name in (
        (["slapadd", "-n0"], "config.ldif"),
        (["slapmodify", "-n0"], "ppolicy-module.ldif"),
        (["slapmodify", "-n0"], "dnmail.ldif"),
        (["slapadd", "-n1"], "base.ldif"),
    ):
        done = subprocess.run(
            [f"/usr/sbin/{tool[0]}", *tool[1:], "-F", str(slapd_d), "-l", str(out / name)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, (name, done.stderr)
    url = f"ldap://127.0.0.1:{free_port()}"
    proc = _start_slapd(slapd_d, url + "/", tmp_path / "slapd.log")
    try:
        service_dn = "cn=dnmail,ou=system,dc=danang,dc=gov,dc=vn"
        _wait_bind(url, service_dn, "pw-from-env", proc)
        anon = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE))
        anon.bind()
        anon.search("dc=danang,dc=gov,dc=vn", "(objectClass=*)")
        assert anon.entries == []
        conn = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), service_dn, "pw-from-env")
        assert conn.bind()
        dn = "uid=x,ou=people,dc=danang,dc=gov,dc=vn"
        assert conn.add(dn, ["inetOrgPerson"], {"cn": "x", "sn": "x", "userPassword": "p-1"})
        assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]})
        locked = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE), dn, "p-1")
        assert not locked.bind() and locked.result["result"] == 49
    finally:
        _stop(proc)


def test_dnmail_ldif_applies_online_to_a_running_server(tmp_path):
    """The existing-server path: ldapmodify -Y EXTERNAL over ldapi:// (README.md)."""
    require_openldap()
    if not shutil.which("ldapmodify"):
        pytest.skip("ldap-utils (ldapmodify) not installed")
    out = tmp_path / "render"
    secrets = _render(out)
    slapd_d = tmp_path / "slapd.d"
    slapd_d.mkdir()
    (out / "data").mkdir()
    # A bare server: our config.ldif only (no ppolicy, no ACLs yet). The config
    # administrator is the local user over ldapi:// (peer credentials).
    me = f"gidNumber={os.getgid()}+uidNumber={os.getuid()},cn=peercred,cn=external,cn=auth"
    config = (
        (out / "config.ldif")
        .read_text()
        .replace("gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth", me)
    )
    (out / "config.ldif").write_text(config)
    done = subprocess.run(
        ["/usr/sbin/slapadd", "-n0", "-F", str(slapd_d), "-l", str(out / "config.ldif")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    socket_path = tmp_path / "ldapi"
    ldapi = "ldapi://" + quote(str(socket_path), safe="")
    url = f"ldap://127.0.0.1:{free_port()}"
    proc = _start_slapd(slapd_d, f"{url}/ {ldapi}", tmp_path / "slapd.log")
    try:
        _wait_bind(url, "cn=admin,dc=danang,dc=gov,dc=vn", secrets["root"], proc)
        for name in ("ppolicy-module.ldif", "dnmail.ldif"):
            done = subprocess.run(
                ["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", ldapi, "-f", str(out / name)],
                capture_output=True, text=True,
            )  # fmt: skip
            assert done.returncode == 0, (name, done.stderr)
        # Base entries online, as the root DN: the hashes in base.ldif are kept as is.
        secret = tmp_path / "root.secret"
        secret.write_text(secrets["root"])
        secret.chmod(0o600)
        done = subprocess.run(
            ["ldapadd", "-x", "-H", url, "-D", "cn=admin,dc=danang,dc=gov,dc=vn",
             "-y", str(secret), "-f", str(out / "base.ldif")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        service_dn = "cn=dnmail,ou=system,dc=danang,dc=gov,dc=vn"
        conn = ldap3.Connection(
            ldap3.Server(url, get_info=ldap3.NONE), service_dn, secrets["service"]
        )
        assert conn.bind(), conn.result
        # ppolicy is live: a cleartext password is stored hashed.
        dn = "uid=y,ou=people,dc=danang,dc=gov,dc=vn"
        assert conn.add(dn, ["inetOrgPerson"], {"cn": "y", "sn": "y", "userPassword": "p-1"})
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword"])
        assert str(conn.entries[0]["userPassword"].value).startswith("{SSHA}")
        anon = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE))
        anon.bind()
        anon.search("dc=danang,dc=gov,dc=vn", "(objectClass=*)")
        assert anon.entries == []
    finally:
        _stop(proc)
