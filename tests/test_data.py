from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamrec.data import DataError, build_interactions, read_sessions
from tests.conftest import write_csv

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
    ]
    sessions, report = read_sessions(write_csv(tmp_path / "s.csv", lines))
    assert report.dropped == {
        "wrong_field_count": 2,
        "empty_field": 1,
        "bad_user_id": 2,
        "bad_time": 1,
        "stop_before_start": 1,
        "duplicate": 1,
    }
    assert report.rows_read == 10 and report.rows_kept == 2
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
