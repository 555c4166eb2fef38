"""The `provision` loop: a chunk of requests per transaction, until the queue is empty
(or the limit reached); `provision` itself, with one worker or several."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.db import queries
from dnmail.db.models import Request, Unit
from dnmail.domain.states import RequestKind
from dnmail.errors import DirectoryUnavailable, DnmailError
from dnmail.exports.handouts import HandoutRow, HandoutWriter
from dnmail.i18n import _
from dnmail.services.provisioning import ledger
from dnmail.services.provisioning.actions import Actions
from dnmail.services.provisioning.allocation import Allocation
from dnmail.services.provisioning.items import ItemResult, ProvisionSummary, Work
from dnmail.services.requests import reserved_names
from dnmail.services.runtime import Runtime


class Provisioner:
    """One run of `provision` (or one worker of it)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        handout_dir: Path | None,
        progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
        handout_format: str = "xlsx",
    ):
        self.rt = rt
        self.cfg = rt.config
        self.domain = rt.config.directory.mail_domain
        self.policy = rt.config.passwords.policy()
        self.reserved = reserved_names(rt.config)
        # The handout directory is checked (and refused) before anything is changed.
        self.handouts = (
            HandoutWriter(
                handout_dir, stamp=rt.now(), fmt=handout_format, units=self._unit_names()
            )
            if handout_dir and not dry_run
            else None
        )
        self.handout_problem: str | None = None
        self.progress = progress or (lambda n: None)
        self.dry_run = dry_run
        self._actions: Actions | None = None
        self._accounts: set[str] | None = None

    @property
    def actions(self) -> Actions:
        if self._actions is None:  # the directory is connected on first use
            self._actions = Actions(
                self.rt.directory, domain=self.domain, policy=self.policy, dry_run=self.dry_run,
                reserved=self.reserved,
            )
        return self._actions

    # -- the loop ------------------------------------------------------------------
    def _unit_names(self) -> dict[str, str]:
        """Each unit's name by code, for the title row of its handout."""
        with self.rt.transaction(readonly=True) as s:
            return {code: name for code, name in s.execute(select(Unit.code, Unit.name))}

    def run(self, request_ids: Sequence[int] = (), *, limit: int | None = None) -> ProvisionSummary:
        try:
            results = self._loop(request_ids, limit)
        finally:
            if self.handouts is not None:
                self.handouts.close()  # files that never got a row are removed
        paths = sorted(self.handouts.paths.values()) if self.handouts else []
        return ProvisionSummary(results, paths, self.dry_run, self.handout_problem)

    def _loop(self, request_ids: Sequence[int], limit: int | None) -> list[ItemResult]:
        results: list[ItemResult] = []
        seen: set[int] = set()
        remaining = limit
        chunk = self.cfg.provision.chunk_size
        while remaining is None or remaining > 0:
            size = chunk if remaining is None else min(chunk, remaining)
            batch = self._run_chunk(request_ids, size, seen)
            if batch is None:
                break
            results.extend(batch)
            seen.update(r.request_id for r in batch)
            if remaining is not None:
                remaining -= len(batch)
            self.progress(len(batch))
            if self.dry_run and not batch:
                break
            if self.handout_problem:
                # This chunk's passwords are shown instead of written: stop here, so that
                # a full disk does not put a whole night's passwords on the screen. The
                # other requests stay pending for the next run.
                break
        return results

    def _run_chunk(
        self, request_ids: Sequence[int], size: int, seen: set[int]
    ) -> list[ItemResult] | None:
        # A Conflict: another worker reserved one of our addresses at the same moment,
        # or PostgreSQL broke a deadlock by failing us. Nothing was written to the
        # directory (addresses are reserved before any write): take the chunk again, the
        # other worker has committed by now and its addresses count as taken.
        return self.rt.retrying(lambda: self._chunk_once(request_ids, size, seen))

    def _chunk_once(
        self, request_ids: Sequence[int], size: int, seen: set[int]
    ) -> list[ItemResult] | None:
        now = self.rt.now()
        with self.rt.db.transaction(dry_run=self.dry_run, autoflush=False) as s:
            reqs = ledger.claim(
                s, request_ids, size=size, seen=seen,
                max_attempts=self.cfg.provision.max_attempts, lock=not self.dry_run,
            )
            if not reqs:
                return None
            works = ledger.load(s, reqs)
            if self.handouts is not None:
                # Each unit's handout exists (created new, 0600) before any password of
                # this chunk is set: a handout that cannot be made changes nothing.
                self.handouts.prepare(
                    w.staff.unit_code for w in works if w.kind is RequestKind.CREATE
                )
            self._handle_all(s, works, now)
            if self.dry_run:
                return [w.result for w in works if w.result is not None]  # rolled back
            ledger.record(s, works, actor=self.rt.actor, now=now)
            # Passwords reach disk, under the handout's final name, before the commit
            # that marks them issued.
            self._write_handouts(works)
        return [w.result for w in works if w.result is not None]

    # -- handling ---------------------------------------------------------------------
    def _handle_all(self, s: Session, works: list[Work], now: datetime) -> None:
        creates = [w for w in works if w.kind is RequestKind.CREATE]
        if creates:
            self._allocation(s, now).prepare(creates)
        fresh: list[Work] = []
        for w in works:
            if w.result is not None:
                continue
            if w.kind is RequestKind.CREATE and w.adopted is None:
                fresh.append(w)
                continue
            try:
                self._handle(s, w, now)
            except DirectoryUnavailable:
                raise
            except DnmailError as e:  # the directory refused this one: it fails alone
                w.fail(e.message)
        if fresh:
            self.actions.create(s, fresh)

    def _handle(self, s: Session, w: Work, now: datetime) -> None:
        if w.kind is RequestKind.CREATE:
            self.actions.adopt(s, w, self.rt.now())
        elif w.kind is RequestKind.CHANGE:
            if w.req.requested_address and self._accounts is None:
                self._accounts = queries.unit_account_names(s)
            self.actions.accounts = self._accounts or set()
            self.actions.change(s, w, self.rt.now())
        else:
            self.actions.cancel(w, now)

    def _allocation(self, s: Session, now: datetime) -> Allocation:
        if self._accounts is None:
            self._accounts = queries.unit_account_names(s)
        return Allocation(
            s,
            self.rt.directory,
            domain=self.domain,
            pattern=self.cfg.addresses.pattern,
            reserved=self.reserved,
            accounts=self._accounts,
            now=now,
            reserve=not self.dry_run,
        )

    def _write_handouts(self, works: list[Work]) -> None:
        """Each new password into its unit's handout (then marked `handed_out`, never
        shown). When the handout cannot be written (a full disk), the passwords are
        returned to be shown, and the chunk is still recorded: they are in force, and
        never lost."""
        if self.handouts is None:
            return
        per_unit: dict[str, list[HandoutRow]] = {}
        for w in works:
            if w.password and w.mailbox is not None:
                per_unit.setdefault(w.staff.unit_code, []).append(
                    HandoutRow(
                        w.staff.full_name,
                        w.staff.department,
                        w.staff.phone,
                        f"{w.mailbox.address}@{self.domain}",
                        w.password,
                    )
                )
        try:
            self.handouts.write_many(per_unit)
            self.handouts.publish()
        except OSError as e:
            self.handout_problem = _(
                "the handouts in {directory} could not be written ({error}): the passwords "
                "of the mailboxes just made are shown instead; hand them over now. The run "
                "stopped there: the other requests stay pending for the next `dnmail "
                "provision`, once the directory can be written"
            ).format(directory=self.handouts.directory, error=e.strerror or e)
            return
        for w in works:
            if w.password and w.result is not None:
                w.result = replace(w.result, handed_out=True)


def provision(
    rt: Runtime,
    request_ids: Sequence[int] = (),
    *,
    limit: int | None = None,
    dry_run: bool = False,
    handout_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    handout_format: str = "xlsx",
) -> ProvisionSummary:
    """Carry out open requests (all, or those named), a chunk per transaction.

    With several workers (``provision.workers`` or ``workers=``), as many processes take
    chunks from the same queue (`parallel`).
    """
    n = workers if workers is not None else rt.config.provision.workers
    if n > 1 and not dry_run and not request_ids and limit is None:
        from dnmail.services.provisioning.parallel import provision_parallel

        return provision_parallel(
            rt, n, handout_dir=handout_dir, progress=progress, handout_format=handout_format
        )
    p = Provisioner(
        rt, handout_dir=handout_dir, progress=progress, dry_run=dry_run,
        handout_format=handout_format,
    )
    return p.run(request_ids, limit=limit)


def count_open(rt: Runtime, request_ids: Sequence[int] = ()) -> int:
    """How many requests `provision` would take (for a progress bar)."""
    q = select(func.count()).select_from(Request).where(queries.is_open())
    if request_ids:
        q = q.where(Request.id.in_(list(request_ids)))
    else:
        q = q.where(Request.attempts < rt.config.provision.max_attempts)
    with rt.transaction(readonly=True) as s:
        return s.scalar(q) or 0
