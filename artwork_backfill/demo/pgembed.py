"""A throwaway PostgreSQL server for the tests, the benchmarks and `demo`.

It uses the machine's PostgreSQL binaries (Debian's /usr/lib/postgresql/N/bin, or `pg_config
--bindir`), or the server that the `pgserver` package ships on PyPI where none is installed.
`initdb` refuses to run as root, so on a root machine every server command runs as the
`postgres` OS user (created when missing). The cluster lives in a temporary directory,
listens on 127.0.0.1 on a free port with password auth, and is removed on stop.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from artwork_backfill.config import DbSettings, db_settings, is_identifier
from artwork_backfill.errors import UserError

SERVER_USER = "postgres"


class EmbeddedPostgresError(UserError):
    """No PostgreSQL server could be found or started."""


def find_pg_bin() -> Path:
    """The directory holding initdb/pg_ctl/postgres."""
    explicit = os.environ.get("PG_BIN")
    candidates: list[Path] = [Path(explicit)] if explicit else []
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(re.sub(r"\D", "", p.split("/")[-2]) or 0),
        reverse=True,
    )
    candidates += [Path(p) for p in debian]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    # Find pgserver's binaries without importing it: its import asks platformdirs for a
    # runtime directory, which warns where XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise EmbeddedPostgresError(
        "no PostgreSQL server binaries found: install Debian's `postgresql` package, "
        "or `pip install pgserver`, or set PG_BIN to the directory holding initdb"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_server_user() -> pwd.struct_passwd | None:
    """On a root machine, the OS user that runs the server; None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


@dataclass
class EmbeddedPostgres:
    """A running throwaway cluster. Use `start()`; always `stop()` (also registered atexit)."""

    port: int
    password: str
    root: Path
    bin_dir: Path
    user: str = "postgres"
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def settings(self, dbname: str, schema: str = "wxyc_schema") -> DbSettings:
        """The tool's connection settings for one of this server's databases."""
        return db_settings(
            database_url=None,
            host=self.host,
            port=str(self.port),
            name=dbname,
            user=self.user,
            password=self.password,
            schema=schema,
        )

    def env(self, dbname: str) -> dict[str, str]:
        """WXYC-style connection variables for a child process."""
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_NAME": dbname,
            "DB_USERNAME": self.user,
            "DB_PASSWORD": self.password,
        }

    def _run(self, args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]

    @classmethod
    def start(cls) -> EmbeddedPostgres:
        bin_dir = find_pg_bin()
        server_user = _ensure_server_user()
        root = Path(tempfile.mkdtemp(prefix="artwork-backfill-pg-"))
        password = secrets.token_urlsafe(18)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if server_user is not None:
            os.chmod(root, 0o700)
            os.chown(root, server_user.pw_uid, server_user.pw_gid)
            os.chown(pwfile, server_user.pw_uid, server_user.pw_gid)
        pg = cls(port=_free_port(), password=password, root=root, bin_dir=bin_dir)
        init = pg._run(
            [
                "initdb",
                "-D",
                str(pg.data_dir),
                "-U",
                pg.user,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        if init.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed: {init.stderr.strip()[-500:]}")
        opts = (
            f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=60 -c shared_buffers=128MB"
        )
        started = pg._run(
            [
                "pg_ctl",
                "-D",
                str(pg.data_dir),
                "-l",
                str(root / "server.log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if started.returncode != 0:
            log = (
                (root / "server.log").read_text(errors="replace")[-800:]
                if (root / "server.log").exists()
                else ""
            )
            shutil.rmtree(root, ignore_errors=True)
            raise EmbeddedPostgresError(
                f"PostgreSQL did not start: {started.stderr.strip()[-300:]} {log}"
            )
        atexit.register(pg.stop)
        return pg

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its DSN."""
        if not is_identifier(name):
            raise ValueError(f"bad database name {name!r}")
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def schema_sql(schema: str = "wxyc_schema") -> str:
    """WXYC's schema DDL, with the schema renamed when asked."""
    if not is_identifier(schema):
        raise ValueError(f"bad schema name {schema!r}")
    text = resources.files("artwork_backfill").joinpath("sql/wxyc_schema.sql").read_text()
    if schema != "wxyc_schema":
        text = re.sub(r"\bwxyc_schema\b", schema, text)
    return text


def load_schema(conn: psycopg.Connection, schema: str = "wxyc_schema") -> None:
    """Create WXYC's tables in `conn`'s database (skips trigram indexes where pg_trgm is absent)."""
    text = schema_sql(schema)
    has_trgm = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).fetchone()
    if not has_trgm:
        text = text.replace("CREATE EXTENSION IF NOT EXISTS pg_trgm;", "")
        text = "\n".join(line for line in text.splitlines() if "gin_trgm_ops" not in line)
    conn.execute(text.encode())
    conn.commit()
