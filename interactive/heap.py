"""The cyclic garbage collector's settings for processes that serve until stopped or work
through many rows: what they built at startup is frozen, and young objects are collected
less often."""

from __future__ import annotations

import gc

#: See ``freeze_startup_heap``.
GC_YOUNG_THRESHOLD = 50_000


def freeze_startup_heap() -> None:
    """Move everything a process built at startup (its modules, the app, SQLAlchemy's
    mappers and compiled statements) out of the cyclic garbage collector's reach: it lives
    as long as the process, and a full collection would otherwise walk all of it, again
    and again, while a job or a batch allocates its rows (a fifth of a fan-out chunk's
    CPU). Objects made from then on are collected as usual; a process forked later (an
    RQ job) inherits the frozen heap without touching its pages. Call it once the app is
    built, in processes that serve until stopped or read rows in bulk (the import's
    reading child).

    A young-generation collection then waits for ``GC_YOUNG_THRESHOLD`` more container
    objects allocated than freed, instead of 700. These processes allocate thousands of
    short-lived objects a second (a PDU, a row, a part each), freed at once by reference
    counting, while what is in flight stays alive for a moment (a window of parts, a
    batch of receipts): at 700 the collector ran thousands of times a minute, walking
    those again each time, 12 % of the gateway's CPU and 19 % of the simulator's in a
    campaign send (0.4 % and 7 % at 50,000). Garbage in cycles still counts towards the
    threshold, so it is bounded and collected as before."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
