"""The pipeline's small parts, without a database: the update slot, the resizable queue, the
row converter and the byte-bounded reader."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from dmt.config import Endpoint
from dmt.dialects.sqlite import SQLiteDialect
from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk
from dmt.model.schema import Column, ColumnType, Table
from dmt.paths.rows import make_row_converter, read_chunk, row_bytes
from dmt.pipeline.batchqueue import RETIRE, STOP, BatchQueue
from dmt.pipeline.updates import UpdateSlot
from dmt.settings import Update

JOB = TableJob(Table("t", []), Table("t", []), ("id",))


def test_update_slot_latest_wins_and_never_blocks() -> None:
    slot = UpdateSlot()
    assert slot.take() is None
    for n in range(1, 1001):
        slot.put(Update(writers=n % 16 + 1))
    assert slot.replaced == 999
    latest = slot.take()
    assert latest is not None and latest.writers == 1000 % 16 + 1
    assert slot.take() is None


def test_queue_blocks_at_capacity_and_capacity_can_grow() -> None:
    q = BatchQueue(2)
    q.put("a")
    q.put("b")
    done = threading.Event()

    def producer() -> None:
        q.put("c")
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not done.wait(0.3)  # full: the third put waits
    q.set_capacity(3)
    assert done.wait(2)
    t.join()
    assert [q.get()[0] for _ in range(3)] == ["a", "b", "c"]


def test_queue_close_and_interrupt() -> None:
    q = BatchQueue(4)
    stop = threading.Event()
    assert q.get(interrupt=lambda: True)[0] is RETIRE
    q.put("x")
    q.close()
    assert q.get()[0] == "x"
    assert q.get()[0] is STOP
    q2 = BatchQueue(1)
    q2.put("full")
    stop.set()
    t0 = time.monotonic()
    q2.put("blocked", abort=stop)  # an aborted run never hangs on a full queue
    assert time.monotonic() - t0 < 1


def test_row_converter_touches_only_converted_columns() -> None:
    assert make_row_converter([None, None]) is None
    conv = make_row_converter([None, lambda v: v * 2])
    assert conv is not None
    assert conv([(1, 2), ("a", None)]) == [(1, 4), ("a", None)]


def test_reader_bounds_batches_in_rows_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "wide.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, body TEXT)")
        c.executemany(
            "INSERT INTO w VALUES (?, ?)",
            [(i, "x" * (200_000 if i % 10 == 0 else 100)) for i in range(1, 2001)],
        )
    d = SQLiteDialect(Endpoint("sqlite", path=str(path)), "source")
    conn = d.connect()
    table = Table(
        "w", [Column("id", ColumnType("int64")), Column("body", ColumnType("text"))], ("id",)
    )
    budget = 1_000_000
    batches = list(
        read_chunk(d, conn, table, ("id",), Chunk("w", 0, None, None), 500, budget, lambda: False)
    )
    conn.close()
    assert sum(len(b[0]) for b in batches) == 2000
    assert all(len(rows) <= 500 for rows, _, _ in batches)
    widest = max(row_bytes(r) for rows, _, _ in batches for r in rows)
    for rows, _, _ in batches:
        real = sum(row_bytes(r) for r in rows)
        # wide rows seen once keep every later fetch small: the budget holds within one row
        assert real <= budget + widest, (len(rows), real)
    # narrow rows fill batches up to the row limit
    conn = d.connect()
    narrow = list(
        read_chunk(d, conn, table, ("id",), Chunk("w", 0, None, (9,)), 4, budget, lambda: False)
    )
    conn.close()
    assert [len(rows) for rows, _, _ in narrow] == [4, 4, 1]


def test_a_put_waiting_for_room_returns_when_the_pipeline_stops() -> None:
    from dmt.pipeline.stop import StopFlag

    q = BatchQueue(1)
    q.put("full")
    cancel = threading.Event()
    stop = StopFlag(cancel)
    stop.on_set(q.abort)
    waited: list[float] = []
    t = threading.Thread(target=lambda: waited.append(q.put("blocked", stop)))
    t.start()
    time.sleep(0.1)
    assert t.is_alive() and not stop.is_set()
    stop.set()  # the pipeline's first error: no polling, the condition is notified
    t.join(1)
    assert not t.is_alive() and len(q) == 1
    assert not cancel.is_set()  # the user's event is never set by the pipeline
    cancel.set()
    assert StopFlag(cancel).is_set()


def test_queue_holds_arrow_batches_within_its_byte_bound() -> None:
    # Arrow batches of very different widths, counted as the columnar path counts them: the
    # queue takes one more only while it fits the byte bound, however many slots are free,
    # and a batch larger than the bound still passes, alone
    import pyarrow as pa

    from dmt.paths.columnar_support import arrow_bytes

    def batch(rows: int, width: int) -> Batch:
        table = pa.table({"id": pa.array(range(rows)), "v": pa.array(["x" * width] * rows)})
        return Batch(
            JOB, Chunk("t", 0, None, None), 0, table, arrow_bytes(table), nrows=rows, by_path=True
        )

    sizes = [(1_000, 10), (50, 20_000), (10_000, 100), (2_000, 1_000), (300, 5_000)] * 4
    batches = [batch(n, w) for n, w in sizes] + [batch(100, 60_000)]  # the last: past the bound
    bound = 6 * 2**20
    assert batches[-1].nbytes > bound > max(b.nbytes for b in batches[:-1])
    seen: list[tuple[int, int]] = []  # (depth, bytes) at every change, under the queue's lock
    q = BatchQueue(64, on_change=lambda depth, nbytes: seen.append((depth, nbytes)),
                   max_bytes=bound)  # fmt: skip

    def producer() -> None:
        for b in batches:
            q.put(b)
        q.close()

    t = threading.Thread(target=producer)
    t.start()
    got = []
    while (item := q.get()[0]) is not STOP:
        got.append(item)
        time.sleep(0.002)  # a writer slower than the reader: the queue stays full
    t.join()
    assert got == batches
    # within the bound, but for the oversized batch, which waited for an empty queue
    assert all(n <= bound or (d, n) == (1, batches[-1].nbytes) for d, n in seen)
    assert (1, batches[-1].nbytes) in seen
    assert max(d for d, _ in seen) >= 2 and q.nbytes == 0
    assert q.peak_bytes == max(n for _, n in seen)
    assert sum(b.nbytes for b in batches[:-1]) > 2 * bound  # they could not all fit at once
