"""An MLflow tracking server on PostgreSQL, in a folder this project owns.

    python -m pipelines.ops.tracking_server start [--root mlflow/server] [--port 5002]
    python -m pipelines.ops.tracking_server stop  [--root mlflow/server]

``start`` initializes a PostgreSQL cluster under ``<root>/pgdata`` (Debian's ``postgresql``
package; first start only), starts it on 127.0.0.1 (``--pg-port``, default 5433, and its socket
in ``<root>``), creates the database ``mlflow``, then starts ``mlflow server`` on 127.0.0.1 with
that database as its backend store and ``<root>/artifacts`` as its artifact root, and waits
until it answers ``/health``. It prints the ``MLFLOW_TRACKING_URI`` to export. ``stop`` stops
both. PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
user and its commands run through ``runuser``. ``make tracking-server`` and ``make
tracking-server-stop`` call these.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from genmodels.errors import PriorworksError

DATABASE, DB_USER = "mlflow", "mlflow"


class TrackingServerError(PriorworksError):
    """PostgreSQL or the MLflow server could not be started or stopped."""


@dataclass(frozen=True)
class Server:
    root: Path
    port: int = 5002
    pg_port: int = 5433

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def pidfile(self) -> Path:
        return self.root / "mlflow-server.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_uri(self) -> str:
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.pg_port}/{DATABASE}"


def _pg_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else in Debian's versioned folder."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise TrackingServerError(
            f"PostgreSQL's '{name}' was not found; install Debian's postgresql package "
            "(apt-get install postgresql)"
        )
    return found


def _as_owner(command: list[str]) -> list[str]:
    """Under root, run as the ``postgres`` user (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise TrackingServerError(f"{what} failed: {(done.stderr or done.stdout).strip()[-800:]}")


def _postgres_up(server: Server) -> None:
    _pg_bin("initdb")  # before anything is created: a missing PostgreSQL is named first
    server.root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # the cluster's folder must belong to the user that runs it
        shutil.chown(server.root, "postgres")
        if subprocess.run(_as_owner(["test", "-w", str(server.root.resolve())])).returncode:
            raise TrackingServerError(
                f"the postgres user cannot reach {server.root.resolve()}: make the folders above "
                "it traversable (chmod o+x) or choose another --root"
            )
    if not (server.pgdata / "PG_VERSION").is_file():
        _run(
            _as_owner(
                [_pg_bin("initdb"), "-D", str(server.pgdata), "-U", DB_USER, "--auth=trust",
                 "-E", "UTF8"]
            ),
            "initdb",
        )  # fmt: skip
    options = f"-p {server.pg_port} -k {server.root.resolve()} -c listen_addresses=127.0.0.1"
    log = server.root / "postgres.log"
    running = subprocess.run(
        _as_owner([_pg_bin("pg_ctl"), "-D", str(server.pgdata), "status"]), capture_output=True
    )
    if running.returncode != 0:
        _run(
            _as_owner(
                [_pg_bin("pg_ctl"), "-D", str(server.pgdata), "-l", str(log), "-o", options, "-w",
                 "start"]
            ),
            f"starting PostgreSQL (log: {log})",
        )  # fmt: skip
    exists = subprocess.run(
        [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(server.pg_port), "-U", DB_USER, "-d",
         "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
        capture_output=True, text=True,
    )  # fmt: skip
    if exists.stdout.strip() != "1":
        _run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(server.pg_port), "-U", DB_USER,
             DATABASE],
            "createdb",
        )  # fmt: skip


def answers_health(url: str) -> bool:
    """Whether an MLflow server at ``url`` answers ``/health`` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def start(server: Server, workers: int = 2, timeout_s: float = 120) -> str:
    """Start PostgreSQL and the MLflow server (both idempotent); return the tracking URI."""
    if answers_health(server.url):
        return server.url
    _postgres_up(server)
    server.artifacts.mkdir(parents=True, exist_ok=True)
    mlflow_exe = Path(sys.executable).parent / "mlflow"
    log = (server.root / "mlflow-server.log").open("ab")
    proc = subprocess.Popen(
        [str(mlflow_exe), "server", "--host", "127.0.0.1", "--port", str(server.port),
         "--backend-store-uri", server.backend_uri,
         "--artifacts-destination", str(server.artifacts.resolve()), "--workers", str(workers)],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    server.pidfile.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log_path = server.root / "mlflow-server.log"
            raise TrackingServerError(
                f"mlflow server exited with {proc.returncode}; see {log_path}"
            )
        if answers_health(server.url):
            return server.url
        time.sleep(0.5)
    raise TrackingServerError(f"mlflow server did not answer {server.url}/health in {timeout_s} s")


def stop(server: Server) -> None:
    """Stop the MLflow server (its whole process group) and PostgreSQL, whichever runs."""
    if server.pidfile.is_file():
        pid = int(server.pidfile.read_text())
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(pid, signal.SIGTERM)
        server.pidfile.unlink()
    if (server.pgdata / "postmaster.pid").is_file():
        _run(
            _as_owner([_pg_bin("pg_ctl"), "-D", str(server.pgdata), "-m", "fast", "-w", "stop"]),
            "stopping PostgreSQL",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--root", default="mlflow/server", help="the folder the server owns")
    parser.add_argument("--port", type=int, default=5002, help="the MLflow server's port")
    parser.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL's port")
    args = parser.parse_args(argv)
    server = Server(Path(args.root), args.port, args.pg_port)
    try:
        if args.action == "start":
            url = start(server)
            print(f"MLflow tracking server on PostgreSQL: {url}\nexport MLFLOW_TRACKING_URI={url}")
        else:
            stop(server)
            print(f"stopped the tracking server of {server.root}")
    except TrackingServerError as err:
        print(f"tracking-server: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
