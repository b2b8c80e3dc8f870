"""asyncpg: binary results throughout, pg_type introspection, prepared statements, cursors in a
transaction, COPY and error codes."""
import asyncio
import datetime
import io
from decimal import Decimal

import asyncpg

from common import HOST, PORT, REVENUE, REVENUE_SQL, STORE2_AMOUNT, STORE2_COUNT, STORE2_SQL, STORE_COUNT, expect


async def main():
    conn = await asyncpg.connect(host=HOST, port=PORT, user="tester", database="starhouse")
    row = await conn.fetchrow(STORE2_SQL.format("$1"), 2)
    expect((row["count"], row["sum"]), (STORE2_COUNT, STORE2_AMOUNT), "store 2's sales")
    expect([tuple(r) for r in await conn.fetch(REVENUE_SQL)], REVENUE, "revenue by year")

    # Parameter types come from the statement's description ($1::int is an int4).
    expect(await conn.fetchval("SELECT $1::int + 1", 41), 42, "a cast parameter")
    expect(await conn.fetchval("SELECT $1::date", datetime.date(2024, 2, 29)), datetime.date(2024, 2, 29), "a date")

    row = await conn.fetchrow(
        "SELECT 1::smallint AS a, 2::bigint AS b, 1.25::float8 AS c, 'x'::text AS d, true AS e, "
        "DATE '2024-01-02' AS f, TIMESTAMP '2024-01-02 03:04:05.5' AS g, 12.34::numeric(10,2) AS h"
    )
    expect(tuple(row), (1, 2, 1.25, "x", True, datetime.date(2024, 1, 2),
                        datetime.datetime(2024, 1, 2, 3, 4, 5, 500000), Decimal("12.34")), "binary values")

    statement = await conn.prepare("SELECT product_key FROM dim_product WHERE product_key <= $1 ORDER BY 1")
    expect([r[0] for r in await statement.fetch(3)], [1, 2, 3], "a prepared statement")
    expect([r[0] for r in await statement.fetch(1)], [1], "the prepared statement again")

    async with conn.transaction():
        cursor = await conn.cursor("SELECT sale_id FROM fact_sales WHERE store_key = $1 ORDER BY sale_id", 2)
        first = await cursor.fetch(10)
        rest = await cursor.fetch(STORE2_COUNT)
        expect(len(first) + len(rest), STORE2_COUNT, "rows through a cursor")

    out = io.BytesIO()
    await conn.copy_from_query("SELECT store_key FROM dim_store ORDER BY 1", output=out, format="csv")
    expect(out.getvalue().decode().split(), [str(k) for k in range(1, STORE_COUNT + 1)], "COPY to a file")

    for sql, error in [
        ("SELECT * FROM nope", asyncpg.exceptions.UndefinedTableError),
        ("SELECT 1/0", asyncpg.exceptions.DivisionByZeroError),
        ("SELECT nope FROM dim_store", asyncpg.exceptions.UndefinedColumnError),
    ]:
        try:
            await conn.fetch(sql)
            raise AssertionError(f"{sql} succeeded")
        except error:
            pass
    expect(await conn.fetchval("SELECT 1"), 1, "after errors")
    await conn.close()


asyncio.run(main())
print("asyncpg: ok")
