"""A throwaway PostgreSQL for the tests: ``initdb`` into a temp folder (as an unprivileged user
when the tests run as root: initdb refuses root), trust auth, a socket in that folder and a free
port on 127.0.0.1, fsync off; one template database with newsbot's schema, cloned per test.

``NEWSBOT_TEST_DATABASE_URL`` (a server the tests may create databases on) skips starting one.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

TEMPLATE = "newsbot_template"
_names = itertools.count(1)
# The servers this process started, by port: how to run pg_ctl on each (``restart``).
_servers: dict[int, tuple[list[str], Path, Path, Path]] = {}


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl (NEWSBOT_PG_BIN, the newest Debian one, or PATH)."""
    if env := os.environ.get("NEWSBOT_PG_BIN"):
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


def _user() -> str | None:
    """Who runs the server: None (this user) unless root, else an unprivileged account."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "newsbot-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "newsbot-pg"],
        check=True,
        timeout=30,
    )
    return "newsbot-pg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextmanager
def cluster() -> Iterator[str]:
    """A running server; yields the URL of its ``postgres`` database."""
    if env := os.environ.get("NEWSBOT_TEST_DATABASE_URL"):
        yield env
        return
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb)")
    user = _user()
    root = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
    os.chmod(root, 0o777)
    data = root / "data"
    log = root / "server.log"
    prefix = ["runuser", "-u", user, "--"] if user else []
    if user:
        shutil.chown(root, user)
    port = _free_port()
    role = user or pwd.getpwuid(os.geteuid()).pw_name
    try:
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "--no-sync",
                "-A",
                "trust",
                "-U",
                role,
                "-E",
                "UTF8",
                "--locale",
                "C",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        opts = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
        _servers[port] = (prefix, bin_dir, data, log)
        yield f"postgresql://{role}@127.0.0.1:{port}/postgres"
    finally:
        _servers.pop(port, None)
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def restartable(url: str) -> bool:
    """Whether ``restart`` can restart the server of ``url`` (one these tests started)."""
    return urlsplit(url).port in _servers


def restart(url: str) -> None:
    """Restart the server of ``url`` as an administrator would (``pg_ctl restart -m fast``):
    every connection is told "terminating connection due to administrator command"; back up,
    on the same port and options, when this returns."""
    prefix, bin_dir, data, log = _servers[urlsplit(url).port]
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )


def admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=30) as conn:
        for sql in statements:
            conn.execute(sql)


def make_template(url: str) -> None:
    """The template every test database is cloned from: newsbot's schema, nothing else."""
    from index.store.postgres import PostgresStore

    admin(url, f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}")
    PostgresStore(with_database(url, TEMPLATE)).close()


def new_database(url: str, prefix: str = "t") -> str:
    """A fresh database cloned from the template; its URL."""
    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    admin(url, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return with_database(url, name)


def drop_database(url: str, name_url: str) -> None:
    name = urlsplit(name_url).path.lstrip("/")
    admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
