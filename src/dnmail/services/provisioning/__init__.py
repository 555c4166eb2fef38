"""`provision`: carry out the queue against the directory (DESIGN §1 steps 3 and 6, §5).

Crash safety and exactly-once, the way it is achieved:

* Requests are taken a chunk at a time inside one database transaction that holds
  them: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (another worker skips them; a killed
  worker's locks vanish with its connection), ``BEGIN IMMEDIATE`` on SQLite (writers
  are serialised).
* Addresses are reserved by inserting the mailbox rows and flushing *before* any
  directory write: two workers that picked the same address collide on the unique
  index here, while nothing has been written to the directory yet, and the chunk is
  retried.
* Directory writes are idempotent on a rerun: an entry that already carries the
  person's HR id (employeeNumber) is adopted, not duplicated — it is moved to the
  right branch, its attributes brought in line and a new password handed out (the
  first one may never have reached anybody). A move or a lock already done is
  recognised.
* The chunk commits once, with every request's outcome and its audit event: a crash
  before the commit leaves the requests open, and the rerun adopts what the directory
  already has. A crash after it loses nothing.

The pieces, one job each:

- `items`: what a run handles and returns (a claimed request, its outcome, the summary);
- `ledger`: the database side — claiming requests, reserving addresses, recording
  outcomes and their audit events;
- `allocation`: adoption lookups and addresses for a chunk's new mailboxes;
- `actions`: the directory side — create, adopt, change (move), cancel (lock);
- `run`: the loop, one chunk per transaction, and `provision` itself;
- `parallel`: several worker processes on one queue.
"""

from dnmail.domain.addresses import base_of
from dnmail.services.provisioning.items import ItemResult, ProvisionSummary
from dnmail.services.provisioning.parallel import WorkerError
from dnmail.services.provisioning.run import Provisioner, count_open, provision

__all__ = [
    "ItemResult",
    "ProvisionSummary",
    "Provisioner",
    "WorkerError",
    "base_of",
    "count_open",
    "provision",
]
