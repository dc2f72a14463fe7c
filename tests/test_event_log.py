"""The event log: group commit, rotation, crash repair (a real SIGKILL), the bound."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streamrec.data import event_log
from streamrec.data.event_log import EventLog, EventLogFull
from tests.conftest import ROOT
from tests.event_rows import names, row

LINE = re.compile(rb"\d+,\d+,s\d+,\d+,\d*\n")

# Appends numbered lines (a few per append) until killed; prints "<seq> <last line number>"
# after each acknowledged append.
APPENDER = """
import sys
from pathlib import Path
from streamrec.data.event_log import EventLog
log = EventLog(Path(sys.argv[1]), segment_bytes=2000)
log.open()
n = 0
while True:
    lines = b"".join(b"%d,%d,s%d,%d,%d\\n" % (i, i, i % 7, i, i + 1) for i in range(n, n + 3))
    seq = log.append(lines)
    n += 3
    print(seq, n - 1, flush=True)
"""


def sealed_lines(folder: Path) -> dict[bytes, int]:
    """Every line of the sealed segments -> the seq of its segment; checks each is whole."""
    found = {}
    for path in sorted(folder.glob(event_log.SEGMENT_GLOB)):
        data = path.read_bytes()
        assert data.endswith(b"\n"), path
        for line in data.splitlines(keepends=True):
            assert LINE.fullmatch(line), (path, line)
            found[line] = event_log.segment_seq(path)
    return found


def ack(line: bytes) -> tuple[int, int]:
    """The appender's "<seq> <last line number>"."""
    seq, last = line.split()
    return int(seq), int(last)


def test_names_and_consumed_segments(tmp_path: Path) -> None:
    assert event_log.segment_seq("a/events-0000000012.csv") == 12
    assert event_log.segment_seq(Path("events-0000000012.csv.open")) == 12
    assert event_log.segment_seq("events-12.csv") is None
    assert event_log.segment_seq("sessions.csv") is None
    (tmp_path / "events-0000000003.csv").write_bytes(row(1) + row(2))
    (tmp_path / "base.csv").write_bytes(row(3))
    files = sorted(tmp_path.iterdir())
    assert event_log.consumed_segments(files) == {"events-0000000003.csv": 2 * len(row(1))}
    other = tmp_path / "other"
    other.mkdir()
    (other / "events-0000000003.csv").write_bytes(row(4))
    with pytest.raises(ValueError, match="two event segments named events-0000000003.csv"):
        event_log.consumed_segments([*files, other / "events-0000000003.csv"])


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            {"data": {"event_segments": {"events-0000000001.csv": 40}}},
            {"events-0000000001.csv": 40},
        ),
        ({"data": {"path": "x.csv"}}, {}),
        ({}, {}),
        ({"data": {"event_segments": ["events-0000000001.csv"]}}, {}),
        ({"data": {"event_segments": {"events-0000000001.csv": "40"}}}, {}),
        ({"data": {"event_segments": {"events-0000000001.csv": True}}}, {}),
        ({"data": {"event_segments": {"base.csv": 40}}}, {}),
        ({"data": "x"}, {}),
    ],
)
def test_consumed_of_reads_the_metadata_or_nothing(metadata: dict, expected: dict) -> None:
    assert event_log.consumed_of(metadata) == expected


def test_append_seal_and_reopen(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    log = EventLog(folder)
    assert log.open() == []
    assert names(folder) == ["events-0000000001.csv.open"]
    assert log.append(row(1) + row(2, 3)) == 1
    assert log.append(row(3)) == 1
    stats = log.stats()
    assert stats["appends"] == 2 and stats["fsyncs"] == 2 and stats["active_seq"] == 1
    assert stats["appended_bytes"] == stats["bytes"] == stats["unconsumed_bytes"]
    log.close()
    assert names(folder) == ["events-0000000001.csv"]
    assert (folder / "events-0000000001.csv").read_bytes() == row(1) + row(2, 3) + row(3)
    with pytest.raises(RuntimeError, match="is not open"):
        log.append(row(4))
    with EventLog(folder) as again:
        assert [s.seq for s in again.segments()] == [1, 2]
        assert again.segments()[0].sealed and not again.segments()[1].sealed
    assert names(folder) == ["events-0000000001.csv"]  # the empty segment 2 is removed


@pytest.mark.parametrize("bad", [b"", b"1,1,a,1,2", b"1,1,a,1,2\n2,2"])
def test_only_whole_lines_are_appended(tmp_path: Path, bad: bytes) -> None:
    with EventLog(tmp_path) as log:
        with pytest.raises(ValueError, match="whole lines"):
            log.append(bad)
        assert log.stats()["bytes"] == 0


def test_concurrent_appends_share_fsyncs_and_all_land(tmp_path: Path) -> None:
    log = EventLog(tmp_path, segment_bytes=20_000)
    log.open()
    results: dict[bytes, int] = {}
    lock = threading.Lock()

    def worker(t: int) -> None:
        for k in range(150):
            line = row(t * 1000 + k)
            seq = log.append(line)
            with lock:
                results[line] = seq

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = log.stats()
    log.close()
    assert stats["appends"] == 8 * 150 and len(results) == 8 * 150
    assert stats["fsyncs"] < stats["appends"]  # group commit
    assert sealed_lines(tmp_path) == results  # every line, in the segment append named
    assert len({*results.values()}) > 1  # it rotated by size


def test_rotation_by_size_never_splits_a_batch(tmp_path: Path) -> None:
    with EventLog(tmp_path, segment_bytes=50) as log:
        big = b"".join(row(i) for i in range(10))
        assert log.append(big) == 1  # over the size: sealed after the write, whole
        assert log.append(row(20)) == 2
    sizes = {s.path.name: s.size for s in EventLog(tmp_path).open()}
    assert sizes == {"events-0000000001.csv": len(big), "events-0000000002.csv": len(row(20))}


def test_rotation_by_age_counts_from_the_first_line(tmp_path: Path) -> None:
    now = [1000.0]
    log = EventLog(tmp_path, segment_seconds=60, clock=lambda: now[0])
    log.open()
    now[0] += 3600  # an empty segment does not age
    assert log.append(row(1)) == 1
    now[0] += 59
    assert log.append(row(2)) == 1 and log.rotate() is None
    now[0] += 1
    assert log.append(row(3)) == 2  # segment 1 was sealed first
    now[0] += 60
    assert log.rotate() == 2  # an idle log's overdue segment
    assert log.rotate(force=True) is None  # nothing in segment 3
    log.close()
    assert names(tmp_path) == ["events-0000000001.csv", "events-0000000002.csv"]


def test_open_repairs_torn_segments_and_never_repeats_a_seq(tmp_path: Path) -> None:
    (tmp_path / "events-0000000004.csv").write_bytes(row(1))
    (tmp_path / "events-0000000005.csv.open").write_bytes(row(2) + row(3) + b"4,4,s")
    (tmp_path / "events-0000000006.csv.open").write_bytes(b"5,5,s5,5")  # no whole line
    (tmp_path / "base.csv").write_bytes(row(9))
    log = EventLog(tmp_path)
    sealed = log.open()
    assert [(s.seq, s.size) for s in sealed] == [(4, len(row(1))), (5, len(row(2) + row(3)))]
    assert (tmp_path / "events-0000000005.csv").read_bytes() == row(2) + row(3)
    assert names(tmp_path) == [
        "base.csv",
        "events-0000000004.csv",
        "events-0000000005.csv",
        "events-0000000007.csv.open",
    ]
    assert log.append(row(10)) == 7
    log.close()


def test_sigkilled_writer_loses_no_acknowledged_line(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    child = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(folder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    acked: list[tuple[int, int]] = []
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 400 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(ack(line))
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, err
    acked += [ack(line) for line in rest.splitlines()]
    assert len(acked) >= 400, err
    assert list(folder.glob("*.open")), "the killed writer had an open segment"
    highest = max(event_log.segment_seq(p) or 0 for p in folder.iterdir())

    log = EventLog(folder, segment_bytes=2000)
    sealed = log.open()
    found = sealed_lines(folder)  # whole lines only: any torn tail is gone
    for seq, last in acked:
        for i in range(last - 2, last + 1):
            assert found[b"%d,%d,s%d,%d,%d\n" % (i, i, i % 7, i, i + 1)] == seq
    assert len({seq for seq, _ in acked}) > 1  # it rotated on the way
    assert [s.seq for s in sealed] == sorted({*found.values()})
    assert names(folder)[-1] == event_log.segment_name(highest + 1, sealed=False)
    assert log.append(row(1)) == highest + 1
    log.close()


def test_a_failed_write_is_cut_back_and_not_acknowledged(tmp_path: Path) -> None:
    """The file size limit makes a real write stop short (EFBIG), as a full disk would."""
    script = """
import resource, signal, sys
from pathlib import Path
from streamrec.data.event_log import EventLog
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1001, 1001))
log = EventLog(Path(sys.argv[1]), segment_bytes=10_000)
log.open()
line = b"1,1,s1,1,2\\n" * 30  # 330 bytes: the fourth write stops short
for n in range(4):
    try:
        log.append(line)
    except OSError as exc:
        print("failed", n, exc.errno, flush=True)
log.append(b"2,2,s2,2,3\\n")
print("ok", flush=True)
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [b"failed", b"3", b"27", b"ok"]  # EFBIG
    data = (tmp_path / "events-0000000001.csv.open").read_bytes()
    assert data == b"1,1,s1,1,2\n" * 90 + b"2,2,s2,2,3\n"


def test_max_bytes_refuses_and_writes_nothing(tmp_path: Path) -> None:
    bound = 3 * len(row(1))
    with EventLog(tmp_path, segment_bytes=bound, max_bytes=bound) as log:
        log.append(row(1))
        log.append(row(2) + row(3))  # sealed: the bound is reached
        with pytest.raises(EventLogFull, match=f"would exceed max_bytes {bound}"):
            log.append(row(4))
        assert log.stats()["bytes"] == bound and log.stats()["appends"] == 2
        consumed = {s.path.name: s.size for s in log.segments() if s.sealed}
        log.set_consumed(consumed)
        assert log.stats()["unconsumed_bytes"] == 0
        assert log.append(row(4)) == 2


def test_a_failed_rotation_refuses_appends_until_reopened(tmp_path: Path) -> None:
    log = EventLog(tmp_path, segment_bytes=2 * len(row(1)))
    log.open()
    assert log.append(row(1)) == 1
    (tmp_path / "events-0000000001.csv.open").unlink()  # the seal's rename will fail
    assert log.append(row(2)) == 1  # acknowledged: fsync'd before the rotation failed
    assert log.stats()["broken"] is not None
    with pytest.raises(OSError, match="is broken .cannot seal or start a segment"):
        log.append(row(3))
    assert [s.seq for s in log.open()] == [] and log.append(row(3)) == 2
    log.close()
    assert names(tmp_path) == ["events-0000000002.csv"]
