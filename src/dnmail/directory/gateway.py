"""The one place that talks LDAP (ldap3). Driver errors become dnmail errors here.

Everything above this module speaks in DNs built by ``layout.Layout`` and in plain dicts;
nothing else imports ldap3.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from dnmail.config import DirectorySettings
from dnmail.directory import dn as dnlib
from dnmail.directory.layout import Layout
from dnmail.errors import (
    ConfigError,
    DirectoryError,
    DirectoryUnavailable,
    EntryExists,
    InsufficientAccess,
    NoSuchEntry,
)
from dnmail.i18n import _

if TYPE_CHECKING:
    from dnmail.directory.pipeline import PipelinedWriter

#: ppolicy's "locked by an administrator" value: every bind fails until it is removed
#: (draft-behera-ldap-password-policy §5.3.3; needs pwdLockout: TRUE in the policy).
LOCKED_FOREVER = "000001010000Z"

#: The value `sync --apply` adds to a mailbox entry's employeeType once HR records that
#: its owner moved to another unit, until the move at the next `provision` removes it:
#: slapd's access rules then refuse the old unit's officer that entry's password
#: (rule {1} of dnmail.ldif.in) — rights follow HR, not the branch the entry is in yet.
TRANSFER_MARK = "dnmail-transfer"

MAILBOX_ATTRS = (
    "uid",
    "cn",
    "sn",
    "givenName",
    "mail",
    "employeeNumber",
    "telephoneNumber",
    "title",
    "ou",
    "pwdAccountLockedTime",
    "pwdReset",
    "employeeType",
)
MAILBOX_CLASSES = ("top", "person", "organizationalPerson", "inetOrgPerson")
#: Attributes that give an entry more addresses (misc.schema's inetLocalMailRecipient):
#: an address there is taken as surely as a uid or a mail. A server without that
#: schema finds nothing by them (an undefined attribute never matches a filter).
ALIAS_ATTRIBUTES = ("mailLocalAddress",)


@dataclass(frozen=True)
class Entry:
    dn: str
    attrs: Mapping[str, Sequence[str]] = field(default_factory=dict)  # keys lower-case

    def first(self, name: str) -> str:
        values = self.attrs.get(name.lower(), ())
        return values[0] if values else ""

    @property
    def uid(self) -> str:
        return self.first("uid")

    @property
    def employee_number(self) -> str:
        return self.first("employeeNumber")

    @property
    def locked(self) -> bool:
        return bool(self.attrs.get("pwdaccountlockedtime"))

    @property
    def transfer_marked(self) -> bool:
        return any(v.lower() == TRANSFER_MARK for v in self.attrs.get("employeetype", ()))


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Directory:
    """A bound connection to the directory."""

    def __init__(self, settings: DirectorySettings, conn, *, bind_dn: str, password: str = ""):
        self.settings = settings
        self.layout = Layout.of(settings)
        #: What is read of a mailbox entry: MAILBOX_ATTRS and the unit attribute, if any.
        self.mailbox_attrs = MAILBOX_ATTRS + (
            (settings.unit_attribute,) if settings.unit_attribute else ()
        )
        self._conn = conn
        self.bind_dn = bind_dn
        self._password = password
        self._writer: PipelinedWriter | None = None

    # -- connection ------------------------------------------------------------------
    @classmethod
    def connect(
        cls, settings: DirectorySettings, password: str, *, bind_dn: str | None = None
    ) -> Directory:
        """Connect and bind; DirectoryUnavailable (exit 4) names the server on failure."""

        import ldap3
        from ldap3.core import exceptions as lx

        bind_dn = bind_dn or settings.bind_dn
        url = settings.url
        parsed = urlparse(url)
        host = parsed.hostname or ""
        secure = parsed.scheme == "ldaps" or settings.start_tls
        if not secure and not _is_loopback(host) and not settings.allow_insecure:
            raise ConfigError(_(
                "directory.url {url} is plain ldap:// to a host that is not this machine: "
                "passwords would cross the network in clear. Use ldaps://, set "
                "directory.start_tls = true, or (only on a trusted network) "
                "directory.allow_insecure = true"
            ).format(url=url))
        tls = _verifying_tls(_tls_context(settings), host) if secure else None
        server = ldap3.Server(
            url,
            get_info=ldap3.NONE,
            connect_timeout=settings.timeout,
            use_ssl=parsed.scheme == "ldaps",
            tls=tls,
        )
        conn = ldap3.Connection(
            server,
            user=bind_dn,
            password=password,
            client_strategy=ldap3.SYNC,
            raise_exceptions=True,
            receive_timeout=max(1, int(settings.timeout)),
            auto_referrals=False,
            return_empty_attributes=False,
        )
        try:
            conn.open()
            if settings.start_tls and parsed.scheme != "ldaps":
                try:
                    conn.start_tls()
                except lx.LDAPOperationResult as e:  # the server said no (RFC 4511 §4.14.2)
                    raise DirectoryUnavailable(
                        _("directory {url}: the server refused StartTLS ({reason})").format(
                            url=url, reason=f"{e.description}: {e.message}"
                        ),
                        hint=_no_tls_hint(),
                    ) from None
            conn.bind()
        except lx.LDAPInvalidCredentialsResult:
            raise DirectoryUnavailable(
                _bind_refused(url, bind_dn),
                hint=_(
                    "check the bind password source named by directory.bind_password_env/file"
                ),
            ) from None
        except (TimeoutError, lx.LDAPSocketOpenError, lx.LDAPSocketReceiveError) as e:
            # ldap3 reports a failed ldaps:// handshake as a socket error, its text only.
            raise _tls_failure(settings, tls and tls.failure) or DirectoryUnavailable(
                _("directory {url} cannot be reached: {reason}").format(url=url, reason=_short(e))
            ) from None
        except lx.LDAPStartTLSError as e:
            raise _tls_failure(settings, tls and tls.failure) or DirectoryUnavailable(
                _("directory {url}: StartTLS failed: {reason}").format(url=url, reason=_short(e)),
                hint=_no_tls_hint(),
            ) from None
        except lx.LDAPException as e:
            raise _tls_failure(settings, tls and tls.failure) or DirectoryUnavailable(
                f"{_('directory {url}').format(url=url)}: {_short(e)}"
            ) from None
        return cls(settings, conn, bind_dn=bind_dn, password=password)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        try:
            self._conn.unbind()
        except Exception:  # noqa: S110 - closing a dead socket is not an error
            pass

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- error translation -----------------------------------------------------------
    @contextmanager
    def _op(self, what: str, dn: str = "") -> Iterator[None]:
        from ldap3.core import exceptions as lx

        try:
            yield
        except lx.LDAPEntryAlreadyExistsResult:
            raise EntryExists(_exists(what, dn)) from None
        except lx.LDAPNoSuchObjectResult:
            raise NoSuchEntry(_no_such_entry(what, dn)) from None
        except lx.LDAPInsufficientAccessRightsResult:
            raise InsufficientAccess(_(
                "{what}: the directory refused {who} the right to change {dn}"
            ).format(what=what, who=self.bind_dn, dn=dn)) from None
        except (
            lx.LDAPSocketOpenError,
            lx.LDAPSocketReceiveError,
            lx.LDAPSocketSendError,
            lx.LDAPSessionTerminatedByServerError,
            lx.LDAPCommunicationError,
            lx.LDAPResponseTimeoutError,
            lx.LDAPUnavailableResult,
            lx.LDAPBusyResult,
        ) as e:
            raise DirectoryUnavailable(_stopped(self.settings.url, what, e)) from None
        except lx.LDAPOperationResult as e:
            raise DirectoryError(f"{what} {dn}: {e.description}: {e.message}".strip()) from None
        except lx.LDAPException as e:
            raise DirectoryUnavailable(_("directory {url}: {what} failed: {reason}").format(
                url=self.settings.url, what=what, reason=_short(e)
            )) from None

    # -- reads -----------------------------------------------------------------------
    def search(
        self,
        base: str,
        filt: str,
        attributes: Iterable[str] | None = None,
        *,
        subtree: bool = True,
    ) -> Iterator[Entry]:
        """Paged search; yields entries (absent base → nothing)."""
        import ldap3

        attrs = list(self.mailbox_attrs if attributes is None else attributes)
        with self._op("search", base):
            try:
                results = self._conn.extend.standard.paged_search(
                    base,
                    filt,
                    search_scope=ldap3.SUBTREE if subtree else ldap3.LEVEL,
                    attributes=attrs,
                    paged_size=self.settings.page_size,
                    generator=True,
                )
                for item in results:
                    if item.get("type") != "searchResEntry":
                        continue
                    yield _entry(item)
            except NoSuchEntry:
                return

    def get(self, dn: str, attributes: Iterable[str] | None = None) -> Entry | None:
        import ldap3
        from ldap3.core import exceptions as lx

        try:
            with self._op("read", dn):
                self._conn.search(
                    dn, "(objectClass=*)", ldap3.BASE,
                    attributes=list(self.mailbox_attrs if attributes is None else attributes),
                )
        except NoSuchEntry:
            return None
        except lx.LDAPNoSuchObjectResult:  # pragma: no cover - translated above
            return None
        if not self._conn.response:
            return None
        return _entry(self._conn.response[0])

    def exists(self, dn: str) -> bool:
        return self.get(dn, ("objectClass",)) is not None

    def find_by_hr_ids(self, hr_ids: Iterable[str]) -> dict[str, list[Entry]]:
        """Mailbox entries under ou=people by employeeNumber: one equality search per 500
        ids on the pipelined connection (cost follows the ids, not the directory size)."""
        found: dict[str, list[Entry]] = {}
        ids = list(dict.fromkeys(hr_ids))
        for entry in self._search_eq(
            self.layout.people, "employeeNumber", ids, self.mailbox_attrs,
            object_class="inetOrgPerson",
        ):
            found.setdefault(entry.employee_number, []).append(entry)
        return found

    def taken_addresses(
        self, locals_: Iterable[str], *, aliases: Iterable[str] = ALIAS_ATTRIBUTES
    ) -> set[str]:
        """Which of these local parts are taken anywhere in the directory: as a uid, as
        the mail of the domain, or in an alias attribute (`aliases`, e.g.
        mailLocalAddress) — whoever holds them, adopted or not (DESIGN §7). Equality
        filters in batches of 500 (uid and mail have equality indexes): the cost follows
        the number of addresses asked about, not the size of the directory."""
        domain = self.settings.mail_domain.lower()
        wanted = sorted({x.lower() for x in locals_})
        alias_attrs = list(aliases)
        taken: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            terms = [("uid", x) for x in chunk]
            terms += [(a, f"{x}@{domain}") for a in ("mail", *alias_attrs) for x in chunk]
            with self._fast("search") as w:
                found = w.search_any(self.settings.base_dn, terms, ["uid", "mail", *alias_attrs])
            asked = set(chunk)
            for _dn, attrs in found:
                for uid in attrs.get("uid", ()):
                    if uid.lower() in asked:
                        taken.add(uid.lower())
                for a in ("mail", *alias_attrs):
                    for value in attrs.get(a.lower(), ()):
                        local, _, dom = value.lower().rpartition("@")
                        if dom == domain and local in asked:
                            taken.add(local)
        return taken

    def address_holders(self, local: str) -> list[Entry]:
        """Every entry under base_dn that holds `local` as its uid, as the mail of the
        domain or in an alias attribute (one equality search; uid, mail and
        mailLocalAddress have equality indexes). What a rename checks its new name
        against, knowing which entry holds it (its own, after a crash, is no clash)."""
        domain = self.settings.mail_domain
        terms = [("uid", local), ("mail", f"{local}@{domain}")]
        terms += [(a, f"{local}@{domain}") for a in ALIAS_ATTRIBUTES]
        attrs = ["uid", "mail", "employeeNumber", *ALIAS_ATTRIBUTES]
        with self._fast("search") as w:
            found = w.search_any(self.settings.base_dn, terms, attrs)
        return [Entry(dn, {k: tuple(v) for k, v in values.items()}) for dn, values in found]

    def people_with_address(
        self, local: str, attributes: Iterable[str] | None = None
    ) -> list[Entry]:
        """The person entries under people_dn whose uid is `local` or whose mail is
        `local@<mail_domain>` (one equality search)."""
        terms = [("uid", local), ("mail", f"{local}@{self.settings.mail_domain}")]
        attrs = list(self.mailbox_attrs if attributes is None else attributes)
        with self._fast("search") as w:
            found = w.search_any(self.layout.people, terms, attrs, object_class="inetOrgPerson")
        return [Entry(dn, values) for dn, values in found]

    def iter_people(
        self, unit: str | None = None, attributes: Iterable[str] | None = None
    ) -> Iterator[Entry]:
        """The person entries of the directory (the whole subtree of people_dn, whatever
        the layout), or of one unit's part of it (`Layout.unit_search`): one paged search
        on the pipelined connection, which reads 100,000 entries about as fast as
        `ldapsearch` dumps them (ldap3 would take ten times longer). Consume it whole."""
        from dnmail.directory import pipeline

        base, conditions = self.layout.unit_search(unit)
        filt = pipeline.and_filter([pipeline.eq_filter(a, v) for a, v in conditions])
        attrs = list(self.mailbox_attrs if attributes is None else attributes)
        with self._fast("search") as w:
            for dn, values in w.search(base, filt, attrs, page_size=self.settings.page_size):
                yield Entry(dn, values)

    # -- writes ----------------------------------------------------------------------
    def ensure_ou(self, dn: str, ou: str) -> bool:
        """Create an organizationalUnit unless it exists. Returns True when created."""
        if self.exists(dn):
            return False
        try:
            with self._op("add branch", dn):
                self._conn.add(dn, ["top", "organizationalUnit"], {"ou": ou})
        except EntryExists:
            return False
        return True

    def add(self, dn: str, object_classes: Iterable[str], attrs: Mapping[str, object]) -> None:
        clean = {k: v for k, v in attrs.items() if v not in (None, "", [], ())}
        _check_values(clean)
        with self._op("add", dn):
            self._conn.add(dn, list(object_classes), clean)

    def add_mailbox(self, dn: str, attrs: Mapping[str, object], password: str) -> None:
        """One operation per account: the add carries the cleartext password for the
        ppolicy overlay to hash (olcPPolicyHashCleartext) and pwdReset for must-change."""
        full = dict(attrs)
        full["userPassword"] = password
        full["pwdReset"] = "TRUE"
        self.add(dn, MAILBOX_CLASSES, full)

    # -- the pipelined fast path (bulk adds, equality lookups) ----------------------
    @contextmanager
    def _fast(self, what: str) -> Iterator:
        """The pipelined connection, opened on first use with the same settings and
        identity as the ldap3 one; its failures are translated here."""
        from dnmail.directory import pipeline

        try:
            if self._writer is None:
                self._writer = pipeline.PipelinedWriter(
                    self.settings.url,
                    bind_dn=self.bind_dn,
                    password=self._password,
                    timeout=self.settings.timeout,
                    start_tls=self.settings.start_tls,
                    ca_file=self.settings.ca_file or None,
                )
            yield self._writer
        except pipeline.BindRefused:
            raise DirectoryUnavailable(_bind_refused(self.settings.url, self.bind_dn)) from None
        except pipeline.SearchFailed as e:
            raise DirectoryError(f"{what}: {e}") from None
        except (pipeline.ProtocolError, OSError) as e:
            if self._writer is not None:
                try:
                    self._writer._sock.close()
                except OSError:
                    pass
            self._writer = None
            # A certificate refused on this connection reads as it does in connect().
            raise _tls_failure(self.settings, e) or DirectoryUnavailable(
                _stopped(self.settings.url, what, e)
            ) from None

    def _search_eq(
        self,
        base: str,
        attribute: str,
        values: list[str],
        attributes: Iterable[str],
        object_class=None,
    ) -> list[Entry]:
        out: list[Entry] = []
        for i in range(0, len(values), 500):
            with self._fast("search") as w:
                found = w.search_eq(
                    base, attribute, values[i : i + 500], list(attributes),
                    object_class=object_class,
                )
            out.extend(Entry(dn, {k: tuple(v) for k, v in attrs.items()}) for dn, attrs in found)
        return out

    def add_mailboxes(
        self, items: list[tuple[str, Mapping[str, object], str]]
    ) -> list[DirectoryError | None]:
        """Add many mailbox entries at once through the pipelined writer (one operation
        per account, up to 64 in flight). Returns, in order, None for each entry added or
        the error that refused it. A broken connection raises DirectoryUnavailable: the
        caller cannot know which adds landed and must not record any (a rerun adopts)."""

        requests = []
        for dn, attrs, password in items:
            full = {k: v for k, v in attrs.items() if v not in (None, "", [], ())}
            _check_values(full)
            values = {
                k: [str(x) for x in v] if isinstance(v, list | tuple) else [str(v)]
                for k, v in full.items()
            }
            values["objectClass"] = list(MAILBOX_CLASSES)
            values["userPassword"] = [password]
            values["pwdReset"] = ["TRUE"]
            requests.append((dn, values))
        with self._fast("bulk add") as w:
            results = w.add_many(requests)
        return [
            self._bulk_error("add", dn, r)
            for (dn, _values), r in zip(requests, results, strict=True)
        ]

    def _bulk_error(self, op: str, dn: str, r) -> DirectoryError | None:
        """The dnmail error of one pipelined result (None when it succeeded)."""
        from dnmail.directory import pipeline

        if r.ok:
            return None
        if r.code == pipeline.ENTRY_ALREADY_EXISTS:
            return EntryExists(_exists(op, dn))
        if r.code == pipeline.NO_SUCH_OBJECT:
            if op == "add":
                return NoSuchEntry(_("add: the branch of {dn} does not exist").format(dn=dn))
            return NoSuchEntry(_no_such_entry(op, dn))
        if r.code == pipeline.INSUFFICIENT_ACCESS:
            return InsufficientAccess(_(
                "{what}: the directory refused {who} the right to {what} {dn}"
            ).format(what=op, who=self.bind_dn, dn=dn))
        return DirectoryError(_("{what} {dn}: result {code}: {message}").format(
            what=op, dn=dn, code=r.code, message=r.message
        ).strip())

    def replace_many(
        self, items: Sequence[tuple[str, Mapping[str, object]]]
    ) -> list[DirectoryError | None]:
        """Replace attributes of many entries through the pipelined connection (one
        modify each, up to 64 in flight): None for each entry changed, or the error
        that refused it. A broken connection raises DirectoryUnavailable."""

        requests = []
        for dn, changes in items:
            _check_values(changes)
            values = {
                k: []
                if v in (None, "", [], ())
                else [str(x) for x in (v if isinstance(v, list | tuple) else [v])]
                for k, v in changes.items()
            }
            requests.append((dn, values))
        with self._fast("modify") as w:
            results = w.modify_many(requests)
        return [
            self._bulk_error("modify", dn, r)
            for (dn, _changes), r in zip(requests, results, strict=True)
        ]

    def replace(self, dn: str, changes: Mapping[str, object]) -> None:
        """Replace attributes; an empty value removes the attribute."""
        import ldap3

        _check_values(changes)
        mods: dict[str, list] = {}
        for k, v in changes.items():
            if v in (None, "", [], ()):
                mods[k] = [(ldap3.MODIFY_REPLACE, [])]
            else:
                mods[k] = [(ldap3.MODIFY_REPLACE, v if isinstance(v, list) else [v])]
        if not mods:
            return
        with self._op("modify", dn):
            self._conn.modify(dn, mods)

    def move(self, dn: str, new_parent: str) -> str:
        """Move an entry under another branch keeping its RDN (modify DN). Returns the new DN."""
        from ldap3.utils.dn import safe_rdn

        rdn = safe_rdn(dn)[0]
        with self._op("move", dn):
            self._conn.modify_dn(dn, rdn, new_superior=new_parent)
        return f"{rdn},{new_parent}"

    def rename(self, dn: str, new_uid: str, new_parent: str | None = None) -> str:
        """Give an entry the RDN uid=`new_uid` (the old uid value removed), under
        `new_parent` when given (a rename and a transfer in one modify DN). Returns the
        new DN."""
        from ldap3.utils.dn import to_dn

        new_rdn = dnlib.rdn("uid", new_uid)
        parent = new_parent if new_parent is not None else ",".join(to_dn(dn)[1:])
        with self._op("rename", dn):
            self._conn.modify_dn(dn, new_rdn, delete_old_dn=True, new_superior=new_parent)
        return dnlib.join(new_rdn, parent)

    def add_aliases(self, dn: str, addresses: Iterable[str]) -> None:
        """Add addresses to an entry's aliases (mailLocalAddress, with the auxiliary
        class inetLocalMailRecipient of OpenLDAP's misc schema): mail to them is
        delivered to the entry. Idempotent: values it already has are kept once."""
        import ldap3
        from ldap3.core import exceptions as lx

        e = self.get(dn, ("objectClass", *ALIAS_ATTRIBUTES))
        if e is None:
            raise NoSuchEntry(_no_such_entry("add alias", dn))
        have = {v.lower() for v in e.attrs.get("mailLocalAddress".lower(), ())}
        new = [a for a in dict.fromkeys(addresses) if a.lower() not in have]
        classes = {v.lower() for v in e.attrs.get("objectclass", ())}
        mods: dict[str, list] = {}
        if "inetlocalmailrecipient" not in classes:
            mods["objectClass"] = [(ldap3.MODIFY_ADD, ["inetLocalMailRecipient"])]
        if new:
            _check_values({"mailLocalAddress": new})
            mods["mailLocalAddress"] = [(ldap3.MODIFY_ADD, new)]
        if not mods:
            return
        with self._op("add alias", dn):
            try:
                self._conn.modify(dn, mods)
            except lx.LDAPAttributeOrValueExistsResult:  # pragma: no cover - raced
                pass

    def delete(self, dn: str) -> None:
        with self._op("delete", dn):
            self._conn.delete(dn)

    def lock(self, dn: str) -> None:
        self.replace(dn, {"pwdAccountLockedTime": LOCKED_FOREVER})

    def unlock(self, dn: str) -> None:
        self.replace(dn, {"pwdAccountLockedTime": None})

    def mark_transfer(self, dn: str, *, on: bool = True) -> None:
        """Add (or remove) TRANSFER_MARK on a mailbox entry; idempotent, and any other
        employeeType value the entry carries is kept."""
        import ldap3
        from ldap3.core import exceptions as lx

        op = ldap3.MODIFY_ADD if on else ldap3.MODIFY_DELETE
        with self._op("mark transfer" if on else "clear transfer mark", dn):
            try:
                self._conn.modify(dn, {"employeeType": [(op, [TRANSFER_MARK])]})
            except (lx.LDAPAttributeOrValueExistsResult, lx.LDAPNoSuchAttributeResult):
                pass  # already so

    def set_password(self, dn: str, password: str, *, must_change: bool = True) -> None:
        """Password Modify extended operation (RFC 3062); the server hashes it. The entry
        is then marked must-change (pwdReset), or — `must_change=False`, for a unit's
        own account — the mark ppolicy sets on a reset by a password administrator is
        removed. Never pass hash_algorithm (see notes)."""
        with self._op("password reset", dn):
            self._conn.extend.standard.modify_password(dn, new_password=password)
        self.replace(dn, {"pwdReset": "TRUE" if must_change else None})

    def ensure_unit_account(self, dn: str, *, code: str, name: str, mail: str) -> bool:
        """The unit's official account `uid=<code>,ou=units,<base>` (inetOrgPerson,
        no password until `unit set-password`): what a unit officer binds as. Returns
        True when it was created."""
        if self.exists(dn):
            return False
        try:
            self.add(dn, MAILBOX_CLASSES, {"uid": code, "cn": name, "sn": code, "mail": mail})
        except EntryExists:
            return False
        return True


def _verifying_tls(context, host: str):
    """An ldap3 Tls that wraps the socket with `context` and lets OpenSSL check the host
    name during the handshake, as the pipelined connection does.

    Why not ``ldap3.Tls(validate=CERT_REQUIRED)``: ldap3 2.9 turns the context's
    check_hostname off and compares names itself afterwards with ssl.match_hostname,
    deprecated and gone in Python 3.12, where ldap3 falls back to a copy that refuses
    IP addresses in subjectAltName and accepts a bare CN; it also sends no SNI.
    """
    import ssl

    import ldap3

    class VerifyingTls(ldap3.Tls):
        failure: ssl.SSLError | None = None  # kept: ldap3 re-raises it as text only

        def wrap_socket(self, connection, do_handshake=False):
            try:
                connection.socket = context.wrap_socket(
                    connection.socket,
                    server_side=False,
                    do_handshake_on_connect=do_handshake,
                    server_hostname=host,
                )
            except ssl.SSLError as e:
                self.failure = e
                raise

    return VerifyingTls(validate=ssl.CERT_REQUIRED)


def _tls_context(settings: DirectorySettings):
    """The client context both connections use; an unreadable CA file is a config error."""
    import ssl

    from dnmail.directory.pipeline import client_tls_context

    try:
        return client_tls_context(settings.ca_file or None)
    except ssl.SSLError as e:
        raise ConfigError(_(
            "directory.ca_file {path}: no usable PEM CA certificate in it ({reason})"
        ).format(path=settings.ca_file, reason=getattr(e, "reason", None) or _short(e))) from None
    except OSError as e:
        raise ConfigError(_("directory.ca_file: cannot read {path}: {reason}").format(
            path=settings.ca_file, reason=e.strerror
        )) from None


def _tls_failure(
    settings: DirectorySettings, found: BaseException | None
) -> DirectoryUnavailable | None:
    """A clear DirectoryUnavailable when `found` is a TLS failure (the certificate did not
    verify, or the handshake failed), else None. Names the server, never a secret."""
    import ssl

    if not isinstance(found, ssl.SSLError):
        return None
    url = settings.url
    host = urlparse(url).hostname or ""
    if settings.ca_file:
        trusted = f"directory.ca_file ({settings.ca_file})"
    else:
        trusted = _("the system CA store")
    if isinstance(found, ssl.SSLCertVerificationError):
        reason = getattr(found, "verify_message", "") or _short(found)
        code = getattr(found, "verify_code", None)
        if code in _NAME_MISMATCH:
            return DirectoryUnavailable(
                _(
                    "directory {url}: the server's TLS certificate could not be verified: it "
                    "is not issued for {host} ({reason})"
                ).format(url=url, host=host, reason=reason),
                hint=_(
                    "connect by a name listed in the certificate's subjectAltName, or have the "
                    "certificate reissued with {host} in it; see docs/tls.md"
                ).format(host=host),
            )
        if code in _UNTRUSTED:
            reason = _("it was not issued by a CA in {trusted}: {reason}").format(
                trusted=trusted, reason=reason
            )
        return DirectoryUnavailable(
            _(
                "directory {url}: the server's TLS certificate could not be verified ({reason})"
            ).format(url=url, reason=reason),
            hint=_(
                "{trusted} must hold the CA that issued the certificate of {host}; see "
                "docs/tls.md"
            ).format(trusted=trusted, host=host),
        )
    return DirectoryUnavailable(
        _("directory {url}: TLS handshake failed ({reason})").format(
            url=url, reason=getattr(found, "reason", None) or _short(found)
        ),
        hint=_(
            "ldaps:// needs the server's ldaps port (636); StartTLS (directory.start_tls) "
            "the plain one (389)"
        ),
    )


def _no_tls_hint() -> str:
    return _("the server may offer no TLS (olcTLSCertificateFile unset); see docs/tls.md")


def _bind_refused(url: str, bind_dn: str) -> str:
    return _("directory {url}: bind as {dn} refused (invalid credentials)").format(
        url=url, dn=bind_dn
    )


def _stopped(url: str, what: str, e: BaseException) -> str:
    return _("directory {url} stopped answering during {what}: {reason}").format(
        url=url, what=what, reason=_short(e)
    )


def _exists(what: str, dn: str) -> str:
    return _("{what}: {dn} already exists in the directory").format(what=what, dn=dn)


def _no_such_entry(what: str, dn: str) -> str:
    return _("{what}: {dn} does not exist in the directory").format(what=what, dn=dn)


# OpenSSL verify codes (openssl/x509_vfy.h): the host name or IP address does not match;
# the chain does not end at a trusted CA.
_NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_UNTRUSTED = (2, 18, 19, 20, 21)  # …UNABLE_TO_GET_ISSUER_CERT, …SELF_SIGNED…, …LOCALLY, …LEAF…


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_values(attrs: Mapping[str, object]) -> None:
    """No control character (NUL above all) reaches the directory in a value."""
    for k, v in attrs.items():
        for x in v if isinstance(v, list | tuple) else [v]:
            if isinstance(x, str) and _CONTROL.search(x) and k.lower() != "userpassword":
                dnlib.check_value(x, what=_("attribute {name}").format(name=k))


def _entry(item) -> Entry:
    attrs = {}
    for k, v in (item.get("attributes") or {}).items():
        if isinstance(v, list | tuple):
            vals = tuple(_s(x) for x in v)
        else:
            vals = (_s(v),)
        if vals:
            attrs[k.lower()] = vals
    return Entry(item["dn"], attrs)


def _s(x) -> str:
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if hasattr(x, "strftime"):
        return x.strftime("%Y%m%d%H%M%SZ")
    return str(x)


def _short(e: BaseException) -> str:
    text = str(e) or e.__class__.__name__
    return text.splitlines()[0][:200]
