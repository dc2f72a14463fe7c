"""No acknowledged event is lost: a real server is SIGKILLed while it ingests, ten times."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "k1ll-t0ken"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"}
KILLS = 10


def start(model: Path, log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    errors = log_dir.parent / "server.log"
    env = {
        **os.environ,
        "LIVE_TOKEN": TOKEN,
        "EVENT_LOG_DIR": str(log_dir),
        "RELOAD_INTERVAL": "0",
        "EVENT_LOG_SEGMENT_BYTES": "65536",  # rotations happen during the test too
    }
    command = [sys.executable, "platform.py", "--model", str(model), "--port", str(port)]
    with errors.open("ab") as stderr:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, errors.read_text()[-2000:]
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not become ready")


def ingest(url: str, first: int, acknowledged: list[str], stop: threading.Event) -> None:
    """Post batches of new sessions until the server dies; keep those answered 200."""
    batch_no = first
    with httpx.Client(base_url=url, timeout=5) as http:
        while not stop.is_set():
            lines = [
                f"{batch_no * 100 + j},{batch_no},s{j % 20:02d},{batch_no},"
                + ("" if j % 5 == 0 else str(batch_no + 2))
                for j in range(40)
            ]
            batch_no += 1
            try:
                response = http.post("/events", content="\n".join(lines) + "\n", headers=HEADERS)
            except httpx.TransportError:
                return  # killed mid-request: not acknowledged
            if response.status_code == 200:
                assert response.json()["accepted"] == len(lines), response.text
                acknowledged.extend(lines)


def test_sigkill_during_ingestion_loses_no_acknowledged_event(
    checkerboard_model_path: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "events"
    acknowledged: list[str] = []
    rng = random.Random(0)
    for kill in range(KILLS):
        proc, url = start(checkerboard_model_path, log_dir)
        stop = threading.Event()
        clients = [
            threading.Thread(target=ingest, args=(url, (kill * 4 + c) * 10_000, acknowledged, stop))
            for c in range(4)
        ]
        for client in clients:
            client.start()
        time.sleep(rng.uniform(0.2, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for client in clients:
            client.join(timeout=10)
    assert len(acknowledged) > KILLS * 40, "too few events were acknowledged to test anything"

    proc, url = start(checkerboard_model_path, log_dir)
    try:
        logged = set()
        for segment in log_dir.glob("events-*.csv"):
            text = segment.read_text()
            assert text.endswith("\n"), f"{segment.name} ends in a torn line"
            logged.update(text.splitlines())
        missing = set(acknowledged) - logged
        assert not missing, f"{len(missing)} acknowledged events are not in the log"
        # Replayed: every acknowledged event is held again, so posting it again adds nothing.
        with httpx.Client(base_url=url, timeout=30) as http:
            for lo in range(0, len(acknowledged), 5000):
                chunk = acknowledged[lo : lo + 5000]
                body = http.post("/events", content="\n".join(chunk) + "\n", headers=HEADERS)
                assert body.status_code == 200, body.text
                assert body.json()["accepted"] == 0, body.json()
                assert body.json()["dropped"] == {"duplicate": len(chunk)}
    finally:
        proc.kill()
        proc.wait(timeout=10)
