"""Fixtures for the integration tests that start a local HTTP server (MLflow tracking or
scoring server) in a subprocess."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def start_server() -> Iterator[Callable[..., str]]:
    """``start(command_for_port, health_path, env)``: run the command on a free 127.0.0.1 port,
    wait up to 120 s for ``health_path`` to answer 200, return the base URL; stopped at teardown."""
    procs: list[subprocess.Popen] = []

    def start(command_for_port, health_path, env=None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        proc = subprocess.Popen(
            command_for_port(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}{health_path}", timeout=2) as r:
                    if r.status == 200:
                        return url
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"{command_for_port(port)[:3]} did not answer on {health_path} within 120 s")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
