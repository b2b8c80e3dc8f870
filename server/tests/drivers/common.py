"""What every driver test shares: where the server is, and what the warehouse holds.

The Rust harness (tests/it/drivers.rs) starts the server on a demo warehouse and computes the
expected answers with the engine in process, not over the wire; they arrive in the environment.
"""
import os
from decimal import Decimal

HOST = "127.0.0.1"
PORT = int(os.environ["STARHOUSE_PORT"])
DSN = f"host={HOST} port={PORT} user=tester dbname=starhouse application_name=drivers"
URL = f"{HOST}:{PORT}/starhouse"

# The sales of store 2: how many, and their total amount.
STORE2_COUNT = int(os.environ["EXPECTED_STORE2_COUNT"])
STORE2_AMOUNT = Decimal(os.environ["EXPECTED_STORE2_AMOUNT"])
# Revenue by year, in year order.
REVENUE = [
    (int(year), Decimal(amount))
    for year, amount in (pair.split(":") for pair in os.environ["EXPECTED_REVENUE"].split(","))
]
STORE_COUNT = int(os.environ["EXPECTED_STORE_COUNT"])

TABLES = ["dim_customer", "dim_date", "dim_product", "dim_store", "fact_sales"]
FACT_COLUMNS = [
    ("sale_id", "BIGINT"),
    ("date_key", "INTEGER"),
    ("product_key", "INTEGER"),
    ("store_key", "INTEGER"),
    ("customer_key", "INTEGER"),
    ("sale_amount", "NUMERIC(10, 2)"),
    ("sale_quantity", "INTEGER"),
]
FOREIGN_KEYS = {
    "customer_key": "dim_customer",
    "date_key": "dim_date",
    "product_key": "dim_product",
    "store_key": "dim_store",
}

STORE2_SQL = "SELECT count(*), sum(sale_amount) FROM fact_sales WHERE store_key = {}"
REVENUE_SQL = (
    "SELECT d.year, sum(f.sale_amount) AS revenue FROM fact_sales f "
    "JOIN dim_date d ON f.date_key = d.date_key GROUP BY d.year ORDER BY d.year"
)


def expect(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"
