"""Parse a whole import file into batches, in a child process when the file is large.

``batches(job, table, in_process=…)`` yields one ``importer_parse.Batch`` per chunk. For a
large file the reading and parsing run in a child process, a chunk or two ahead, so that
they overlap with the database writes of the previous chunk (on two cores: the parsing on
one, the database on the other); a small file is parsed in-process, as a child costs about
a second to start.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from interactive.contacts import readers
from interactive.contacts.importer_parse import Batch, Plan, RowParser
from interactive.heap import freeze_startup_heap

log = logging.getLogger(__name__)

# Batches parsed ahead of the writer: bounds the memory of the pipeline.
_AHEAD = 2
# The child's first batch is at most this many rows: the database waits for it (and for
# the child to start, about a second), so a small one starts the writes sooner.
_FIRST = 10_000


@dataclass
class ParseJob:
    """Everything needed to parse a file, in a child process too (it is pickled)."""

    path: Path
    filename: str
    plan: Plan
    import_id: int
    erased: set[str]
    secret: str
    consent_at: datetime
    chunk_size: int
    postgresql: bool
    superseded: dict[int, int] = field(default_factory=dict)

    def parser(self) -> RowParser:
        return RowParser(
            self.plan, self.import_id, self.erased, self.secret, self.consent_at, self.superseded
        )


def batches(
    job: ParseJob, table: readers.Table, *, in_process: bool
) -> Generator[Batch, None, None]:
    """The batches of the file, in order. ``table`` is the file already opened by the
    caller: read here when ``in_process``, else the child process opens the file again.
    Raises what reading raises (``readers.ReadError``…). Closing the iterator early stops
    the child."""
    if in_process:
        parser = job.parser()
        for rows in _chunks(table.rows(), job.chunk_size):
            batch = parser.batch(rows, job.postgresql)
            del rows
            yield batch
        return
    yield from _from_child(job)


def _chunks(
    rows: Iterator[readers.Row], size: int, first: int | None = None
) -> Iterator[list[readers.Row]]:
    batch = list(islice(rows, first or size))
    while batch:
        yield batch
        batch = list(islice(rows, size))


def _from_child(job: ParseJob) -> Generator[Batch, None, None]:
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    results: Any = context.Queue(maxsize=_AHEAD)
    child = context.Process(target=_produce, args=(job, results), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, value = results.get(timeout=1)
            except queue.Empty:
                if not child.is_alive():
                    message = f"the import's reader stopped (exit code {child.exitcode})"
                    raise RuntimeError(message) from None
                continue
            if kind == "batch":
                yield value
            elif kind == "done":
                break
            elif kind == "read_error":
                code, params = value
                raise readers.ReadError(code, **params)
            else:
                raise RuntimeError(value)
        child.join()
    finally:
        if child.is_alive():
            child.terminate()
            child.join()
        results.close()


def _produce(job: ParseJob, results: Any) -> None:
    """The child process: read and parse the file, put one message per batch."""
    try:
        parser = job.parser()
        # The modules and the parser's caches live as long as the child: out of the
        # collector's way, so that its passes over the rows do not walk them each time;
        # and its young collections are fewer (the rows of a chunk stay alive meanwhile).
        freeze_startup_heap()
        with readers.open_table(job.path, job.filename) as table:
            for rows in _chunks(table.rows(), job.chunk_size, min(job.chunk_size, _FIRST)):
                results.put(("batch", parser.batch(rows, job.postgresql)))
                del rows  # before the next chunk is read, not after
        results.put(("done", None))
    except readers.ReadError as exc:
        results.put(("read_error", (exc.code, exc.params)))
    except Exception as exc:  # reported to the parent, which fails the import with it
        log.exception("import reader failed import=%s", job.import_id)
        results.put(("error", f"{type(exc).__name__}: {exc}"))
