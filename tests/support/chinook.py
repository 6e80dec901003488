"""A SQLite file shaped like the Chinook sample (a music store), written from what that sample
is documented to contain: artists, albums, tracks with media types and genres, customers,
invoices and their lines, playlists with a composite-key link table. It adds what a real
SQLite file has: a STRICT table, a WITHOUT ROWID table, a generated column, a partial and an
expression index, a view over a view, an AUTOINCREMENT counter past the last row, and a
trigger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE artist (artist_id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE album (album_id INTEGER PRIMARY KEY, title TEXT NOT NULL,
    artist_id INTEGER NOT NULL REFERENCES artist (artist_id));
CREATE TABLE genre (genre_id INTEGER PRIMARY KEY, name TEXT) STRICT;
CREATE TABLE media_type (media_type_id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE track (track_id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
    album_id INTEGER REFERENCES album (album_id),
    media_type_id INTEGER NOT NULL REFERENCES media_type (media_type_id),
    genre_id INTEGER REFERENCES genre (genre_id), composer TEXT,
    milliseconds INTEGER NOT NULL, bytes INTEGER, unit_price NUMERIC(10,2) NOT NULL,
    seconds INTEGER GENERATED ALWAYS AS (milliseconds / 1000) VIRTUAL);
CREATE INDEX ifk_track_album_id ON track (album_id);
CREATE INDEX ix_track_long ON track (milliseconds) WHERE milliseconds > 300000;
CREATE INDEX ix_track_lower_name ON track (lower(name));
CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, first_name TEXT NOT NULL,
    last_name TEXT NOT NULL COLLATE NOCASE, email TEXT NOT NULL UNIQUE, country TEXT);
CREATE TABLE invoice (invoice_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customer (customer_id),
    invoice_date DATETIME NOT NULL, total NUMERIC(10,2) NOT NULL CHECK (total >= 0));
CREATE TABLE invoice_line (invoice_line_id INTEGER PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoice (invoice_id),
    track_id INTEGER NOT NULL REFERENCES track (track_id),
    unit_price NUMERIC(10,2) NOT NULL, quantity INTEGER NOT NULL);
CREATE TABLE playlist (playlist_id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE playlist_track (playlist_id INTEGER NOT NULL REFERENCES playlist (playlist_id),
    track_id INTEGER NOT NULL REFERENCES track (track_id),
    PRIMARY KEY (playlist_id, track_id)) WITHOUT ROWID;
CREATE TABLE sales_log (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL, note TEXT);
"""

_N = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {}) "
DATA = [
    _N.format(30) + "INSERT INTO artist SELECT i, 'Artist ' || i FROM n",
    _N.format(40) + "INSERT INTO album SELECT i, 'Album ' || i, 1 + i % 30 FROM n",
    "INSERT INTO genre VALUES (1, 'Rock'), (2, 'Jazz'), (3, 'Metal'), (4, 'Latin'), (5, 'Blues')",
    "INSERT INTO media_type VALUES (1, 'MPEG audio file'), (2, 'AAC audio file'), (3, NULL)",
    _N.format(400)
    + "INSERT INTO track (track_id, name, album_id, media_type_id, genre_id, composer,"
    " milliseconds, bytes, unit_price) SELECT i, 'Track ' || i, 1 + i % 40, 1 + i % 3,"
    " 1 + i % 5, CASE WHEN i % 4 = 0 THEN NULL ELSE 'Composer ' || (i % 17) END,"
    " 120000 + i * 997, 3000000 + i * 4111, 0.99 + (i % 2) FROM n",
    "DELETE FROM track WHERE track_id > 390",  # the AUTOINCREMENT counter stays at 400
    _N.format(60)
    + "INSERT INTO customer SELECT i, 'First' || i, CASE WHEN i % 2 THEN 'smith' ELSE 'Jones' END"
    " || i, 'c' || i || '@example.com', CASE WHEN i % 3 THEN 'USA' ELSE 'Brazil' END FROM n",
    _N.format(200)
    + "INSERT INTO invoice SELECT i, 1 + i % 60, datetime('2021-01-01', '+' || i || ' hours'),"
    " round((i % 13) * 1.98, 2) FROM n",
    _N.format(600)
    + "INSERT INTO invoice_line SELECT i, 1 + i % 200, 1 + i % 390, 0.99, 1 + i % 2 FROM n",
    "INSERT INTO playlist VALUES (1, 'Music'), (2, 'Movies'), (3, '90s')",
    _N.format(390) + "INSERT INTO playlist_track SELECT 1 + i % 3, i FROM n",
]

OBJECTS = """
CREATE VIEW invoice_totals AS
    SELECT i.invoice_id, i.customer_id, sum(l.unit_price * l.quantity) AS lines
    FROM invoice i JOIN invoice_line l ON l.invoice_id = i.invoice_id GROUP BY i.invoice_id;
CREATE VIEW customer_spend AS
    SELECT c.customer_id, c.last_name, sum(t.lines) AS spend
    FROM customer c JOIN invoice_totals t ON t.customer_id = c.customer_id
    GROUP BY c.customer_id;
CREATE TRIGGER invoice_logged AFTER INSERT ON invoice
BEGIN
    INSERT INTO sales_log (invoice_id, note) VALUES (NEW.invoice_id, 'new invoice');
END;
"""

#: the tables dmt copies
TABLES = [
    "album", "artist", "customer", "genre", "invoice", "invoice_line", "media_type",
    "playlist", "playlist_track", "sales_log", "track",
]  # fmt: skip


def build(path: Path) -> None:
    """Create the file at ``path`` with its rows; the trigger comes after them."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    for sql in DATA:
        conn.execute(sql)
    conn.commit()
    conn.executescript(OBJECTS)
    conn.close()
