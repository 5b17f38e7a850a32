"""A private PostgreSQL cluster for tests that must stop and restart the server (tests/faults).

`initdb` and `pg_ctl` from the packaged server (/usr/lib/postgresql/<version>/bin, else PATH), a data
directory in a temp folder and a free loopback port. PostgreSQL refuses to run as root, so under root
every server command runs as the `postgres` user (`runuser`), and the folder belongs to that user.
The shared server on port 5432 is never touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from command_center.redis_server import free_port

SERVER_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The directory holding initdb and pg_ctl (highest packaged version first), or None."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0])
    )
    for directory in reversed(candidates):
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def available() -> bool:
    """True when a cluster can be started here (binaries found; under root, a `postgres` user exists)."""
    if find_bin_dir() is None:
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return False
    return True


class PrivatePostgres:
    """A throw-away cluster: `start()`, `stop()`, `restart()`, `url(database)`, `remove()`."""

    def __init__(self, *, port: int | None = None) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.bin_dir = bin_dir
        self.port = port or free_port()
        # Not under pytest's tmp_path: its parents are private to the user running the tests.
        self.root = Path(tempfile.mkdtemp(prefix="cc-private-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._initialized = False

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                f"{self.server_log()}"
            )
        return result

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The asyncpg/libpq form of `url`."""
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> str:
        """Creates the cluster on first use, starts the server and waits until it accepts connections."""
        if not self._initialized:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SERVER_USER,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
            self._initialized = True
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )
        return self.url()

    def stop(self, mode: str = "fast") -> None:
        """Stops the server (`fast`: disconnects every client and rolls back their transactions;
        `immediate`: as if the process had been killed)."""
        if self._initialized:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def running(self) -> bool:
        return (
            self._initialized
            and self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0
        )

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def server_log(self, tail: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def remove(self) -> None:
        """Stops the server and deletes the cluster."""
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
