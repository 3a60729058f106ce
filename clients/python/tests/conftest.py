"""Fixtures that run the real ``memory-server`` release binary.

Each server is started once per session, on a free port, with a fresh SQLite store in a
temporary directory and the real embedding model (from the Hugging Face cache that
``scripts/fetch-model.sh`` fills), and stopped at the end. The binary is
``$MEMORY_SERVER_BIN``, else ``target/release/memory-server`` under the repository root.
Servers start lazily: a run of the unit tests alone starts none.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
STARTUP_SECONDS = 60.0


def server_binary() -> Path:
    configured = os.environ.get("MEMORY_SERVER_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target" / "release" / "memory-server"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``memory-server serve`` process; :meth:`stop` kills it and removes its store."""

    def __init__(self, name: str, env: Dict[str, str]) -> None:
        binary = server_binary()
        if not binary.is_file():
            pytest.fail(
                f"no memory-server binary at {binary}: build it (cargo build --release -p "
                "memory-server) or set MEMORY_SERVER_BIN",
                pytrace=False,
            )
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"memory-py-{name}-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.dir / "server.log"
        full_env = dict(os.environ)
        # Nothing of the developer's own configuration leaks in.
        for key in list(full_env):
            if key.startswith("MEMORY_"):
                del full_env[key]
        full_env.update(
            {
                "MEMORY_DATABASE_URL": f"sqlite://{self.dir}/memory.db",
                "MEMORY_HOST": "127.0.0.1",
                "MEMORY_PORT": str(self.port),
                "MEMORY_GLOBAL_RATE_LIMIT": "100000/second",
                "MEMORY_RETENTION_SCHEDULE_SECONDS": "0",
                "MEMORY_LOG_LEVEL": "warn",
                "MEMORY_API_KEYS": "",
                "MEMORY_EMBEDDING_ALLOW_DOWNLOAD": "false",
                "MEMORY_ENVIRONMENT": f"python-client-{name}",
            }
        )
        full_env.update(env)
        self._log = open(self.log_path, "wb")
        # Run from the store's directory, so that no .env of the working tree is read.
        self.process = subprocess.Popen(
            [str(binary), "serve"],
            cwd=self.dir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self) -> "Server":
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"{self.name} server exited at startup:\n{self.log()}", pytrace=False)
            try:
                if httpx.get(f"{self.base_url}/v1/admin/health", timeout=2.0).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        log = self.log()
        self.stop()
        pytest.fail(
            f"{self.name} server not healthy within {STARTUP_SECONDS:.0f} s:\n{log}", pytrace=False
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def _servers() -> Iterator[List[Server]]:
    started: List[Server] = []
    yield started
    for s in started:
        s.stop()


def _start(started: List[Server], name: str, env: Optional[Dict[str, str]] = None) -> Server:
    server = Server(name, env or {})
    started.append(server)
    return server.wait_healthy()


@pytest.fixture(scope="session")
def server(_servers: List[Server]) -> Server:
    """No keys, no rate limit to speak of."""
    return _start(_servers, "main")


@pytest.fixture(scope="session")
def auth_server(_servers: List[Server]) -> Server:
    """An admin key and a key bound to tenant acme."""
    return _start(_servers, "auth", {"MEMORY_API_KEYS": "admin-key,acme-key:acme"})


@pytest.fixture(scope="session")
def rate_limited_server(_servers: List[Server]) -> Server:
    """5 requests per second per client (a burst of 5)."""
    return _start(_servers, "ratelimited", {"MEMORY_GLOBAL_RATE_LIMIT": "5/second"})


@pytest.fixture(scope="session")
def one_at_a_time_server(_servers: List[Server]) -> Server:
    """Serves one API request at a time: the rest are shed with 503 overloaded."""
    return _start(_servers, "inflight", {"MEMORY_MAX_IN_FLIGHT": "1"})


@pytest.fixture
def tenant() -> str:
    """A tenant of its own for each test, so tests share a server but no data."""
    return f"t-{uuid.uuid4().hex[:12]}"
