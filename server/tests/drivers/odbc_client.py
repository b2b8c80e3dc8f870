"""psqlODBC (the PostgreSQL ODBC driver, under Excel, Tableau's ODBC path and many BI tools),
through pyodbc: connect (with the queries the driver sends then), a parameterized query, and the
catalog functions SQLTables, SQLColumns, SQLPrimaryKeys and SQLForeignKeys."""
import os
from decimal import Decimal

import pyodbc

from common import FACT_COLUMNS, FOREIGN_KEYS, HOST, PORT, STORE2_AMOUNT, STORE2_COUNT, STORE2_SQL, TABLES, expect

DRIVER = "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so"
assert os.path.exists(DRIVER), f"{DRIVER} is missing: install odbc-postgresql (as .ci/run does)"
conn = pyodbc.connect(f"DRIVER={DRIVER};SERVER={HOST};PORT={PORT};DATABASE=starhouse;UID=tester;PWD=-", autocommit=True)
cur = conn.cursor()
expect(tuple(cur.execute(STORE2_SQL.format("?"), 2).fetchone()), (STORE2_COUNT, STORE2_AMOUNT), "store 2's sales")
expect(sorted(r.table_name for r in cur.tables(schema="public", tableType="TABLE")), TABLES, "SQLTables")
columns = [(r.column_name, r.type_name, r.nullable) for r in cur.columns(table="fact_sales", schema="public")]
odbc_types = {"BIGINT": "int8", "INTEGER": "int4", "NUMERIC(10, 2)": "numeric"}
expect(columns, [(name, odbc_types[sql], 0) for name, sql in FACT_COLUMNS], "SQLColumns")
primary = [(r.column_name, r.pk_name) for r in cur.primaryKeys(table="fact_sales", schema="public")]
expect(primary, [("sale_id", "fact_sales_pkey")], "SQLPrimaryKeys")
foreign = {
    r.fkcolumn_name: (r.pktable_name, r.pkcolumn_name)
    for r in cur.foreignKeys(foreignTable="fact_sales", foreignSchema="public")
}
expect(foreign, {column: (table, column) for column, table in FOREIGN_KEYS.items()}, "SQLForeignKeys")
expect(cur.execute("SELECT 12.5::numeric(5,2)").fetchone()[0], Decimal("12.50"), "a numeric")
print("psqlODBC: ok")
