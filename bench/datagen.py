"""Deterministic benchmark data: ``votes`` and ``posts`` in PostgreSQL, MariaDB, SQLite and DuckDB.

PostgreSQL generates the rows with ``generate_series`` and a seeded hash
(``hashint8extended``), so the content depends only on ``--seed`` and ``--scale``. The other
engines are filled from PostgreSQL through the command-line clients:

- MariaDB: ``psql COPY ... TO STDOUT`` piped into ``LOAD DATA LOCAL INFILE '/dev/stdin'``;
- SQLite: ``psql COPY ... (FORMAT csv)`` piped into ``sqlite3 .import`` (a TEXT staging table,
  then ``INSERT ... SELECT`` with ``NULLIF`` so NULLs stay NULL and numbers become integers);
- DuckDB: ``psql COPY ... (FORMAT csv, NULL '\\N')`` piped into DuckDB's ``COPY ... FROM
  '/dev/stdin'`` (the ``duckdb`` module's one-liner :func:`duck_cmd`: the DuckDB CLI is not
  installed here).

An engine whose row counts (and manifest seed) already match is left alone::

    python bench/datagen.py [--scale 1.0] [--seed 42] [--engines pg,my,sqlite,duck] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
DATA_DIR = OUT_DIR / "data"
MANIFEST = DATA_DIR / "manifest.json"

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
MY_HOST, MY_PORT, MY_USER = "127.0.0.1", 3306, "root"
#: the database names' prefix: ``DMT_BENCH_DB=dmt_bench_me`` keeps one checkout's benchmark
#: databases apart from another's on the same servers
DB_PREFIX = os.environ.get("DMT_BENCH_DB", "dmt_bench")
SRC_DB = f"{DB_PREFIX}_src"
DST_DB = f"{DB_PREFIX}_dst"
SQLITE_SRC = DATA_DIR / "src.db"
DUCK_SRC = DATA_DIR / "src.duckdb"
TAG = ""  # "" for scale 1.0, e.g. "_s0_1" for 0.1: see use_scale()

FULL_ROWS = {"votes": 2_000_000, "posts": 200_000}
TABLES = ("votes", "posts")
ENGINES = ("pg", "my", "sqlite", "duck")
#: the engines whose databases are files: the path of the source's
FILE_ENGINES = ("sqlite", "duck")

# ----------------------------------------------------------------------------- DDL
# (name, PostgreSQL type, MariaDB type, SQLite type, nullable)
Col = tuple[str, str, str, str, bool]
COLUMNS: dict[str, list[Col]] = {
    "votes": [
        ("id", "bigint", "BIGINT", "INTEGER", False),
        ("post_id", "integer", "INT", "INTEGER", False),
        ("user_id", "integer", "INT", "INTEGER", True),
        ("bounty_amount", "integer", "INT", "INTEGER", True),
        ("vote_type_id", "smallint", "SMALLINT", "SMALLINT", False),
        ("creation_date", "timestamp", "DATETIME", "DATETIME", False),
    ],
    "posts": [
        ("id", "integer", "INT", "INTEGER", False),
        ("post_type_id", "smallint", "SMALLINT", "SMALLINT", False),
        ("accepted_answer_id", "integer", "INT", "INTEGER", True),
        ("parent_id", "integer", "INT", "INTEGER", True),
        ("score", "integer", "INT", "INTEGER", False),
        ("view_count", "integer", "INT", "INTEGER", False),
        ("body", "text", "TEXT", "TEXT", False),
        ("owner_user_id", "integer", "INT", "INTEGER", False),
        ("last_editor_display_name", "varchar(40)", "VARCHAR(40)", "VARCHAR(40)", True),
        ("title", "varchar(250)", "VARCHAR(250)", "VARCHAR(250)", False),
        ("tags", "varchar(250)", "VARCHAR(250)", "VARCHAR(250)", False),
        ("answer_count", "integer", "INT", "INTEGER", False),
        ("comment_count", "integer", "INT", "INTEGER", False),
        ("favorite_count", "integer", "INT", "INTEGER", True),
        ("creation_date", "timestamp", "DATETIME", "DATETIME", False),
        ("last_activity_date", "timestamp", "DATETIME", "DATETIME", False),
    ],
}


def server_endpoint(engine: str, db: str) -> dict[str, Any]:
    """The dmt config section for a database on the benchmark's PostgreSQL or MariaDB."""
    if engine == "pg":
        return {
            "type": "postgres",
            "host": PG_HOST,
            "port": PG_PORT,
            "user": PG_USER,
            "database": db,
        }
    return {"type": "mysql", "host": MY_HOST, "port": MY_PORT, "user": MY_USER, "database": db}


def column_names(table: str) -> list[str]:
    return [c[0] for c in COLUMNS[table]]


def create_sql(engine: str, table: str, name: str | None = None) -> str:
    """CREATE TABLE for ``table`` (named ``name``) with its primary key on ``id``."""
    idx = {"pg": 1, "my": 2, "sqlite": 3, "duck": 1}[engine]
    cols = []
    for col in COLUMNS[table]:
        null = "" if col[4] else " NOT NULL"
        typ = str(col[idx])
        if engine == "duck" and typ.startswith(("varchar", "text")):
            typ = "VARCHAR"  # DuckDB's one string type
        cols.append(f"{col[0]} {typ}{null}")
    cols.append("PRIMARY KEY (id)")
    tail = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" if engine == "my" else ""
    return f"CREATE TABLE {name or table} ({', '.join(cols)}){tail}"


# ----------------------------------------------------------------------------- clients
def psql(db: str, *sql: str) -> list[str]:
    """A ``psql`` command line running each statement with ``-c`` (unaligned, tuples only)."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    cmd += ["-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", db]
    for s in sql:
        cmd += ["-c", s]
    return cmd


def mariadb(db: str | None, sql: str, *extra: str) -> list[str]:
    """A ``mariadb`` command line running ``sql`` in batch mode without column names."""
    cmd = ["mariadb", f"-h{MY_HOST}", f"-P{MY_PORT}", f"-u{MY_USER}", "-B", "-N", *extra]
    if db:
        cmd.append(db)
    return [*cmd, "-e", sql]


def sqlite3_cmd(path: Path | str, *commands: str, csv: bool = False) -> list[str]:
    return ["sqlite3", *(["-csv"] if csv else []), str(path), *commands]


#: the DuckDB CLI's stand-in: ``python -c`` running each statement on the file ``argv[1]``
#: (``argv[2]`` ``ro``: read-only), printing the first column of a last SELECT's rows
DUCK_PY = (
    "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=sys.argv[2]=='ro'); "
    "c.execute('SET enable_progress_bar=false'); "
    "r=[c.execute(s) for s in sys.argv[3:]][-1]; "
    "[print(x[0]) for x in (r.fetchall() if sys.argv[-1].startswith('SELECT') else [])]; "
    "c.close()"
)


def duck_cmd(path: Path | str, *sql: str, read_only: bool = False) -> list[str]:
    """A command line running ``sql`` on a DuckDB file (see :data:`DUCK_PY`)."""
    return [sys.executable, "-c", DUCK_PY, str(path), "ro" if read_only else "rw", *sql]


def src_file(engine: str) -> Path:
    """The source file of a file engine."""
    return DUCK_SRC if engine == "duck" else SQLITE_SRC


def _quote(arg: str) -> str:
    """Like shlex.quote, but SQL with single quotes goes in double quotes when that is safe."""
    if "'" in arg and not re.search(r'[$`"!]|\\[$`"\\\n]', arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def sh(argv: list[str]) -> str:
    """A command line as bash reads it."""
    return " ".join(_quote(a) for a in argv)


def run(argv: list[str] | str, timeout: float = 1800) -> str:
    """Run a command (a string is a bash pipeline with pipefail); return stdout or raise."""
    if isinstance(argv, str):
        argv = ["bash", "-o", "pipefail", "-c", argv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        shown = argv[-1] if argv[0] == "bash" else sh(argv)
        raise RuntimeError(f"command failed ({proc.returncode}): {shown}\n{proc.stderr.strip()}")
    return proc.stdout


# ----------------------------------------------------------------------------- databases
def compile_bytecode() -> str:
    """Compile dmt and the installed packages to ``.pyc`` once, so no timed run compiles them.

    A ``pip install`` compiles what it installs, but ``uv pip install`` (without
    ``--compile-bytecode``) and an editable install of dmt leave source only, and with
    ``PYTHONDONTWRITEBYTECODE`` set (as on these machines) every ``python -m dmt`` then compiles
    ~200 modules from source: 0.9 s of a 6.5 s run here, a start-up cost no installed dmt pays.
    Up-to-date files are skipped, so later calls cost a directory walk. Returns what it did.
    """
    import compileall
    import sysconfig

    dirs = [str(BENCH_DIR.parent / "dmt"), sysconfig.get_paths()["purelib"]]
    started = time.monotonic()
    ok = all(compileall.compile_dir(d, quiet=2, workers=0) for d in dirs)
    return f"compiled {'' if ok else '(with errors) '}in {time.monotonic() - started:.1f} s"


def ensure_database(engine: str, db: str) -> None:
    if engine == "pg":
        exists = run(psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'"))
        if not exists.strip():
            run(psql("postgres", f"CREATE DATABASE {db}"))
    elif engine == "my":
        run(mariadb(None, f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4"))


def count_rows(engine: str, db: str | Path, table: str) -> int | None:
    """Exact row count, or None when the table (or database) does not exist."""
    sql = f"SELECT COUNT(*) FROM {table}"
    try:
        if engine == "pg":
            out = run(psql(str(db), sql))
        elif engine == "my":
            out = run(mariadb(str(db), sql))
        else:
            if not Path(db).exists():
                return None
            cmd = duck_cmd(db, sql, read_only=True) if engine == "duck" else sqlite3_cmd(db, sql)
            out = run(cmd)
    except RuntimeError:
        return None
    return int(out.strip())


# ----------------------------------------------------------------------------- generation
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.\n"
    "It's a question about <code>SELECT * FROM t WHERE x > 0</code> & friends; café, "
    "naïve, Straße, 日本語 → ok. Duis aute irure dolor in reprehenderit in voluptate velit "
    "esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non "
    "proident, sunt in culpa qui officia deserunt mollit anim id est laborum.\n"
    "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque "
    "laudantium, totam rem aperiam, eaque ipsa quae ab illo inventore veritatis et quasi "
    "architecto beatae vitae dicta sunt explicabo. Nemo enim ipsam voluptatem quia voluptas "
    "sit aspernatur aut odit aut fugit, sed quia consequuntur magni dolores eos qui ratione. "
)
SPAN_SECONDS = 500_000_000  # 2008-08-01 plus ~16 years


def _h(seed: int, k: int) -> str:
    """A non-negative pseudo-random bigint of the row number ``g``, stream ``k``."""
    return f"(hashint8extended(g, {seed * 1000 + k}) & 9223372036854775807)"


def votes_sql(n: int, n_posts: int, seed: int) -> str:
    h = lambda k: _h(seed, k)  # noqa: E731
    step = max(1, SPAN_SECONDS // max(n, 1))
    return f"""
INSERT INTO votes
SELECT g,
       1 + h1 % {n_posts},
       CASE WHEN h2 % 10 < 3 THEN NULL ELSE 1 + (h2 / 10) % 100000 END,
       CASE WHEN vt IN (8, 9) THEN (h3 % 10 + 1) * 50 END,
       vt,
       timestamp '2008-08-01' + interval '1 second' * (g * {step} + h3 % 3600)
FROM (SELECT g, {h(1)} AS h1, {h(2)} AS h2, {h(3)} AS h3, (1 + {h(4)} % 15)::smallint AS vt
      FROM generate_series(1, {n}) AS g) s
"""


def posts_sql(n: int, seed: int) -> str:
    h = lambda k: _h(seed, k)  # noqa: E731
    step = max(1, SPAN_SECONDS // max(n, 1))
    lorem = (LOREM * 6).replace("'", "''")
    return f"""
INSERT INTO posts
SELECT g,
       CASE WHEN h1 % 3 = 0 THEN 2 ELSE 1 END,
       CASE WHEN h1 % 3 <> 0 AND h2 % 10 >= 6 THEN 1 + h2 % {n} END,
       CASE WHEN h1 % 3 = 0 THEN 1 + h3 % {n} END,
       (h4 % 200)::int - 20,
       (h5 % 100000)::int,
       substr(lorem, 1 + (h6 % 800)::int, 500 + (h7 % 1549)::int),
       1 + (h8 % 100000)::int,
       CASE WHEN h9 % 10 >= 7 THEN 'user' || (h9 % 100000) END,
       'How to ' || substr(lorem, 1 + (h7 % 700)::int, 15 + (h2 % 200)::int) || '?',
       '<tag' || (h3 % 500) || '><tag' || (h4 % 700) || '><tag' || (h5 % 900) || '>',
       (h6 % 10)::int,
       (h8 % 20)::int,
       CASE WHEN h9 % 5 = 0 THEN (h1 % 50)::int END,
       timestamp '2008-08-01' + interval '1 second' * (g * {step} + h4 % 3600),
       timestamp '2008-08-01' + interval '1 second' * (g * {step} + h4 % 3600 + h5 % 9000000)
FROM (SELECT g, {h(1)} AS h1, {h(2)} AS h2, {h(3)} AS h3, {h(4)} AS h4, {h(5)} AS h5,
             {h(6)} AS h6, {h(7)} AS h7, {h(8)} AS h8, {h(9)} AS h9,
             '{lorem}'::text AS lorem
      FROM generate_series(1, {n}) AS g) s
"""


@dataclass
class Sizes:
    votes: int
    posts: int

    def rows(self, table: str) -> int:
        return int(getattr(self, table))


def sizes_for(scale: float) -> Sizes:
    return Sizes(
        votes=max(1, round(FULL_ROWS["votes"] * scale)),
        posts=max(1, round(FULL_ROWS["posts"] * scale)),
    )


def _log(msg: str) -> None:
    print(f"[datagen] {msg}", file=sys.stderr, flush=True)


def _load_manifest() -> dict[str, dict[str, int]]:
    try:
        data: dict[str, dict[str, int]] = json.loads(MANIFEST.read_text())
        return data
    except (OSError, ValueError):
        return {}


def _save_manifest(data: dict[str, dict[str, int]]) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _is_current(engine: str, sizes: Sizes, seed: int, manifest: dict[str, dict[str, int]]) -> bool:
    if manifest.get(engine, {}).get("seed") != seed:
        return False
    db: str | Path = src_file(engine) if engine in FILE_ENGINES else SRC_DB
    return all(count_rows(engine, db, t) == sizes.rows(t) for t in TABLES)


def generate_pg(sizes: Sizes, seed: int) -> None:
    ensure_database("pg", SRC_DB)
    for table in TABLES:
        t0 = time.monotonic()
        if table == "votes":
            body = votes_sql(sizes.votes, sizes.posts, seed)
        else:
            body = posts_sql(sizes.posts, seed)
        run(
            psql(
                SRC_DB,
                f"DROP TABLE IF EXISTS {table}",
                create_sql("pg", table),
                "SET synchronous_commit = off",
                body,
            )
        )
        # hint bits and statistics now, so the first benchmark read does not pay for them
        run(psql(SRC_DB, f"VACUUM (FREEZE, ANALYZE) {table}"))
        _log(f"pg: {table} {sizes.rows(table):,} rows in {time.monotonic() - t0:.1f}s")


def copy_pg_to_my(sizes: Sizes) -> None:
    ensure_database("my", SRC_DB)
    for table in TABLES:
        t0 = time.monotonic()
        run(mariadb(SRC_DB, f"DROP TABLE IF EXISTS {table}; {create_sql('my', table)}"))
        load = (
            "SET unique_checks=0; SET foreign_key_checks=0; "
            f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE {table} CHARACTER SET utf8mb4"
        )
        run(
            sh(psql(SRC_DB, f"COPY {table} TO STDOUT"))
            + " | "
            + sh(mariadb(SRC_DB, load, "--local-infile=1"))
        )
        run(mariadb(SRC_DB, f"ANALYZE TABLE {table}"))
        _log(f"my: {table} {sizes.rows(table):,} rows in {time.monotonic() - t0:.1f}s")


def copy_pg_to_sqlite(sizes: Sizes) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    SQLITE_SRC.unlink(missing_ok=True)
    for table in TABLES:
        t0 = time.monotonic()
        names = column_names(table)
        stage = f"stage_{table}"
        nullable = {c[0] for c in COLUMNS[table] if c[4]}
        select = ", ".join(f"NULLIF({c}, '\\N')" if c in nullable else c for c in names)
        commands = [
            "PRAGMA journal_mode=OFF",
            "PRAGMA synchronous=OFF",
            f"CREATE TABLE {stage} ({', '.join(f'{c} TEXT' for c in names)})",
            create_sql("sqlite", table),
            f".import --csv /dev/stdin {stage}",
            f"INSERT INTO {table} SELECT {select} FROM {stage} ORDER BY CAST(id AS INTEGER)",
            f"DROP TABLE {stage}",
        ]
        export = f"COPY {table} TO STDOUT (FORMAT csv, NULL '\\N')"
        run(sh(psql(SRC_DB, export)) + " | " + sh(sqlite3_cmd(SQLITE_SRC, *commands)))
        _log(f"sqlite: {table} {sizes.rows(table):,} rows in {time.monotonic() - t0:.1f}s")
    run(sqlite3_cmd(SQLITE_SRC, "VACUUM", "ANALYZE"))


def copy_pg_to_duck(sizes: Sizes) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for leftover in (DUCK_SRC, Path(f"{DUCK_SRC}.wal")):
        leftover.unlink(missing_ok=True)
    for table in TABLES:
        t0 = time.monotonic()
        export = f"COPY {table} TO STDOUT (FORMAT csv, NULL '\\N')"
        load = f"COPY {table} FROM '/dev/stdin' (FORMAT csv, NULLSTR '\\N')"
        run(sh(psql(SRC_DB, export)) + " | " + sh(duck_cmd(DUCK_SRC, create_sql("duck", table),
                                                            load, "CHECKPOINT")))  # fmt: skip
        _log(f"duck: {table} {sizes.rows(table):,} rows in {time.monotonic() - t0:.1f}s")


def use_scale(scale: float) -> None:
    """Point the source names at ``scale``'s data: scale 1.0 and e.g. 0.1 live side by side."""
    global SRC_DB, SQLITE_SRC, DUCK_SRC, MANIFEST, TAG
    TAG = tag = "" if scale == 1.0 else "_s" + format(scale, "g").replace(".", "_")
    SRC_DB = f"{DB_PREFIX}_src{tag}"
    SQLITE_SRC = DATA_DIR / f"src{tag}.db"
    DUCK_SRC = DATA_DIR / f"src{tag}.duckdb"
    MANIFEST = DATA_DIR / f"manifest{tag}.json"


def ensure_data(
    scale: float = 1.0, seed: int = 42, engines: tuple[str, ...] = ENGINES, force: bool = False
) -> dict[str, str]:
    """Make sure every engine in ``engines`` holds the data; return engine -> 'ok' or an error.

    PostgreSQL is always prepared (it is where the rows come from). An engine that fails is
    reported, not raised, so the benchmark can carry on with the others. Source databases are
    ``dmt_bench_src`` (PostgreSQL, MariaDB) and ``bench/out/data/src.db`` (SQLite), suffixed
    with the scale when it is not 1.0.
    """
    use_scale(scale)
    sizes = sizes_for(scale)
    manifest = _load_manifest()
    status: dict[str, str] = {}
    pg_fresh = False
    if force or not _is_current("pg", sizes, seed, manifest):
        _log(f"generating PostgreSQL data (scale {scale}, seed {seed})")
        generate_pg(sizes, seed)
        manifest["pg"] = {"seed": seed, "votes": sizes.votes, "posts": sizes.posts}
        _save_manifest(manifest)
        pg_fresh = True
    else:
        _log("pg: cached")
    status["pg"] = "ok"
    loaders = {"my": copy_pg_to_my, "sqlite": copy_pg_to_sqlite, "duck": copy_pg_to_duck}
    for engine in engines:
        if engine == "pg":
            continue
        try:
            if force or pg_fresh or not _is_current(engine, sizes, seed, manifest):
                loaders[engine](sizes)
                if not _is_current_counts(engine, sizes):
                    raise RuntimeError(f"{engine}: row counts differ after the load")
                manifest[engine] = {"seed": seed, "votes": sizes.votes, "posts": sizes.posts}
                _save_manifest(manifest)
            else:
                _log(f"{engine}: cached")
            status[engine] = "ok"
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            status[engine] = f"failed: {exc}"
            manifest.pop(engine, None)
            _save_manifest(manifest)
            _log(f"{engine}: FAILED: {exc}")
    return status


def _is_current_counts(engine: str, sizes: Sizes) -> bool:
    db: str | Path = src_file(engine) if engine in FILE_ENGINES else SRC_DB
    return all(count_rows(engine, db, t) == sizes.rows(t) for t in TABLES)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 2M votes, 200k posts")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of pg,my,sqlite,duck")
    ap.add_argument("--force", action="store_true", help="regenerate even when cached")
    args = ap.parse_args(argv)
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    unknown = set(engines) - set(ENGINES)
    if unknown:
        ap.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    status = ensure_data(args.scale, args.seed, engines, args.force)
    print(json.dumps(status, indent=2))
    return 0 if all(v == "ok" for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
