// node-postgres: parameters left to the server to type (every OID 0), text results, a cursor read
// in pages (Execute with a row limit, PortalSuspended), and error codes. Expected answers arrive in
// the environment, computed by the Rust harness with the engine in process.
const assert = require("node:assert/strict");
const { Client } = require("pg");
const Cursor = require("pg-cursor");

const expected = {
  store2Count: Number(process.env.EXPECTED_STORE2_COUNT),
  store2Amount: process.env.EXPECTED_STORE2_AMOUNT,
  revenue: process.env.EXPECTED_REVENUE.split(",").map((pair) => pair.split(":")),
  storeCount: Number(process.env.EXPECTED_STORE_COUNT),
};

async function main() {
  const client = new Client({ host: "127.0.0.1", port: Number(process.env.STARHOUSE_PORT), user: "tester", database: "starhouse" });
  await client.connect();

  // $1 is typed by the server from what it is compared with.
  const store2 = await client.query("SELECT count(*) AS n, sum(sale_amount) AS amount FROM fact_sales WHERE store_key = $1", [2]);
  assert.equal(Number(store2.rows[0].n), expected.store2Count, "store 2's count");
  assert.equal(store2.rows[0].amount, expected.store2Amount, "store 2's amount, as numeric text");
  assert.deepEqual(store2.fields.map((f) => f.dataTypeID), [20, 1700], "int8 and numeric");

  const revenue = await client.query({
    text: "SELECT d.year, sum(f.sale_amount) AS revenue FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key GROUP BY d.year ORDER BY d.year",
    rowMode: "array",
  });
  assert.deepEqual(revenue.rows.map(([year, amount]) => [String(year), amount]), expected.revenue, "revenue by year");

  // A named prepared statement, twice, with parameters of several types.
  for (const limit of [3, 5]) {
    const result = await client.query({ name: "products", text: "SELECT product_key FROM dim_product WHERE product_key <= $1 ORDER BY 1", values: [limit] });
    assert.deepEqual(result.rows.map((r) => r.product_key), [...Array(limit).keys()].map((i) => i + 1), "prepared statement");
  }
  const typed = await client.query("SELECT $1::date AS d, $2::text AS t, $3::boolean AS b, DATE '2024-02-29' AS leap", ["2024-01-02", "x", true]);
  assert.equal(typed.rows[0].t, "x");
  assert.equal(typed.rows[0].b, true);
  assert.equal(typed.rows[0].leap.getDate(), 29);

  // A cursor: pages of 100 rows until it is exhausted.
  const cursor = client.query(new Cursor("SELECT sale_id FROM fact_sales WHERE store_key = $1 ORDER BY sale_id", [2]));
  let seen = 0;
  let pages = 0;
  for (;;) {
    const rows = await cursor.read(100);
    if (rows.length === 0) break;
    seen += rows.length;
    pages += 1;
  }
  await cursor.close();
  assert.equal(seen, expected.store2Count, "rows through a cursor");
  assert.equal(pages, Math.ceil(expected.store2Count / 100), "pages through a cursor");

  for (const [sql, code] of [["SELECT * FROM nope", "42P01"], ["SELECT 1/0", "22012"], ["SELEC 1", "42601"]]) {
    await assert.rejects(client.query(sql), (error) => error.code === code, sql);
  }
  const after = await client.query("SELECT count(*)::int AS n FROM dim_store");
  assert.equal(after.rows[0].n, expected.storeCount, "the connection goes on after errors");
  await client.end();
  console.log("node-postgres: ok");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
