"""`make run` with a port already taken stops at once and names the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket listening on a free loopback port, like another server would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _devserver(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the dev server; if it does not stop by itself, stop its whole process group."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PORT", "EMULATOR_PORT")}
    environ.update(env)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.devserver", "--instance", str(tmp_path / "instance")],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its children (and embedded Redis) share this group
    )
    try:
        stdout, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    took = time.monotonic() - started
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), took


@pytest.mark.timeout(60)
def test_a_taken_web_port_is_named_and_nothing_starts(tmp_path, listening):
    port = listening.getsockname()[1]
    result, took = _devserver(tmp_path, PORT=str(port), EMULATOR_PORT=str(_free_port()))

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]], result.stderr  # one line, no traceback
    assert f"port {port} (web) is already in use" in lines[0]
    assert "running" not in result.stdout
    assert took < 10
    assert not (tmp_path / "instance").exists()  # refused before migrating anything


@pytest.mark.timeout(60)
def test_a_taken_emulator_port_is_named(tmp_path, listening):
    port = listening.getsockname()[1]
    result, _took = _devserver(tmp_path, PORT=str(_free_port()), EMULATOR_PORT=str(port))

    assert result.returncode != 0
    assert f"port {port} (emulator) is already in use" in result.stderr
    assert f"EMULATOR_PORT={port + 1000} make run" in result.stderr


@pytest.mark.timeout(60)
def test_the_same_port_twice_is_refused(tmp_path):
    port = _free_port()
    result, _took = _devserver(tmp_path, PORT=str(port), EMULATOR_PORT=str(port))

    assert result.returncode != 0
    assert f"PORT and EMULATOR_PORT are both {port}" in result.stderr
