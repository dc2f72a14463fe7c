"""Watch-event batches are validated exactly as the CSV loader validates a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.data import events
from streamrec.data.events import OPEN, EventsError
from streamrec.data.sessions import read_sessions
from streamrec.serving.overlay import Overlay

ROWS = [
    "user_id,stream_id,streamer_name,time_start,time_stop",
    "1,2,zeon,3,5",
    "1,2,zeon,3,5",  # duplicate
    "2,3,alptv,4,",  # open
    "3,x,c,5,1",  # stop_before_start
    "\xff,1,b,1,2",  # bad_encoding
    '4,5,"d,e",1,2\r',
    "5,5,e,1",  # wrong_field_count
    "-6,5,e,1,2",  # bad_user_id
    "7,5,e,a,2",  # bad_time
    "8,5,,1,2",  # empty_field
]


def body(lines: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode("utf-8", errors="surrogateescape")


def test_batch_rows_get_the_loaders_reasons(tmp_path: Path) -> None:
    raw = body(ROWS).replace("\xff".encode(), b"\xff")
    batch = events.from_csv(raw)
    assert batch.rows == 10 and batch.accepted == 3 and batch.open == 1
    assert batch.user_id.tolist() == [1, 2, 4]
    assert batch.streamer_name == ["zeon", "alptv", "d,e"]
    assert batch.time_stop.tolist() == [5, OPEN, 2]
    # the same text as a training file: the same reasons, open sessions counted apart
    path = tmp_path / "events.csv"
    path.write_bytes(raw)
    _, report = read_sessions(path)
    training = {reason: n for reason, n in report.dropped.items() if n}
    assert training.pop("open_session") == 1
    assert batch.dropped == training


def test_logged_lines_are_training_data(tmp_path: Path) -> None:
    batch = events.from_csv(b'1,2,zeon,3,5\n4,5,"d,e",1,2\r\n2,3,alptv,4,\n')
    path = tmp_path / "log.csv"
    path.write_bytes(events.log_lines(batch))
    assert path.read_bytes() == b'1,2,zeon,3,5\n4,5,"d,e",1,2\n2,3,alptv,4,\n'
    sessions, report = read_sessions(path)
    assert report.dropped["open_session"] == 1
    assert sorted(sessions["streamer_name"].astype(str)) == ["d,e", "zeon"]


def test_json_rows_are_rendered_and_checked_like_csv() -> None:
    payload = (
        b'{"sessions": [{"user_id": 1, "stream_id": 2, "streamer_name": "a b,\\"c", '
        b'"time_start": 3, "time_stop": null}, [true, 1, "x", 1, 2], [7, 1, "y", 1.5, 2], '
        b'{"user_id": 8, "stream_id": 1, "streamer_name": "line\\nbreak", "time_start": 1, '
        b'"time_stop": 2}, [9, 1, "z", 1, 2]]}'
    )
    batch = events.from_json(payload, max_rows=10)
    assert batch.rows == 5 and batch.user_id.tolist() == [1, 9]
    assert batch.streamer_name == ['a b,"c', "z"] and batch.open == 1
    assert batch.dropped == {"bad_quote": 1, "bad_user_id": 1, "bad_time": 1}
    assert batch.lines[0] == '1,2,"a b,""c",3,'


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1,2]", "sessions"),
        (b'{"sessions": []}', "no rows"),
        (b"{nope", "not valid JSON"),
        (b'{"sessions": [[1,2,"a",1,2],[1,2,"a",1,2],[1,2,"a",1,2]]}', "at most 2"),
    ],
)
def test_unreadable_json_bodies_are_named(payload: bytes, message: str) -> None:
    with pytest.raises(EventsError, match=message):
        events.from_json(payload, max_rows=2)


def test_an_empty_csv_body_is_an_error() -> None:
    with pytest.raises(EventsError, match="no rows"):
        events.from_csv(b"\n\n")


def test_subset_keeps_rows_aligned() -> None:
    batch = events.from_csv(b"1,2,a,3,5\n2,3,b,4,\n3,4,c,1,2\n")
    part = batch.subset(np.array([2, 0]))
    assert part.user_id.tolist() == [3, 1] and part.streamer_name == ["c", "a"]
    assert events.log_lines(part) == b"3,4,c,1,2\n1,2,a,3,5\n"


def _as_tuple(batch: events.EventBatch) -> tuple:
    return (
        batch.user_id.tolist(),
        batch.stream_key.tolist(),
        batch.streamer_name,
        batch.time_start.tolist(),
        batch.time_stop.tolist(),
        batch.lines,
        batch.rows,
        batch.dropped,
    )


@pytest.mark.parametrize("seed", range(20))
def test_plain_batches_read_in_python_equal_the_loaders_plan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["zeon", "alp_tv", "Ünal", "x", "日本"]
    lines = []
    for _ in range(int(rng.integers(1, 60))):
        user = str(int(rng.integers(0, 10 ** int(rng.integers(1, 19)))))
        start = int(rng.integers(0, 10**6))
        stop = "" if rng.random() < 0.2 else str(start + int(rng.integers(-2, 5)))
        if rng.random() < 0.1 and len(user) < 18:
            user = "0" + user  # leading zeros
        lines.append(f"{user},{int(rng.integers(0, 99))},{rng.choice(names)},{start},{stop}")
    lines += lines[: int(rng.integers(0, 4))]  # exact repeats
    text = "".join(f"{line}\n" for line in lines).encode()
    if seed % 3 == 0:
        text = b"user_id,stream_id,streamer_name,time_start,time_stop\n\n" + text
    header = events._has_header(text)
    fast = events._plain_rows(text, header)
    assert fast is not None
    assert _as_tuple(fast) == _as_tuple(events._from_plan(text, header))


@pytest.mark.parametrize(
    "line",
    [
        "1,2,a b,3,4",
        '1,2,"a",3,4',
        "1,-2,a,3,4",
        "1,x,a,3,4",
        "1,2,a,3,4,5",
        "1,2,,3,4",
        "1234567890123456789,2,a,3,4",
        "1,2,a,1234567890,4",
        "1,2,a,3,4\r",
        "\ufeff1,2,a,3,4",
    ],
)
def test_batches_with_any_other_row_go_through_the_plan(line: str) -> None:
    text = f"5,6,zeon,7,8\n{line}\n".encode()
    assert events._plain_rows(text, False) is None
    assert _as_tuple(events.from_csv(text)) == _as_tuple(events._from_plan(text, False))


def test_still_open_sessions_are_the_open_rows_no_row_closes(tmp_path: Path) -> None:
    files = [tmp_path / f"events-{n}.csv" for n in range(5)]
    files[0].write_text(
        "1,2,zeon,3,\n"  # closed in the next file
        "1,3,zeon,3,\n"  # still open (another stream)
        '2,4,"a,b",5,\n'  # still open, a careful row
        "3,5,c,6,8\n"  # closes the open row after it
        "3,5,c,6,\n"
        "4,6,d,7,\n"  # closed by a row dropped as stop_before_start: still open
        "4,6,d,7,1\n"
        "x,6,d,7,\n"  # bad_user_id: no session
        "6,x1,f,2,\n"  # a stream id that is no number, closed by a quoted row later
        "7,8,g,1,\n"  # closed by a row of the same key with a bad field: still open
        "7,8,g,1,x\n"
        "8,9,h,4,\n"  # closed only by a row of another viewer, stream or start: still open
        "9,9,h,4,6\n8,10,h,4,6\n8,9,h,5,6\n8,9,i,4,6\n"
    )
    files[1].write_text(
        "user_id,stream_id,streamer_name,time_start,time_stop\n"  # a header
        "1,2,zeon,3,9\n"
        '"6", "x1" ,"f",2,4\n'  # careful, but the same session as the plain open row
        "10,11,k,2,5\n"  # closes an open row of a later file
    )
    files[2].write_text("\n\n")  # blank lines only
    files[3].write_text("1,3,zeon,3,\n5,7,e,9,\n5,7,e,9,\n10,11,k,2,\n")  # repeats count once
    files[4].write_text('2,4,"a,b",5,\n')
    batch, where = events.still_open(files)
    assert batch.streamer_name == ["zeon", "a,b", "d", "g", "h", "e"]
    assert batch.user_id.tolist() == [1, 2, 4, 7, 8, 5]
    assert batch.stream_key.tolist() == [3, 4, 6, 8, 9, 7]
    assert batch.time_start.tolist() == [3, 5, 7, 1, 4, 9]
    assert batch.time_stop.tolist() == [OPEN] * 6 and batch.open == 6
    assert where.tolist() == [0, 0, 0, 0, 0, 3] and batch.dropped == {}
    assert batch.lines == [""] * 6  # never logged again: they are in the log
    empty, nowhere = events.still_open(files[1:3])
    assert empty.accepted == 0 and len(nowhere) == 0
    assert events.still_open([])[0].accepted == 0
    with pytest.raises(EventsError, match="not found|No such file"):
        events.still_open([tmp_path / "events-9.csv"])


def test_still_open_sessions_are_kept_in_the_overlay_as_open() -> None:
    batch = events.open_batch(np.array([1]), np.array([2]), ["zeon"], np.array([3]))
    overlay = Overlay()
    assert overlay.add(batch, segment=4).added == 1 and overlay.open_sessions == 1
    assert overlay.add(events.from_csv(b"1,2,zeon,3,7\n"), segment=5).closed == 1
