from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import streamrec.data.sessions
from streamrec.data.sessions import DataError, build_interactions, fingerprint, read_sessions
from tests.conftest import ROOT, write_csv

TWITCH_LINES = [
    "1,33842865744,mithrain,154,156",
    "1,33846768288,alptv,166,169",
    "1,33886469056,mithrain,587,588",
    "2,33890145056,jtgtv,589,591",
    "2,33903958784,berkriptepe,1147,1152",
]


def test_read_sessions_twitch_format_without_header(tmp_path: Path) -> None:
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", TWITCH_LINES))
    assert not report.header_skipped
    assert report.rows_read == 5 and report.rows_kept == 5
    assert sessions["user_id"].dtype == np.int64
    assert list(sessions["streamer_name"].cat.categories) == sorted(
        ["mithrain", "alptv", "jtgtv", "berkriptepe"]
    )


def test_read_sessions_header_is_skipped_not_counted(tmp_path: Path) -> None:
    lines = ["user_id,stream_id,streamer_name,time_start,time_stop", *TWITCH_LINES]
    _, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert report.header_skipped
    assert report.rows_read == 5 and report.rows_dropped == 0


def test_read_sessions_counts_each_drop_reason(tmp_path: Path) -> None:
    lines = [
        "1,10,good,1,2",
        "1,10,good,1,2",  # duplicate
        "2,11,good,5,4",  # stop_before_start
        "abc,12,good,1,2",  # bad_user_id
        "-3,12,good,1,2",  # bad_user_id (negative)
        "4,13,good,x,2",  # bad_time
        "5,14,,1,2",  # empty_field
        "6,15,good,1",  # wrong_field_count
        "7,15,good,1,2,9",  # wrong_field_count
        "",  # blank lines are not rows
        "8,16,other,3,3",
        "9,17,good,3,",  # open_session: still being watched (the event log's open rows)
        "10,17,good,x,",  # bad_time
    ]
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert report.dropped == {
        "row_too_long": 0,
        "bad_encoding": 0,
        "bad_quote": 0,
        "wrong_field_count": 2,
        "empty_field": 1,
        "bad_user_id": 2,
        "open_session": 1,
        "bad_time": 2,
        "stop_before_start": 1,
        "duplicate": 1,
    }
    assert report.rows_read == 12 and report.rows_kept == 2
    assert sorted(sessions["user_id"]) == [1, 8]
    assert "duplicate=1" in report.summary()


def test_read_sessions_finds_duplicates_across_blocks(tmp_path: Path) -> None:
    rows = [f"{u},{1000 + u % 7},s{u % 13},{u % 50},{u % 50 + 2}" for u in range(3000)]
    lines = rows + rows[::3] + ["5,abc,s5,5,7", "5,abc,s5,5,7", "5,abd,s5,5,7"]
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines), block_size=4096)
    assert report.dropped["duplicate"] == 1000 + 1
    assert len(sessions) == 3000 + 2
    assert sessions["streamer_name"].cat.categories.is_monotonic_increasing


def test_read_sessions_tolerates_bom_crlf_spaces_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(b'\xef\xbb\xbf1,10,a,1,2\r\n 2 ,11, b ,3,4\r\n3,12,"c",5,6\r\n')
    sessions, report = read_sessions(path)
    assert report.rows_kept == 3
    assert sorted(sessions["streamer_name"].astype(str)) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("", "empty"), ("\n\n", "empty"), ("x,y\nz\n", "no valid rows")],
)
def test_read_sessions_unusable_file_raises(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "s.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_sessions(path)


def test_build_interactions_users_are_rows_and_watch_time_sums(tmp_path: Path) -> None:
    lines = [
        "20,1,b,0,3",  # 3 steps
        "20,2,b,10,12",  # +2 steps of the same streamer
        "20,3,a,5,5",  # zero-length counts as one step
        "10,4,a,0,1",
    ]
    sessions, _ = read_sessions(write_csv(tmp_path / "s.csv", lines))
    interactions = build_interactions(sessions)
    assert interactions.user_ids.tolist() == [10, 20]
    assert interactions.streamer_names.tolist() == ["a", "b"]
    assert interactions.user_items.format == "csr"
    assert interactions.user_items.toarray().tolist() == [[1.0, 0.0], [1.0, 5.0]]


def test_build_interactions_same_matrix_whether_or_not_sorted_by_user(tmp_path: Path) -> None:
    # Sorted by user (as the Twitch files are) the rows are taken as they come; else factorized.
    lines = [
        f"{u},{i},s{(u * 7 + i) % 5},{i % 4},{i % 4 + u % 3}" for u in range(30) for i in range(6)
    ]
    sessions, _ = read_sessions(write_csv(tmp_path / "s.csv", lines))
    grouped = build_interactions(sessions)
    shuffled = build_interactions(sessions.sample(frac=1.0, random_state=0))
    assert grouped.user_ids.tolist() == shuffled.user_ids.tolist() == list(range(30))
    assert grouped.streamer_names.tolist() == shuffled.streamer_names.tolist()
    a, b = grouped.user_items, shuffled.user_items
    assert a.has_canonical_format and b.has_canonical_format
    assert (a.indptr == b.indptr).all() and (a.indices == b.indices).all()
    assert (a.data == b.data).all() and a.dtype == b.dtype == np.float32


def test_build_interactions_same_matrix_above_the_counting_sort_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the bound the rows are sorted in place, not by the two counting sorts.
    lines = [
        f"{u},{i},s{(u * 7 + i) % 5},{i % 4},{i % 4 + u % 3}" for u in range(30) for i in range(6)
    ]
    sessions, _ = read_sessions(write_csv(tmp_path / "s.csv", lines))
    counted = build_interactions(sessions).user_items
    monkeypatch.setattr(streamrec.data.sessions, "_COUNTING_SORT_MAX", 0)
    for frame in (sessions, sessions.sample(frac=1.0, random_state=0)):
        in_place = build_interactions(frame).user_items
        assert in_place.has_canonical_format
        assert (counted.indptr == in_place.indptr).all()
        assert (counted.indices == in_place.indices).all()
        assert (counted.data == in_place.data).all()


def test_build_interactions_of_a_subset_keeps_all_streamer_columns(tmp_path: Path) -> None:
    sessions, _ = read_sessions(write_csv(tmp_path / "s.csv", TWITCH_LINES))
    late = sessions[sessions["time_start"] > 580]
    interactions = build_interactions(late)
    assert interactions.shape == (2, 4)


def test_read_sessions_short_rows_beyond_the_size_estimate(tmp_path: Path) -> None:
    # ~12-byte rows: more rows than the file-size estimate (24 bytes a row) expects.
    lines = [f"{u},1,a,1,1" for u in range(6000)]
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines), block_size=8192)
    assert report.rows_kept == 6000
    assert sessions["user_id"].tolist() == list(range(6000))


def test_read_sessions_invalid_utf8_costs_only_its_row(tmp_path: Path) -> None:
    # Regression: one 0xFF byte aborted the whole read with "invalid UTF8 data".
    path = tmp_path / "s.csv"
    path.write_bytes(b"1,1,a,1,2\n2,1,\xff,1,2\n3,1,b\x00c,1,2\n4,1,c,1,2\n")
    sessions, report = read_sessions(path)
    assert report.rows_read == 4 and report.dropped["bad_encoding"] == 2
    assert sessions["user_id"].tolist() == [1, 4]


def test_read_sessions_row_too_long_costs_only_itself(tmp_path: Path) -> None:
    # Regression: a row over ~32 MiB aborted the read ("straddling object").
    path = tmp_path / "s.csv"
    path.write_bytes(b"1,1,a,1,2\n2,1," + b"x" * (33 << 20) + b",1,2\n3,1,b,1,2\n")
    sessions, report = read_sessions(path)
    assert report.rows_read == 3 and report.dropped["row_too_long"] == 1
    assert sessions["user_id"].tolist() == [1, 3]


def test_read_sessions_unbalanced_quote_costs_only_its_row(tmp_path: Path) -> None:
    # Regression: 7 rows with `"d,1,2` in row 4 read as "rows read 4, kept 3", uncounted.
    lines = [f"{u},1,s{u},1,2" for u in range(1, 8)]
    lines[3] = '4,1,"d,1,2'
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert report.rows_read == 7 and report.rows_kept == 6
    assert report.dropped["bad_quote"] == 1
    assert sessions["user_id"].tolist() == [1, 2, 3, 5, 6, 7]


def test_read_sessions_quoted_fields_follow_csv_rules(tmp_path: Path) -> None:
    lines = ['1,10,"a,b",1,2', '2,11,"say ""hi""",1,2', '3,"12" , "c" ,1,2', '4,1,"",1,2']
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert sessions["streamer_name"].astype(str).tolist() == ["a,b", 'say "hi"', "c"]
    assert report.dropped["empty_field"] == 1


def test_read_sessions_reads_gzip(tmp_path: Path) -> None:
    path = tmp_path / "s.csv.gz"
    path.write_bytes(gzip.compress("".join(f"{line}\n" for line in TWITCH_LINES).encode()))
    sessions, report = read_sessions(path)
    assert report.rows_kept == 5 and len(sessions) == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(b"1,1,a,1,2\n" * 1000)[:-40], "cannot read"),  # truncated gzip
        (b"\x28\xb5\x2f\xfd" + bytes(range(256)), "zstd-compressed"),
    ],
    ids=["truncated-gzip", "zstd"],
)
def test_read_sessions_unreadable_compressed_file_is_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_sessions(path)
    text = str(caught.value)
    assert "\n" not in text and text.isascii()


def test_read_sessions_parquet_matches_csv(tmp_path: Path) -> None:
    csv_sessions, _ = read_sessions(write_csv(tmp_path / "s.csv", TWITCH_LINES))
    rows = [line.split(",") for line in TWITCH_LINES]
    frame = pl.DataFrame(
        {
            "user_id": [int(r[0]) for r in rows] + [-1],
            "stream_id": [int(r[1]) for r in rows] + [1],
            "streamer_name": [r[2] for r in rows] + ["x"],
            "time_start": [int(r[3]) for r in rows] + [1],
            "time_stop": [int(r[4]) for r in rows] + [2],
        }
    )
    frame.write_parquet(tmp_path / "s.parquet")
    sessions, report = read_sessions(tmp_path / "s.parquet")
    assert report.rows_read == 6 and report.dropped["bad_user_id"] == 1
    assert sessions.equals(csv_sessions)


def test_read_sessions_parquet_without_a_column_raises(tmp_path: Path) -> None:
    pl.DataFrame({"user_id": [1], "streamer_name": ["a"]}).write_parquet(tmp_path / "s.parquet")
    with pytest.raises(DataError, match="no column stream_id, time_start, time_stop"):
        read_sessions(tmp_path / "s.parquet")


def test_read_sessions_several_inputs_and_folders(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.mkdir()
    write_csv(log / "0002.csv", ["3,1,c,1,2", "1,1,a,1,2"])  # the second repeats 0001's row
    write_csv(log / "0001.csv", ["user_id,stream_id,streamer_name,time_start,time_stop"])
    (log / "0001.csv").write_text((log / "0001.csv").read_text() + "1,1,a,1,2\n2,1,b,1,2\n")
    (log / "0003.csv").write_text("")  # a segment just opened
    (log / "notes.txt").write_text("not data")
    single = write_csv(tmp_path / "more.csv", ["4,1,d,1,2"])
    sessions, report = read_sessions([log, single])
    assert report.inputs == {
        str(log / "0001.csv"): 2,
        str(log / "0002.csv"): 2,
        str(log / "0003.csv"): 0,
        str(single): 1,
    }
    assert report.header_skipped and report.dropped["duplicate"] == 1
    assert sessions["user_id"].tolist() == [1, 2, 3, 4]
    assert "from 4 files" in report.summary()


def test_read_sessions_folder_without_data_files_raises(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no \\*.csv or \\*.parquet files"):
        read_sessions(tmp_path)


def test_fingerprint_same_files_same_value_and_changes_with_them(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", TWITCH_LINES)
    first = fingerprint(path)
    assert fingerprint(path) == first and fingerprint(tmp_path) == first  # the same input
    with path.open("a") as fh:
        fh.write("3,1,x,1,2\n")
    assert fingerprint(path) != first


def test_als_fit_trains_despite_an_invalid_utf8_row(tmp_path: Path) -> None:
    # Regression: `printf '1,1,a,1,2\n2,1,\xff,1,2\n'` made als_fit.py exit 2 "invalid UTF8 data".
    path = tmp_path / "f.csv"
    path.write_bytes(b"1,1,a,1,2\n2,1,\xff,1,2\n")
    result = subprocess.run(
        [sys.executable, "als_fit.py", "--data", str(path), "--model", str(tmp_path / "m.npz")]
        + ["--factors", "2", "--iterations", "1", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "bad_encoding=1" in result.stdout


def test_read_sessions_header_after_a_line_of_spaces(tmp_path: Path) -> None:
    lines = ["   ", "user_id,stream_id,streamer_name,time_start,time_stop", "1,1,a,1,2"]
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert not report.header_skipped  # the first line is the one of spaces: a bad row
    assert report.rows_read == 3 and report.dropped["wrong_field_count"] == 1
    assert report.dropped["bad_user_id"] == 1 and len(sessions) == 1


def test_read_sessions_plain_rows_get_the_same_checks_as_the_others(tmp_path: Path) -> None:
    lines = [
        "1234567890123456789,1,a,1,2",  # 19 digits: bad_user_id
        "+5,1,a,1,2",  # a sign: bad_user_id
        "5,1,a,1234567890,1234567891",  # 10 digits: bad_time
        "5,1,a,-1,2",  # bad_time
        "5,-7,a,1,2",  # any stream id is fine
        " 5 ,-7, a ,1,2",  # the same row with spaces: a duplicate
        "123456789012345678,1,ä,999999999,999999999",  # the largest values; any UTF-8 name
        "5,1,a,7,",  # open_session
        "5,1,a,1234567890,",  # 10 digits: bad_time
        "5,1,a,x,",  # bad_time
        "x,1,a,7,",  # bad_user_id
        "5,1,,7,",  # empty_field
    ]
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert report.dropped["bad_user_id"] == 3 and report.dropped["bad_time"] == 4
    assert report.dropped["open_session"] == 1 and report.dropped["empty_field"] == 1
    assert report.dropped["duplicate"] == 1
    assert sessions["user_id"].tolist() == [5, 123456789012345678]
    assert sessions["streamer_name"].astype(str).tolist() == ["a", "ä"]


def test_read_sessions_broken_parquet_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    path.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match="cannot read") as caught:
        read_sessions(path)
    assert "\n" not in str(caught.value) and str(caught.value).isascii()
