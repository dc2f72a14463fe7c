"""The event log's retention: consumed, old sealed segments go; the others stay."""

from __future__ import annotations

import time
from pathlib import Path

from streamrec.data.event_log import EventLog
from tests.event_rows import names, row


def test_remove_consumed_keeps_unconsumed_active_newest_and_recent(tmp_path: Path) -> None:
    now = [time.time()]
    log = EventLog(tmp_path, segment_bytes=1, clock=lambda: now[0])
    log.open()
    for i in range(1, 5):
        assert log.append(row(i)) == i  # each is sealed at once
    sealed = {s.path.name: s.size for s in log.segments() if s.sealed}
    assert len(sealed) == 4
    consumed = dict(sealed)
    del consumed["events-0000000002.csv"]
    consumed["events-0000000003.csv"] += 1  # another size: not what the model read
    log.set_consumed(consumed)
    assert log.remove_consumed(3600) == []  # all recent
    now[0] += 7200
    assert log.remove_consumed(3600) == ["events-0000000001.csv"]  # 4 is the newest
    log.close()
    assert names(tmp_path) == [
        "events-0000000002.csv",
        "events-0000000003.csv",
        "events-0000000004.csv",
    ]
    with EventLog(tmp_path) as again:  # the seq goes on after the newest kept
        assert again.append(row(9)) == 5  # 5 was never sealed (empty, removed at close)
