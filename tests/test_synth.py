"""Synthetic Twitch-like sessions: the file format, determinism, structure and the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from streamrec import data
from streamrec.data import synth
from streamrec.data.synth import PRESETS, Catalog, SessionChunk, SynthConfig, SynthStats

NAME = re.compile(r"[a-z0-9_]{3,25}")


@dataclass(frozen=True)
class Rows:
    """A sessions CSV parsed back, one array per column."""

    user_id: np.ndarray
    stream_id: np.ndarray
    name: np.ndarray
    start: np.ndarray
    stop: np.ndarray


def parse(path: Path) -> Rows:
    """Parse strictly: five fields, integer ids and times; fails the test on anything else."""
    lines = path.read_text().splitlines()
    fields = [line.split(",") for line in lines]
    assert all(len(f) == 5 for f in fields), "every line has exactly 5 fields"
    users, streams, names, starts, stops = zip(*fields, strict=True)
    for column in (users, streams, starts, stops):
        assert all(v.isdigit() for v in column), "ids and times are plain non-negative integers"
    return Rows(
        user_id=np.array(users, dtype=np.int64),
        stream_id=np.array(streams, dtype=np.int64),
        name=np.array(names),
        start=np.array(starts, dtype=np.int64),
        stop=np.array(stops, dtype=np.int64),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthStats]:
    path = tmp_path_factory.mktemp("synth") / "tiny.csv"
    return path, synth.write_sessions(PRESETS["tiny"], path)


@pytest.fixture(scope="module")
def small() -> tuple[Catalog, list[SessionChunk]]:
    config = PRESETS["small"]
    catalog = synth.build_catalog(config)
    return catalog, list(synth.iter_session_chunks(config, catalog))


def concat(chunks: list[SessionChunk], name: str) -> np.ndarray:
    return np.concatenate([getattr(c, name) for c in chunks])


def test_write_sessions_writes_twitch_format(tiny: tuple[Path, SynthStats]) -> None:
    path, _ = tiny
    rows = parse(path)
    steps = PRESETS["tiny"].steps
    assert rows.user_id.min() >= 1
    assert rows.stream_id.min() >= 1
    assert all(NAME.fullmatch(n) for n in rows.name)
    assert np.all(rows.start >= 0)
    assert np.all(rows.start <= rows.stop)
    assert np.all(rows.stop <= steps - 1)
    assert not path.read_bytes().startswith(b"user_id"), "no header"
    assert b'"' not in path.read_bytes(), "names are not quoted"


def test_write_sessions_keeps_sessions_inside_their_stream(
    tiny: tuple[Path, SynthStats],
) -> None:
    path, _ = tiny
    rows = parse(path)
    owners = {(sid, name) for sid, name in zip(rows.stream_id, rows.name, strict=True)}
    assert len(owners) == np.unique(rows.stream_id).size, "each stream_id belongs to one streamer"

    catalog = synth.build_catalog(PRESETS["tiny"])
    where = np.searchsorted(catalog.stream_id, rows.stream_id, sorter=np.argsort(catalog.stream_id))
    stream = np.argsort(catalog.stream_id)[where]
    assert np.array_equal(catalog.stream_id[stream], rows.stream_id)
    assert np.array_equal(catalog.names[catalog.stream_streamer[stream]], rows.name)
    assert np.all(rows.start >= catalog.stream_start[stream])
    assert np.all(rows.stop <= catalog.stream_end[stream])


def test_write_sessions_groups_rows_by_user_in_time_order(tiny: tuple[Path, SynthStats]) -> None:
    path, _ = tiny
    rows = parse(path)
    assert np.all(np.diff(rows.user_id) >= 0), "grouped by user, users in id order"
    same_user = rows.user_id[1:] == rows.user_id[:-1]
    assert np.all(rows.start[1:][same_user] >= rows.start[:-1][same_user]), "time order per user"
    assert np.array_equal(np.unique(rows.user_id), np.arange(1, PRESETS["tiny"].users + 1)), (
        "every user has at least one row"
    )


def test_write_sessions_returns_stats_of_the_file(tiny: tuple[Path, SynthStats]) -> None:
    path, stats = tiny
    rows = parse(path)
    pairs = len(set(zip(rows.user_id, rows.name, strict=True)))
    assert stats.rows == rows.user_id.size
    assert stats.users == np.unique(rows.user_id).size
    assert stats.streamers == np.unique(rows.name).size
    assert stats.streams == np.unique(rows.stream_id).size
    assert stats.pairs == pairs
    assert stats.repeat_share == pytest.approx((stats.rows - pairs) / (stats.rows - stats.users))
    assert 1 <= stats.mean_live_streamers <= stats.streamers
    assert abs(stats.rows - PRESETS["tiny"].rows) <= 0.1 * PRESETS["tiny"].rows


def test_write_sessions_output_loads_without_dropped_rows(tiny: tuple[Path, SynthStats]) -> None:
    path, stats = tiny
    sessions, report = data.read_sessions(path)
    assert not report.header_skipped
    assert report.rows_dropped == 0
    assert len(sessions) == stats.rows


def test_write_sessions_replaces_atomically_without_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "tiny.csv"
    path.parent.mkdir()
    path.write_text("old content\n")
    synth.write_sessions(replace(PRESETS["tiny"], users=20, rows=100), path)
    assert [p.name for p in path.parent.iterdir()] == ["tiny.csv"], "no temp file left behind"
    assert path.read_text().splitlines()[0].startswith("1,")


def test_write_sessions_same_seed_is_byte_identical(
    tiny: tuple[Path, SynthStats], tmp_path: Path
) -> None:
    path, _ = tiny
    again = tmp_path / "again.csv"
    synth.write_sessions(PRESETS["tiny"], again)
    assert again.read_bytes() == path.read_bytes()


def test_write_sessions_other_seed_differs(tiny: tuple[Path, SynthStats], tmp_path: Path) -> None:
    path, _ = tiny
    other = tmp_path / "other.csv"
    synth.write_sessions(replace(PRESETS["tiny"], seed=1), other)
    assert other.read_bytes() != path.read_bytes()


def test_build_catalog_makes_unique_valid_names() -> None:
    catalog = synth.build_catalog(PRESETS["small"])
    assert np.unique(catalog.names).size == catalog.names.size
    assert all(NAME.fullmatch(str(n)) for n in catalog.names)


def test_build_catalog_streams_of_a_streamer_do_not_overlap() -> None:
    catalog = synth.build_catalog(PRESETS["small"])
    same = catalog.stream_streamer[1:] == catalog.stream_streamer[:-1]
    assert np.all(catalog.stream_start[1:][same] > catalog.stream_end[:-1][same])
    assert np.all(catalog.stream_start <= catalog.stream_end)
    assert np.unique(catalog.stream_id).size == catalog.stream_id.size


def test_iter_session_chunks_popularity_is_skewed(
    small: tuple[Catalog, list[SessionChunk]],
) -> None:
    _, chunks = small
    pairs = np.unique(concat(chunks, "user_id") * 10**6 + concat(chunks, "streamer"))
    viewers = np.sort(np.bincount(pairs % 10**6))[::-1]
    viewers = viewers[viewers > 0]
    top = viewers[: viewers.size // 10].sum() / viewers.sum()
    assert top > 0.55, f"top 10% of streamers hold {top:.2f} of distinct viewers"
    assert viewers[-1] <= 3, "the tail has streamers with a handful of viewers"


def test_write_sessions_repeat_share_is_about_half(tiny: tuple[Path, SynthStats]) -> None:
    _, stats = tiny
    assert 0.35 <= stats.repeat_share <= 0.65


def test_iter_session_chunks_repeat_share_is_about_half(
    small: tuple[Catalog, list[SessionChunk]],
) -> None:
    _, chunks = small
    users, streamer = concat(chunks, "user_id"), concat(chunks, "streamer")
    pairs = np.unique(users * 10**6 + streamer).size
    share = (users.size - pairs) / (users.size - PRESETS["small"].users)
    assert 0.35 <= share <= 0.65


def test_iter_session_chunks_users_settle_on_their_streamers(
    small: tuple[Catalog, list[SessionChunk]],
) -> None:
    # small settles (settling > 0): a user's late sessions return far more often than early
    # ones (about 0.31 against 0.72; without settling 0.46 against 0.60).
    _, chunks = small
    users, streamer = concat(chunks, "user_id"), concat(chunks, "streamer")
    start = concat(chunks, "time_start")
    order = np.lexsort((start, users))
    users, streamer = users[order], streamer[order]
    first = np.r_[True, users[1:] != users[:-1]]
    rank = np.arange(users.size) - np.maximum.accumulate(np.where(first, np.arange(users.size), 0))
    key = users * 10**6 + streamer
    _, first_of_pair = np.unique(key, return_index=True)
    repeat = np.ones(users.size, dtype=bool)
    repeat[first_of_pair] = False
    early = repeat[(rank >= 1) & (rank <= 5)].mean()
    late = repeat[rank >= 30].mean()
    assert PRESETS["small"].settling > 0
    assert late > early + 0.25, f"repeat share {early:.2f} at sessions 2-6, {late:.2f} from 31"


def test_iter_session_chunks_users_watch_their_communities(
    small: tuple[Catalog, list[SessionChunk]],
) -> None:
    catalog, chunks = small
    user = concat(chunks, "user_id") - 1
    favourites = np.concatenate([c.user_communities for c in chunks])[user]
    community = catalog.community[concat(chunks, "streamer")]
    own = np.mean((favourites[:, 0] == community) | (favourites[:, 1] == community))
    # The same rows with streamers shuffled across users: what no community signal gives.
    shuffled = np.random.default_rng(0).permutation(community)
    chance = np.mean((favourites[:, 0] == shuffled) | (favourites[:, 1] == shuffled))
    assert own > 0.75
    assert own > chance + 0.3


def test_iter_session_chunks_activity_is_heavy_tailed(
    small: tuple[Catalog, list[SessionChunk]],
) -> None:
    _, chunks = small
    per_user = np.bincount(concat(chunks, "user_id"))[1:]
    assert per_user.size == PRESETS["small"].users
    assert per_user.min() >= 1
    assert per_user.max() >= 10 * np.median(per_user)
    assert np.mean(per_user <= 5) > 0.05, "many users with few rows"


def test_iter_session_chunks_sessions_last_a_few_steps(
    small: tuple[Catalog, list[SessionChunk]],
) -> None:
    _, chunks = small
    length = concat(chunks, "time_stop") - concat(chunks, "time_start")
    assert 1 <= np.median(length) <= 6
    assert 0.05 < np.mean(length == 0) < 0.4, "seen once, sometimes"
    assert np.mean(length <= 6) > 0.8


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"users": 0}, "users"),
        ({"streamers": -3}, "streamers"),
        ({"rows": 10}, "rows"),
        ({"steps": 0}, "steps"),
        ({"communities": 1000}, "communities"),
        ({"seed": -1}, "seed"),
        ({"repeat_prob": 1.5}, "repeat_prob"),
        ({"stream_steps": 0.0}, "stream_steps"),
        ({"settling": -0.1}, "settling"),
    ],
)
def test_synth_config_rejects_invalid_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"SynthConfig\.{field} "):
        replace(PRESETS["tiny"], **change)


def test_synth_config_presets_are_valid() -> None:
    assert {"tiny", "small", "twitch-100k", "twitch-full"} <= set(PRESETS)
    assert all(isinstance(c, SynthConfig) for c in PRESETS.values())


def test_main_writes_preset_with_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.csv"
    code = synth.main(["--preset", "tiny", "--users", "40", "--rows", "400", "--out", str(out)])
    assert code == 0
    rows = parse(out)
    assert np.unique(rows.user_id).size == 40
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "40 users" in summary[0]


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["--users", "-5"], "--users"),
        (["--users", "many"], "--users"),
        (["--preset", "huge"], "--preset"),
        (["--preset", "tiny", "--rows", "10"], "rows"),
    ],
)
def test_main_rejects_bad_argument_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], mentions: str
) -> None:
    out = tmp_path / "bad.csv"
    assert synth.main([*argv, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, "one-line error"
    assert "error" in error[0] and mentions in error[0]
    assert not out.exists()
