"""A small deterministic SQLite database shaped like StackOverflow, for the quick start and tests.

``python -m dmt.sample out.db [--scale N]`` writes it. Users, posts, comments, votes and tags,
with unicode text, NULLs, timestamps, floats, booleans and blobs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  display_name VARCHAR(80) NOT NULL,
  reputation INTEGER NOT NULL DEFAULT 1,
  location TEXT,
  about_me TEXT,
  creation_date DATETIME NOT NULL,
  last_access_date DATETIME,
  is_moderator BOOLEAN NOT NULL DEFAULT 0,
  avatar BLOB
);
CREATE TABLE tags (
  id INTEGER PRIMARY KEY,
  tag_name VARCHAR(35) NOT NULL UNIQUE,
  count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE posts (
  id INTEGER PRIMARY KEY,
  post_type_id SMALLINT NOT NULL,
  owner_user_id INTEGER REFERENCES users(id),
  parent_id INTEGER REFERENCES posts(id),
  title VARCHAR(250),
  body TEXT NOT NULL,
  score INTEGER NOT NULL DEFAULT 0,
  view_count INTEGER,
  tags VARCHAR(250),
  creation_date DATETIME NOT NULL,
  closed_date DATETIME,
  hotness REAL
);
CREATE INDEX posts_owner_idx ON posts(owner_user_id);
CREATE TABLE comments (
  id INTEGER PRIMARY KEY,
  post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
  user_id INTEGER REFERENCES users(id),
  score INTEGER NOT NULL DEFAULT 0,
  text VARCHAR(600) NOT NULL,
  creation_date DATETIME NOT NULL
);
CREATE TABLE votes (
  id INTEGER PRIMARY KEY,
  post_id INTEGER NOT NULL REFERENCES posts(id),
  user_id INTEGER REFERENCES users(id),
  bounty_amount INTEGER,
  vote_type_id SMALLINT NOT NULL,
  creation_date DATE NOT NULL
);
CREATE INDEX votes_post_idx ON votes(post_id);
"""

WORDS = [
    "python",
    "sql",
    "index",
    "query",
    "join",
    "migrate",
    "table",
    "schema",
    "row",
    "column",
    "cursor",
    "commit",
    "rollback",
    "café",
    "naïve",
    "東京",
    "данные",
    "δεδομένα",
    "🚀",
    "数据库",
    "emoji",
    "ünïcödé",
    "Zürich",
]
TAGS = ["python", "sql", "postgresql", "mysql", "sqlite", "c++", "c#", "naïve-bayes", "日本語"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _ts(rng: random.Random, base: dt.datetime) -> str:
    t = base + dt.timedelta(
        seconds=rng.randrange(0, 400 * 86400), microseconds=rng.randrange(0, 10**6)
    )
    return t.isoformat(" ")


def build(path: str | Path, scale: int = 1, seed: int = 42) -> dict[str, int]:
    """Write the sample database at ``path`` (replacing it); return rows per table."""
    p = Path(path)
    if p.exists():
        p.unlink()
    rng = random.Random(seed)
    base = dt.datetime(2008, 7, 31, 21, 42, 52)
    n_users, n_posts, n_comments, n_votes = 300 * scale, 1000 * scale, 1500 * scale, 3000 * scale
    conn = sqlite3.connect(p)
    conn.executescript(SCHEMA)
    conn.executemany(
        "INSERT INTO users VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (
                i,
                f"user{i} {rng.choice(WORDS)}",
                rng.randrange(1, 100_000),
                rng.choice([None, "Zürich", "東京", "São Paulo", ""]),
                None if i % 7 == 0 else _text(rng, rng.randrange(0, 40)),
                _ts(rng, base),
                None if i % 5 == 0 else _ts(rng, base),
                1 if i % 50 == 0 else 0,
                None if i % 3 else bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))),
            )
            for i in range(1, n_users + 1)
        ],
    )
    conn.executemany(
        "INSERT INTO tags VALUES (?,?,?)",
        [(i + 1, t, rng.randrange(0, 5000)) for i, t in enumerate(TAGS)],
    )
    posts = []
    for i in range(1, n_posts + 1):
        question = i <= n_posts // 3 or rng.random() < 0.3
        posts.append(
            (
                i,
                1 if question else 2,
                None if i % 11 == 0 else rng.randrange(1, n_users + 1),
                None if question or i < 2 else rng.randrange(1, i),
                _text(rng, 8) if question else None,
                "<p>" + _text(rng, rng.randrange(5, 120)) + "</p>",
                rng.randrange(-10, 500),
                rng.randrange(0, 100_000) if question else None,
                "<" + "><".join(rng.sample(TAGS, 2)) + ">" if question else None,
                _ts(rng, base),
                _ts(rng, base) if i % 17 == 0 else None,
                None if i % 9 == 0 else rng.random() * 1000,
            )
        )
    conn.executemany("INSERT INTO posts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", posts)
    conn.executemany(
        "INSERT INTO comments VALUES (?,?,?,?,?,?)",
        [
            (
                i,
                rng.randrange(1, n_posts + 1),
                None if i % 13 == 0 else rng.randrange(1, n_users + 1),
                rng.randrange(0, 50),
                _text(rng, rng.randrange(1, 30)),
                _ts(rng, base),
            )
            for i in range(1, n_comments + 1)
        ],
    )
    conn.executemany(
        "INSERT INTO votes VALUES (?,?,?,?,?,?)",
        [
            (
                i,
                rng.randrange(1, n_posts + 1),
                None if i % 4 else rng.randrange(1, n_users + 1),
                rng.choice([None, None, None, 50, 100, 500]),
                rng.randrange(1, 16),
                (base.date() + dt.timedelta(days=rng.randrange(0, 4000))).isoformat(),
            )
            for i in range(1, n_votes + 1)
        ],
    )
    conn.commit()
    counts = {
        t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        for t in ("users", "tags", "posts", "comments", "votes")
    }
    conn.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description="Write the StackOverflow-shaped sample database.")
    ap.add_argument("path")
    ap.add_argument("--scale", type=int, default=1)
    args = ap.parse_args()
    counts = build(args.path, args.scale)
    print(", ".join(f"{t}={n}" for t, n in counts.items()))


if __name__ == "__main__":
    main()
