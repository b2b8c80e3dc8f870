"""psycopg2: the simple protocol with client-side parameters, named (server-side) cursors,
COPY, error codes and per-connection settings."""
import datetime
import io
from decimal import Decimal

import psycopg2
import psycopg2.errors

from common import DSN, REVENUE, REVENUE_SQL, STORE2_AMOUNT, STORE2_COUNT, STORE2_SQL, STORE_COUNT, expect

conn = psycopg2.connect(DSN)
expect(conn.server_version >= 160000, True, "server_version")
cur = conn.cursor()

cur.execute(STORE2_SQL.format("%s"), (2,))
expect(cur.fetchone(), (STORE2_COUNT, STORE2_AMOUNT), "store 2's sales")
cur.execute(REVENUE_SQL)
expect(cur.fetchall(), REVENUE, "revenue by year")
expect([d.name for d in cur.description], ["year", "revenue"], "column names")

# Values come back as the Python types their PostgreSQL types map to.
cur.execute(
    "SELECT 1::smallint, 2::int, 3::bigint, 1.5::float8, 'naïve'::text, true, "
    "DATE '2024-02-29', TIMESTAMP '2024-01-02 03:04:05.123456', 12.34::numeric(10,2), NULL::int"
)
expect(
    cur.fetchone(),
    (1, 2, 3, 1.5, "naïve", True, datetime.date(2024, 2, 29),
     datetime.datetime(2024, 1, 2, 3, 4, 5, 123456), Decimal("12.34"), None),
    "typed values",
)
# Parameters (interpolated by the client) round-trip.
values = (datetime.date(1999, 12, 31), Decimal("-0.001"), "it's", None, 2**40)
cur.execute("SELECT %s, %s, %s, %s, %s", values)
expect(cur.fetchone(), values, "parameters")

# A named cursor pages through a result with FETCH.
conn.commit()
named = conn.cursor("sales_of_store_2")
named.itersize = 100
named.execute("SELECT sale_id FROM fact_sales WHERE store_key = %s ORDER BY sale_id", (2,))
ids = [row[0] for row in named]
expect(len(ids), STORE2_COUNT, "rows through a named cursor")
expect(ids, sorted(ids), "order through a named cursor")
named.close()
conn.commit()

# COPY ... TO STDOUT.
out = io.StringIO()
cur.copy_expert("COPY (SELECT store_key, store_name FROM dim_store ORDER BY store_key) TO STDOUT WITH CSV HEADER", out)
lines = out.getvalue().splitlines()
expect(lines[0], "store_key,store_name", "COPY header")
expect(len(lines), STORE_COUNT + 1, "COPY lines")

# Errors carry PostgreSQL's SQLSTATE; a failed transaction refuses work until rolled back.
for sql, error in [
    ("SELECT * FROM no_such_table", psycopg2.errors.UndefinedTable),
    ("SELECT no_such_column FROM dim_store", psycopg2.errors.UndefinedColumn),
    ("SELEC 1", psycopg2.errors.SyntaxError),
    ("SELECT 1/0", psycopg2.errors.DivisionByZero),
    ("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp'", psycopg2.errors.InsufficientPrivilege),
]:
    try:
        cur.execute(sql)
        raise AssertionError(f"{sql} succeeded")
    except error:
        pass
    try:
        cur.execute("SELECT 1")
        raise AssertionError("a failed transaction went on")
    except psycopg2.errors.InFailedSqlTransaction:
        pass
    conn.rollback()
cur.execute("SELECT 1")
expect(cur.fetchone(), (1,), "after rollback")

# Settings belong to their connection.
conn.commit()
conn.autocommit = True
cur.execute("SET application_name = 'mine'")
other = psycopg2.connect(DSN).cursor()
other.execute("SHOW application_name")
expect(other.fetchone(), ("drivers",), "another connection's application_name")
cur.execute("SHOW application_name")
expect(cur.fetchone(), ("mine",), "this connection's application_name")
print("psycopg2: ok")
