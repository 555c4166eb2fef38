"""Several `provision` workers on one queue: forked processes, each a Provisioner with
its own connections. The row claims keep them from ever taking the same request
(DESIGN §5), exactly as two hosts running `provision` at once."""

from __future__ import annotations

import queue as queue_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnmail.config import Config
from dnmail.errors import DnmailError
from dnmail.i18n import _, ngettext
from dnmail.services.provisioning.items import ItemResult, ProvisionSummary
from dnmail.services.runtime import Runtime


class WorkerError(DnmailError):
    """An error raised in a worker process, carried back with its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _worker(
    config: Config, actor: str, handout_dir: Path | None, tag: str, queue: Any,
    handout_format: str = "xlsx",
) -> None:
    from dnmail.services.provisioning.run import Provisioner

    rt = Runtime(config, actor=actor)
    try:
        p = Provisioner(
            rt, handout_dir=handout_dir, progress=lambda k: queue.put(("progress", k)),
            handout_format=handout_format,
        )
        if p.handouts is not None:
            p.handouts.stamp += f"-{tag}"
        queue.put(("done", p.run()))
    except DnmailError as e:
        queue.put(("error", e.message, e.exit_code))
    except BaseException as e:  # a bug in a worker: report it, never hang the parent
        why = _("worker {tag} failed: {error}").format(tag=tag, error=f"{type(e).__name__}: {e}")
        queue.put(("error", why, 1))
    finally:
        rt.close()


@dataclass
class _Collector:
    """What the workers send back: progress, their summaries, their errors."""

    progress: Callable[[int], None] | None
    items: list[ItemResult] = field(default_factory=list)
    handouts: list[Path] = field(default_factory=list)
    handout_problems: list[str] = field(default_factory=list)
    errors: list[tuple[str, int]] = field(default_factory=list)
    finished: int = 0

    def take(self, msg: tuple) -> None:
        if msg[0] == "progress":
            if self.progress:
                self.progress(msg[1])
        elif msg[0] == "done":
            self.items.extend(msg[1].items)
            self.handouts.extend(msg[1].handouts)
            if msg[1].handout_problem:
                self.handout_problems.append(msg[1].handout_problem)
            self.finished += 1
        else:
            self.errors.append((msg[1], msg[2]))
            self.finished += 1

    def summary(self) -> ProvisionSummary:
        if self.errors:
            message, code = max(self.errors, key=lambda e: e[1])
            raise WorkerError(message, code)
        return ProvisionSummary(
            sorted(self.items, key=lambda i: i.request_id),
            sorted(self.handouts),
            handout_problem=self.handout_problems[0] if self.handout_problems else None,
        )


def provision_parallel(
    rt: Runtime,
    n: int,
    *,
    handout_dir: Path | None,
    progress: Callable[[int], None] | None,
    handout_format: str = "xlsx",
) -> ProvisionSummary:
    """`n` worker processes on the whole queue; their results merged."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    rt.close()  # never share a connection or a pool across fork
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(rt.config, rt.actor, handout_dir, f"w{i + 1}", queue, handout_format),
        )
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    got = _Collector(progress)
    while got.finished < n:
        try:
            got.take(queue.get(timeout=1.0))
        except queue_mod.Empty:  # check the workers are alive
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead and queue.empty():
                why = ngettext(
                    "{n} worker died (exit {code})", "{n} workers died (exit {code})", len(dead)
                ).format(n=len(dead), code=dead[0].exitcode)
                got.errors.append((why, 1))
                got.finished += len(dead)
                for p in dead:
                    procs.remove(p)
    for proc in procs:
        proc.join()
    return got.summary()
