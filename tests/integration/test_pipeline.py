"""The pipelined LDAP writer: BER it sends is what ldap3 (pyasn1) would send, and against
a real slapd it adds, refuses and searches exactly as the ldap3 path does — including
values that would be filter or DN syntax if anything parsed them."""

from __future__ import annotations

import ldap3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnmail.directory import pipeline

UNDEFINED_ATTRIBUTE_TYPE = 17  # RFC 4511 resultCode


def test_add_request_matches_ldap3_encoding():
    from ldap3.operation.add import add_operation
    from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
    from pyasn1.codec.ber import encoder

    attrs = {
        "objectClass": ["top", "inetOrgPerson"],
        "cn": ["Nguyễn Quang Thanh"],
        "sn": ["Nguyễn"],
    }
    req = add_operation(
        "uid=thanhnq,ou=snv,ou=people,dc=danang,dc=gov,dc=vn", attrs, auto_encode=True
    )
    msg = LDAPMessage()
    msg["messageID"] = MessageID(7)
    msg["protocolOp"] = ProtocolOp().setComponentByName("addRequest", req)
    expected = encoder.encode(msg)
    got = pipeline.encode_add(7, "uid=thanhnq,ou=snv,ou=people,dc=danang,dc=gov,dc=vn", attrs)
    assert got == expected


@given(st.integers(min_value=0, max_value=2**31 - 1), st.binary(max_size=70000))
def test_lengths_and_integers_round_trip(n, payload):
    msg = pipeline._message(
        n,
        pipeline._tlv(
            0x69, pipeline._tlv(0x0A, b"\x00") + pipeline._octets(payload) + pipeline._octets(b"")
        ),
    )
    mid, tag, res = pipeline.decode_response(msg)
    assert (mid, tag, res.code) == (n, 0x69, 0)
    assert res.matched_dn == payload.decode("utf-8", "replace")


def test_truncated_answers_are_protocol_errors():
    good = pipeline._message(
        1,
        pipeline._tlv(
            0x69, pipeline._tlv(0x0A, b"\x00") + pipeline._octets("") + pipeline._octets("")
        ),
    )
    for cut in range(1, len(good)):
        with pytest.raises(pipeline.ProtocolError):
            pipeline.decode_response(good[:cut])


@pytest.fixture
def writer(ldap):
    w = pipeline.PipelinedWriter(
        ldap.url, bind_dn=ldap.service_dn, password=ldap.service_password, window=8
    )
    c = ldap3.Connection(ldap.url, ldap.service_dn, ldap.service_password, auto_bind=True)
    c.add(f"ou=snv,{ldap.people_dn}", ["organizationalUnit"], {"ou": "snv"})
    c.unbind()
    yield w
    w.close()


def person(i, suffix, **extra):
    attrs = {
        "objectClass": ["inetOrgPerson"],
        "uid": [f"p{i}"],
        "cn": [f"Người {i}"],
        "sn": ["Lê"],
        "employeeNumber": [f"E{i}"],
        "userPassword": [f"Mật-khẩu-{i}"],
    }
    attrs.update(extra)
    return f"uid=p{i},ou=snv,ou=people,{suffix}", attrs


def test_add_many_in_order_with_errors(writer, ldap):
    items = [person(i, ldap.suffix) for i in range(50)]
    items.insert(10, items[3])  # a duplicate in the middle, within the window of item 3
    bad = person(99, ldap.suffix)
    items.insert(20, (bad[0], {**bad[1], "noSuchAttribute": ["x"]}))  # refused by the schema
    items.append((f"uid=x,ou=nobranch,ou=people,{ldap.suffix}", items[0][1]))
    results = writer.add_many(items)
    assert len(results) == 53
    codes = [r.code for r in results]
    # Each answer lands at its own item's position, whatever order slapd answers in.
    assert codes[20] == UNDEFINED_ATTRIBUTE_TYPE
    assert codes[-1] == pipeline.NO_SUCH_OBJECT
    # Of two adds of one DN in flight together, slapd lets exactly one through (which one
    # depends on its threads): one success, one "already exists", never two entries.
    assert sorted((codes[3], codes[10])) == [0, pipeline.ENTRY_ALREADY_EXISTS]
    assert codes.count(0) == 50
    # The server hashed the cleartext (ppolicy), and it binds.
    c = ldap3.Connection(ldap.url, items[5][0], "Mật-khẩu-5")
    assert c.bind()


def test_search_values_are_never_filter_syntax(writer, ldap):
    writer.add_many([person(1, ldap.suffix), person(2, ldap.suffix, employeeNumber=["*)(uid=*"])])
    found = writer.search_eq(
        ldap.people_dn, "employeeNumber", ["*)(uid=*"], ["uid", "employeeNumber"]
    )
    assert [a["uid"] for _, a in found] == [["p2"]]
    assert writer.search_eq(ldap.people_dn, "employeeNumber", ["*"], ["uid"]) == []
    both = writer.search_eq(
        ldap.people_dn,
        "employeeNumber",
        ["E1", "*)(uid=*", "nobody"],
        ["uid"],
        object_class="inetOrgPerson",
    )
    assert sorted(a["uid"][0] for _, a in both) == ["p1", "p2"]
    assert writer.search_eq(f"ou=nowhere,{ldap.suffix}", "uid", ["p1"], ["uid"]) == []


def test_bad_credentials_and_dead_server(ldap):
    with pytest.raises(pipeline.BindRefused):
        pipeline.PipelinedWriter(ldap.url, bind_dn=ldap.service_dn, password="wrong")
    with pytest.raises(OSError):
        pipeline.PipelinedWriter("ldap://127.0.0.1:9", bind_dn="x", password="y", timeout=2)
