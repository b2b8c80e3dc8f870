"""SQLAlchemy 2 inspection (tables, columns, keys, comments) on both psycopg dialects, a Core
query on a reflected table, and pandas.read_sql."""
import pandas
import sqlalchemy as sa

from common import FACT_COLUMNS, FOREIGN_KEYS, REVENUE, REVENUE_SQL, STORE_COUNT, TABLES, URL, expect

for dialect in ("postgresql+psycopg2", "postgresql+psycopg"):
    engine = sa.create_engine(f"{dialect}://tester@{URL}")
    inspector = sa.inspect(engine)
    expect(inspector.get_schema_names(), ["information_schema", "public"], f"{dialect} schemas (as PostgreSQL)")
    expect(sorted(inspector.get_table_names()), TABLES, f"{dialect} tables")
    columns = inspector.get_columns("fact_sales")
    expect([(c["name"], str(c["type"])) for c in columns], FACT_COLUMNS, f"{dialect} columns")
    expect({c["nullable"] for c in columns}, {False}, f"{dialect} nullability")
    pk = inspector.get_pk_constraint("fact_sales")
    expect((pk["name"], pk["constrained_columns"]), ("fact_sales_pkey", ["sale_id"]), f"{dialect} primary key")
    foreign_keys = {
        fk["constrained_columns"][0]: (fk["referred_table"], fk["referred_columns"])
        for fk in inspector.get_foreign_keys("fact_sales")
    }
    expect(foreign_keys, {c: (t, [c]) for c, t in FOREIGN_KEYS.items()}, f"{dialect} foreign keys")
    expect(inspector.get_foreign_keys("dim_store"), [], f"{dialect} a dimension's foreign keys")
    comment = inspector.get_table_comment("fact_sales")["text"]
    expect(comment.startswith("One row per sale"), True, f"{dialect} table comment")
    amount = next(c for c in columns if c["name"] == "sale_amount")
    expect(amount["comment"], "Amount paid, after discount", f"{dialect} column comment")

    stores = sa.Table("dim_store", sa.MetaData(), autoload_with=engine)
    expect(stores.primary_key.columns.keys(), ["store_key"], f"{dialect} reflected primary key")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(stores.c.store_key).order_by(stores.c.store_key)).fetchall()
    expect([r[0] for r in rows], list(range(1, STORE_COUNT + 1)), f"{dialect} Core select")

    frame = pandas.read_sql(REVENUE_SQL, engine, coerce_float=False)
    expect(list(frame.columns), ["year", "revenue"], f"{dialect} pandas columns")
    expect(list(frame.itertuples(index=False, name=None)), REVENUE, f"{dialect} pandas rows")
print("sqlalchemy and pandas: ok")
