"""Nobody outside the process can move dnmail's clock (issue: a clock nobody can move).

A unit officer who imports a slip must not be able to revive a signer whose certificate
has expired by setting "now": no environment variable, config key or option changes the
time a slip's certificates are validated at. These tests run the installed `dnmail` as a
subprocess, as an officer would, with every time-setting trick we know of in its
environment, and check that the signature is still validated at the real time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from conftest import seed_staff, seed_units, write_config
from dnmail.config import load_config
from dnmail.db import migrate
from dnmail.db.session import make_engine
from support import pdfslips as ps
from support.pki import build_test_pki, shown, write_crl_pem, write_pem

STAFF = [("S1", "Phạm Minh Tuấn", "snv", "Phòng Tổ chức", "Chuyên viên", "0905123456")]
ROWS = (ps.Person("Phạm Minh Tuấn", "Phòng Tổ chức", "0905123456", ""),)


@pytest.fixture(scope="module")
def pki():
    return build_test_pki(key_type="ec")


@pytest.fixture
def world(tmp_path, pki):
    """An SQLite database with unit snv and its staff; a config that pins both the good
    and the expired signer of snv (so that expiry is the expired one's only fault)."""
    url = f"sqlite:///{tmp_path / 'dnmail.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    write_pem(tmp_path / "pki" / "root.pem", pki.root.cert)
    write_crl_pem(tmp_path / "pki" / "intermediate.crl.pem", pki.crl_intermediate)
    config = write_config(tmp_path / "config.toml", db_url=url, extra=f"""
[signatures]
trust_roots = ["pki/root.pem"]
crls = ["pki/intermediate.crl.pem"]

[units.snv]
signers = ["{pki.snv.pin}", "{pki.expired.pin}"]
""")
    with Session(engine) as s, s.begin():
        seed_units(s, ("snv",), config=load_config(config))
        seed_staff(s, STAFF)
    engine.dispose()
    return config


def inside_expired_validity(pki) -> datetime:
    """A moment when the expired signer's certificate was still valid."""
    cert = pki.expired.cert
    return cert.not_valid_before_utc + (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2


def time_tricks(when: datetime) -> dict[str, str]:
    """Every variable that moves "now" somewhere: dnmail's old override (aware and naive),
    libfaketime's, reproducible builds', and a time zone as far from UTC as there is."""
    return {
        "DNMAIL_NOW": when.isoformat(),
        "DNMAIL_CLOCK": when.isoformat(),
        "NOW": when.isoformat(),
        "FAKETIME": "@" + when.strftime("%Y-%m-%d %H:%M:%S"),
        "FAKETIME_DONT_RESET": "1",
        "SOURCE_DATE_EPOCH": str(int(when.timestamp())),
        "TZ": "Etc/GMT-14",
    }


def dnmail(config, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dnmail", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_the_environment_does_not_revive_an_expired_signer(world, pki, tmp_path):
    slip = tmp_path / "expired.pdf"
    claimed = inside_expired_validity(pki)
    slip.write_bytes(ps.sign_pdf(ps.make_slip_pdf(ROWS), pki.expired, timestamp=claimed))
    env = time_tricks(claimed)
    env["DNMAIL_NOW"] = claimed.replace(tzinfo=None).isoformat()  # naive: read as UTC once
    for variables in ({"DNMAIL_NOW": time_tricks(claimed)["DNMAIL_NOW"]}, env):
        start = datetime.now(UTC)
        p = dnmail(world, "--format", "json", "--as", "iid-admin", "request", "import", str(slip),
                   env=variables)
        end = datetime.now(UTC)
        assert p.returncode == 2, (variables, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr
        [f] = json.loads(p.stdout)["files"]
        assert f["status"] == "refused" and f["verdict"] != "signed", f
        [problem] = [x["message"] for x in f["problems"] if "expired" in x["message"]]
        assert f"certificate expired at {shown(pki.expired.cert.not_valid_after_utc)}" in problem
        # validated at the real time of the run, whatever the environment says
        [at] = re.findall(r"validated at (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", problem)
        at = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert start - timedelta(minutes=1) <= at <= end, (at, start, end)


def test_a_good_slip_is_still_accepted_under_the_same_environment(world, pki, tmp_path):
    """The tricks change nothing either way: the good signer's slip goes in."""
    slip = tmp_path / "good.pdf"
    slip.write_bytes(ps.sign_pdf(ps.make_slip_pdf(ROWS), pki.snv))
    p = dnmail(world, "--format", "json", "--as", "iid-admin", "request", "import", str(slip),
               env=time_tricks(inside_expired_validity(pki)))
    assert p.returncode == 0, (p.stdout, p.stderr)
    [f] = json.loads(p.stdout)["files"]
    assert (f["status"], f["verdict"]) == ("accepted", "signed"), f


@pytest.mark.parametrize("section", ["signatures", "operator", "database"])
@pytest.mark.parametrize("key", ["now", "clock", "validation_time"])
def test_no_config_key_sets_the_time(world, section, key):
    text = world.read_text(encoding="utf-8")
    header = f"[{section}]"
    line = f'{key} = "2024-06-01T00:00:00+00:00"'
    if header in text:
        text = text.replace(header, f"{header}\n{line}", 1)
    else:
        text += f"\n{header}\n{line}\n"
    world.write_text(text, encoding="utf-8")
    p = dnmail(world, "queue", "list")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert f"unknown key {section}.{key}" in p.stderr


@pytest.mark.parametrize("option", ["--now", "--clock", "--at", "--time"])
def test_no_option_sets_the_time(world, option):
    for argv in ([option, "2024-06-01", "request", "import", "x.pdf"],
                 ["request", "import", option, "2024-06-01", "x.pdf"]):
        p = dnmail(world, *argv)
        assert p.returncode == 2, (argv, p.stdout, p.stderr)
        assert "No such option" in p.stderr, p.stderr
