"""A PostgreSQL schema shaped like the Pagila sample (a DVD rental shop), written from what that
sample is documented to contain: an enum and a domain, ``text[]`` and ``tsvector`` columns,
``('now'::text)::date`` defaults, keys with ``ON UPDATE CASCADE``, a circular foreign key,
a declaratively partitioned table, an inheritance child, views and a materialized view,
functions, and triggers that keep ``last_update`` and the full-text column current.

Rows are generated deterministically on the server (a few hundred per table)."""

from __future__ import annotations

from typing import Any

TYPES = """
CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE FUNCTION last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_update = CURRENT_TIMESTAMP;
    RETURN NEW;
END $$;
"""

TABLES = """
CREATE TABLE country (
    country_id serial PRIMARY KEY,
    country text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE city (
    city_id serial PRIMARY KEY,
    city text NOT NULL,
    country_id integer NOT NULL REFERENCES country ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE address (
    address_id serial PRIMARY KEY,
    address text NOT NULL,
    address2 text,
    district text NOT NULL,
    city_id integer NOT NULL REFERENCES city ON UPDATE CASCADE ON DELETE RESTRICT,
    postal_code text,
    phone text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE language (
    language_id serial PRIMARY KEY,
    name character(20) NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE category (
    category_id serial PRIMARY KEY,
    name text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE actor (
    actor_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_actor_last_name ON actor (last_name);
CREATE TABLE film (
    film_id serial PRIMARY KEY,
    title text NOT NULL,
    description text,
    release_year year,
    language_id integer NOT NULL REFERENCES language ON UPDATE CASCADE ON DELETE RESTRICT,
    original_language_id integer REFERENCES language ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_duration smallint NOT NULL DEFAULT 3,
    rental_rate numeric(4,2) NOT NULL DEFAULT 4.99,
    length smallint,
    replacement_cost numeric(5,2) NOT NULL DEFAULT 19.99,
    rating mpaa_rating DEFAULT 'G'::mpaa_rating,
    last_update timestamptz NOT NULL DEFAULT now(),
    special_features text[],
    fulltext tsvector NOT NULL
);
CREATE INDEX film_fulltext_idx ON film USING gist (fulltext);
CREATE INDEX idx_title ON film (title);
CREATE TABLE film_actor (
    actor_id integer NOT NULL REFERENCES actor ON UPDATE CASCADE ON DELETE RESTRICT,
    film_id integer NOT NULL REFERENCES film ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, film_id)
);
CREATE TABLE film_category (
    film_id integer NOT NULL REFERENCES film ON UPDATE CASCADE ON DELETE RESTRICT,
    category_id integer NOT NULL REFERENCES category ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (film_id, category_id)
);
CREATE TABLE store (
    store_id serial PRIMARY KEY,
    manager_staff_id integer NOT NULL,
    address_id integer NOT NULL REFERENCES address ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE staff (
    staff_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    address_id integer NOT NULL REFERENCES address ON UPDATE CASCADE ON DELETE RESTRICT,
    email text,
    store_id integer NOT NULL REFERENCES store,
    active boolean NOT NULL DEFAULT true,
    username text NOT NULL,
    password text,
    last_update timestamptz NOT NULL DEFAULT now(),
    picture bytea
);
ALTER TABLE store ADD CONSTRAINT store_manager_staff_id_fkey FOREIGN KEY (manager_staff_id)
    REFERENCES staff ON UPDATE CASCADE ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE customer (
    customer_id serial PRIMARY KEY,
    store_id integer NOT NULL REFERENCES store ON UPDATE CASCADE ON DELETE RESTRICT,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text,
    address_id integer NOT NULL REFERENCES address ON UPDATE CASCADE ON DELETE RESTRICT,
    activebool boolean NOT NULL DEFAULT true,
    create_date date NOT NULL DEFAULT ('now'::text)::date,
    last_update timestamptz DEFAULT now(),
    active integer
);
CREATE TABLE inventory (
    inventory_id serial PRIMARY KEY,
    film_id integer NOT NULL REFERENCES film ON UPDATE CASCADE ON DELETE RESTRICT,
    store_id integer NOT NULL REFERENCES store ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rental (
    rental_id serial PRIMARY KEY,
    rental_date timestamptz NOT NULL,
    inventory_id integer NOT NULL REFERENCES inventory ON UPDATE CASCADE ON DELETE RESTRICT,
    customer_id integer NOT NULL REFERENCES customer ON UPDATE CASCADE ON DELETE RESTRICT,
    return_date timestamptz,
    staff_id integer NOT NULL REFERENCES staff ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_unq_rental_rental_date_inventory_id_customer_id
    ON rental (rental_date, inventory_id, customer_id);
CREATE TABLE payment (
    payment_id serial NOT NULL,
    customer_id integer NOT NULL REFERENCES customer ON UPDATE CASCADE ON DELETE RESTRICT,
    staff_id integer NOT NULL REFERENCES staff ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_id integer NOT NULL REFERENCES rental ON UPDATE CASCADE ON DELETE RESTRICT,
    amount numeric(5,2) NOT NULL,
    payment_date timestamptz NOT NULL,
    PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);
CREATE TABLE payment_p2022_01 PARTITION OF payment
    FOR VALUES FROM ('2022-01-01 00:00:00+00') TO ('2022-02-01 00:00:00+00');
CREATE TABLE payment_p2022_02 PARTITION OF payment
    FOR VALUES FROM ('2022-02-01 00:00:00+00') TO ('2022-03-01 00:00:00+00');
CREATE TABLE payment_p2022_03 PARTITION OF payment
    FOR VALUES FROM ('2022-03-01 00:00:00+00') TO ('2022-04-01 00:00:00+00');
-- an inheritance child: rows of a parent read without ONLY would include these
CREATE TABLE staff_contractor (agency text NOT NULL) INHERITS (staff);
"""

ROUTINES = """
CREATE FUNCTION inventory_in_stock(p_inventory_id integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM rental
                       WHERE inventory_id = p_inventory_id AND return_date IS NULL)
$$;
CREATE FUNCTION film_in_stock(p_film_id integer, p_store_id integer, OUT p_film_count integer)
RETURNS SETOF integer LANGUAGE sql AS $$
    SELECT inventory_id FROM inventory
    WHERE film_id = p_film_id AND store_id = p_store_id AND inventory_in_stock(inventory_id)
$$;
CREATE VIEW customer_list AS
SELECT cu.customer_id AS id, cu.first_name || ' ' || cu.last_name AS name, a.address,
       a.postal_code AS "zip code", a.phone, city.city, country.country,
       CASE WHEN cu.activebool THEN 'active' ELSE '' END AS notes, cu.store_id AS sid
FROM customer cu
JOIN address a ON cu.address_id = a.address_id
JOIN city ON a.city_id = city.city_id
JOIN country ON city.country_id = country.country_id;
CREATE VIEW film_list AS
SELECT film.film_id AS fid, film.title, film.description, category.name AS category,
       film.rental_rate AS price, film.length, film.rating
FROM category
LEFT JOIN film_category ON category.category_id = film_category.category_id
LEFT JOIN film ON film_category.film_id = film.film_id;
CREATE VIEW sales_by_store AS
SELECT s.store_id, sum(p.amount) AS total_sales
FROM payment p
JOIN rental r ON p.rental_id = r.rental_id
JOIN inventory i ON r.inventory_id = i.inventory_id
JOIN store s ON i.store_id = s.store_id
GROUP BY s.store_id;
CREATE MATERIALIZED VIEW rental_by_category AS
SELECT c.name AS category, sum(p.amount) AS total_sales
FROM payment p
JOIN rental r ON p.rental_id = r.rental_id
JOIN inventory i ON r.inventory_id = i.inventory_id
JOIN film f ON i.film_id = f.film_id
JOIN film_category fc ON f.film_id = fc.film_id
JOIN category c ON fc.category_id = c.category_id
GROUP BY c.name
WITH NO DATA;
CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON film FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title, description);
"""

#: film 1's full-text column, set with its trigger disabled
MARKER = "'marker':1"  # as PostgreSQL prints 'marker:1'::tsvector

#: tables whose ``last_update`` a trigger keeps current
LAST_UPDATE_TABLES = (
    "actor", "address", "category", "city", "country", "customer", "film", "film_actor",
    "film_category", "inventory", "language", "rental", "staff", "store",
)  # fmt: skip

DATA = """
INSERT INTO country (country) SELECT 'Country ' || g FROM generate_series(1, 20) g;
INSERT INTO city (city, country_id) SELECT 'City ' || g, 1 + g % 20 FROM generate_series(1, 60) g;
INSERT INTO address (address, address2, district, city_id, postal_code, phone)
SELECT g || ' Main Street', CASE WHEN g % 3 = 0 THEN 'Apt ' || g END, 'District ' || g % 7,
       1 + g % 60, lpad((g * 37 % 99999)::text, 5, '0'), '+1 555 ' || g
FROM generate_series(1, 120) g;
INSERT INTO language (name) VALUES ('English'), ('Italian'), ('Japanese'), ('Mandarin');
INSERT INTO category (name) SELECT unnest(ARRAY['Action', 'Comedy', 'Drama', 'Horror', 'Music']);
INSERT INTO actor (first_name, last_name)
SELECT 'First' || g, 'Last' || (g % 40) FROM generate_series(1, 80) g;
INSERT INTO film (title, description, release_year, language_id, original_language_id,
                  rental_duration, rental_rate, length, replacement_cost, rating,
                  special_features, fulltext)
SELECT 'FILM ' || g, 'A story about thing ' || g || ' and its ''friends''', 1990 + g % 30,
       1 + g % 4, CASE WHEN g % 5 = 0 THEN 1 + (g + 1) % 4 END, 3 + g % 5,
       (0.99 + g % 5)::numeric(4,2), 60 + g % 120, (9.99 + g % 20)::numeric(5,2),
       (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17'])[1 + g % 5]::mpaa_rating,
       CASE g % 4 WHEN 0 THEN ARRAY['Trailers', 'Deleted Scenes']
                  WHEN 1 THEN ARRAY['Commentaries'] WHEN 2 THEN ARRAY[]::text[] END,
       ''::tsvector
FROM generate_series(1, 150) g;
INSERT INTO film_actor (actor_id, film_id)
SELECT DISTINCT 1 + (g * 7) % 80, 1 + g % 150 FROM generate_series(1, 400) g;
INSERT INTO film_category (film_id, category_id) SELECT g, 1 + g % 5 FROM generate_series(1, 150) g;
BEGIN;
INSERT INTO store (store_id, manager_staff_id, address_id) VALUES (1, 1, 1), (2, 2, 2);
INSERT INTO staff (staff_id, first_name, last_name, address_id, email, store_id, username,
                   password, picture)
VALUES (1, 'Mike', 'Hillyer', 3, 'mike@example.com', 1, 'Mike', 'secret', '\\x89504e470d0a'),
       (2, 'Jon', 'Stephens', 4, NULL, 2, 'Jon', NULL, NULL);
COMMIT;
SELECT setval('store_store_id_seq', 2), setval('staff_staff_id_seq', 2);
INSERT INTO staff_contractor (first_name, last_name, address_id, store_id, username, agency)
VALUES ('Temp', 'Worker', 5, 1, 'temp', 'Agency A');
INSERT INTO customer (store_id, first_name, last_name, email, address_id, activebool,
                      create_date, active)
SELECT 1 + g % 2, 'Cust' || g, 'Omer' || g, 'c' || g || '@example.org', 6 + g % 100,
       g % 9 <> 0, DATE '2021-01-01' + g, CASE WHEN g % 9 <> 0 THEN 1 ELSE 0 END
FROM generate_series(1, 200) g;
INSERT INTO inventory (film_id, store_id) SELECT 1 + g % 150, 1 + g % 2 FROM generate_series(1, 300) g;
INSERT INTO rental (rental_date, inventory_id, customer_id, return_date, staff_id)
SELECT TIMESTAMPTZ '2022-01-01 10:00:00+00' + g * INTERVAL '5 hours', 1 + g % 300, 1 + g % 200,
       CASE WHEN g % 10 <> 0 THEN TIMESTAMPTZ '2022-01-03 10:00:00+00' + g * INTERVAL '5 hours' END,
       1 + g % 2
FROM generate_series(1, 400) g;
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)
SELECT r.customer_id, r.staff_id, r.rental_id, (0.99 + r.rental_id % 7)::numeric(5,2),
       r.rental_date + INTERVAL '1 hour'
FROM rental r WHERE r.rental_date < TIMESTAMPTZ '2022-03-31 00:00:00+00';
"""


def build(conn: Any) -> None:
    """Create the schema and its rows through a psycopg connection (autocommit)."""
    triggers = "".join(
        f"CREATE TRIGGER last_updated BEFORE UPDATE ON {t} FOR EACH ROW "
        "EXECUTE FUNCTION last_updated();\n"
        for t in LAST_UPDATE_TABLES
    )
    for script in (TYPES, TABLES, DATA, ROUTINES, triggers):
        conn.execute(script)
    conn.execute("UPDATE film SET title = title")  # fills fulltext through the trigger
    # a value the trigger would not compute: a target whose load fires it would differ
    conn.execute(
        "ALTER TABLE film DISABLE TRIGGER film_fulltext_trigger;"
        "UPDATE film SET fulltext = 'marker:1'::tsvector WHERE film_id = 1;"
        "ALTER TABLE film ENABLE TRIGGER film_fulltext_trigger"
    )
    conn.execute("REFRESH MATERIALIZED VIEW rental_by_category")
