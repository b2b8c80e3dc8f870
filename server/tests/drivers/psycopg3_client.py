"""psycopg 3: the extended protocol with server-side, client-declared and binary parameters,
prepared statements, binary results, server-side cursors and binary COPY."""
import datetime
from decimal import Decimal

import psycopg
import psycopg.errors

from common import DSN, REVENUE, REVENUE_SQL, STORE2_AMOUNT, STORE2_COUNT, STORE2_SQL, STORE_COUNT, expect

with psycopg.connect(DSN) as conn:
    cur = conn.cursor()
    # Parameters travel separately from the query ($1), in text and in binary.
    cur.execute(STORE2_SQL.format("%s"), (2,))
    expect(cur.fetchone(), (STORE2_COUNT, STORE2_AMOUNT), "store 2's sales")
    cur.execute(STORE2_SQL.format("%b"), (2,))
    expect(cur.fetchone(), (STORE2_COUNT, STORE2_AMOUNT), "store 2's sales, binary parameter")

    # Client-declared parameter types decide the result's types.
    values = (b"\x00\x01\xff", datetime.date(2024, 2, 29), "text", 7, 2.5, True,
              datetime.datetime(2024, 1, 2, 3, 4, 5, 6))
    cur.execute("SELECT %b, %t, %s, %s, %s, %s, %s", values)
    expect(cur.fetchone(), values, "declared parameters")
    expect(cur.description[0].type_code, 17, "bytea result type")

    # Prepared statements, used again and again.
    for year, amount in REVENUE:
        cur.execute(
            "SELECT sum(f.sale_amount) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key WHERE d.year = %s",
            (year,),
            prepare=True,
        )
        expect(cur.fetchone(), (amount,), f"revenue of {year}")

    # Binary results.
    binary = conn.cursor(binary=True)
    binary.execute(REVENUE_SQL)
    expect(binary.fetchall(), REVENUE, "revenue by year, binary")
    binary.execute("SELECT 12345678901234567890123456.789012345678::numeric(38,12), -0.5::numeric(3,1), "
                   "DATE '1970-01-01', TIMESTAMP '2000-01-01 00:00:00', 'x'::text, NULL::bigint")
    expect(binary.fetchone(), (Decimal("12345678901234567890123456.789012345678"), Decimal("-0.5"),
                               datetime.date(1970, 1, 1), datetime.datetime(2000, 1, 1), "x", None),
           "binary values")

    # A server-side cursor, read in pages, in text and in binary.
    for binary_rows in (False, True):
        with conn.cursor(name="paged", binary=binary_rows) as paged:
            paged.itersize = 64
            paged.execute("SELECT sale_id, sale_amount FROM fact_sales WHERE store_key = %s ORDER BY sale_id", (2,))
            rows = list(paged)
        expect(len(rows), STORE2_COUNT, "rows through a server-side cursor")
        expect(sum(amount for _, amount in rows), STORE2_AMOUNT, "amounts through a server-side cursor")
    conn.commit()

    # Binary COPY TO STDOUT.
    with cur.copy("COPY (SELECT store_key, store_name FROM dim_store ORDER BY store_key) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "text"])
        rows = list(copy.rows())
    expect(len(rows), STORE_COUNT, "binary COPY rows")
    expect([key for key, _ in rows], list(range(1, STORE_COUNT + 1)), "binary COPY keys")

    # Errors carry PostgreSQL's SQLSTATE.
    for sql, sqlstate in [("SELECT * FROM nope", "42P01"), ("SELECT 1/0", "22012"), ("SELECT %s::int", "22P02")]:
        try:
            cur.execute(sql, ("not a number",) if "%s" in sql else None)
            raise AssertionError(f"{sql} succeeded")
        except psycopg.Error as error:
            expect(error.sqlstate, sqlstate, sql)
        conn.rollback()
print("psycopg 3: ok")
