"""Rules of domain/ that the mutation run found unheld (docs/testing.md): a password
field's secrecy, the attributes a mailbox entry gets, and the edges of number cells."""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import SimpleNamespace

import pytest

from dnmail.domain.mailbox_attrs import changed_attributes, mailbox_attributes
from dnmail.domain.phones import BadPhone, parse_phone
from dnmail.domain.results import OMIT_NONE, SECRET, omitted_if_none, secret


@dataclass(frozen=True)
class Shown:
    address: str
    password: str | None = secret()
    note: str | None = omitted_if_none()


def test_a_secret_field_is_marked_and_never_in_repr():
    shown = Shown("thanhnq", "Mật-khẩu-1")
    assert "Mật-khẩu-1" not in repr(shown) and "thanhnq" in repr(shown)
    marks = {f.name: dict(f.metadata) for f in fields(Shown)}
    assert marks == {"address": {}, "password": {SECRET: True}, "note": {OMIT_NONE: True}}
    assert (Shown("x").password, Shown("x").note) == (None, None)


def test_secret_fields_reach_output_only_when_asked():
    from dnmail.cli.render import to_data

    shown = Shown("thanhnq", "Mật-khẩu-1")
    assert to_data(shown) == {"address": "thanhnq"}
    assert to_data(shown, secrets=True) == {"address": "thanhnq", "password": "Mật-khẩu-1"}
    assert to_data(Shown("thanhnq", None, "ghi chú"), secrets=True) == {
        "address": "thanhnq", "note": "ghi chú"}


PERSON = SimpleNamespace(hr_id="HR001", full_name="Nguyễn Quang Thanh", department="Văn phòng",
                         position="Chánh văn phòng", phone="0905123456")


def test_the_attributes_of_a_mailbox_entry():
    assert mailbox_attributes(PERSON, "thanhnq", "danang.gov.vn") == {
        "uid": "thanhnq", "mail": "thanhnq@danang.gov.vn", "cn": "Nguyễn Quang Thanh",
        "sn": "Nguyễn", "givenName": "Thanh", "employeeNumber": "HR001",
        "telephoneNumber": "0905123456", "title": "Chánh văn phòng", "ou": "Văn phòng",
    }
    bare = SimpleNamespace(hr_id="HR002", full_name="Đức", department="", position="", phone="")
    attrs = mailbox_attributes(bare, "duc", "danang.gov.vn")
    assert (attrs["sn"], attrs["givenName"]) == ("Đức", "Đức")
    assert attrs["title"] is attrs["ou"] is attrs["telephoneNumber"] is None


def test_changed_attributes_compare_with_absent_as_empty():
    wanted = mailbox_attributes(PERSON, "thanhnq", "danang.gov.vn")
    entry = {k: str(v) for k, v in wanted.items()}
    assert changed_attributes(lambda n: entry.get(n, ""), wanted) == {}
    entry["title"] = "Chuyên viên"
    del entry["ou"]
    assert changed_attributes(lambda n: entry.get(n, ""), wanted) == {
        "title": "Chánh văn phòng", "ou": "Văn phòng"}
    cleared = {**wanted, "telephoneNumber": None}
    assert changed_attributes(lambda n: entry.get(n, "") if n != "ou" else "Văn phòng",
                              cleared) == {"title": "Chánh văn phòng", "telephoneNumber": None}


@pytest.mark.parametrize("value", [-1, -1.0, 10**12, 1e12, float("inf"), float("nan"), 905.5])
def test_number_cells_outside_a_phone_are_refused_with_words(value):
    with pytest.raises(BadPhone, match="^not a phone number$"):
        parse_phone(value)


@pytest.mark.parametrize("value", [905123456, 905123456.0, 10**12 - 1, 999_999_999_999.0])
def test_number_cells_up_to_the_limit_are_read(value):
    try:
        phone = parse_phone(value)
    except BadPhone as e:  # too many digits for Vietnam: refused for that, not as a non-number
        assert "has 12 digits" in str(e) or "digits" in str(e), e
    else:
        assert phone.number.startswith("0") and phone.number.isdigit()
