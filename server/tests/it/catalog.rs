//! The catalogs BI tools read at connect and schema sync: the warehouse's keys where they look
//! for them (`information_schema`, `pg_constraint`), with PostgreSQL's type names.

use crate::TestServer;

/// The rows of `sql`, every value as text (NULL as "NULL").
async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    messages
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn information_schema_lists_keys_and_postgresql_types() {
    let server = TestServer::start();
    let client = server.connect().await;

    let constraints = rows(
        &client,
        "SELECT constraint_name, constraint_type FROM information_schema.table_constraints \
         WHERE table_name = 'fact_sales' ORDER BY constraint_name",
    )
    .await;
    assert_eq!(
        constraints,
        [
            ["fact_sales_customer_key_fkey", "FOREIGN KEY"],
            ["fact_sales_date_key_fkey", "FOREIGN KEY"],
            ["fact_sales_pkey", "PRIMARY KEY"],
            ["fact_sales_product_key_fkey", "FOREIGN KEY"],
            ["fact_sales_store_key_fkey", "FOREIGN KEY"],
        ]
    );

    // The join a BI tool draws: a foreign key's column, and the table and column it references.
    let joins = rows(
        &client,
        "SELECT kcu.column_name, ccu.table_name, ccu.column_name \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name \
         JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name \
         WHERE tc.table_name = 'fact_sales' AND tc.constraint_type = 'FOREIGN KEY' ORDER BY 1",
    )
    .await;
    assert_eq!(
        joins,
        [
            ["customer_key", "dim_customer", "customer_key"],
            ["date_key", "dim_date", "date_key"],
            ["product_key", "dim_product", "product_key"],
            ["store_key", "dim_store", "store_key"],
        ]
    );
    let referential = rows(
        &client,
        "SELECT constraint_name, unique_constraint_name FROM information_schema.referential_constraints \
         WHERE constraint_name = 'fact_sales_store_key_fkey'",
    )
    .await;
    assert_eq!(referential, [["fact_sales_store_key_fkey", "dim_store_pkey"]]);

    let columns = rows(
        &client,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_name = 'fact_sales' ORDER BY ordinal_position",
    )
    .await;
    let types: Vec<(&str, &str)> = columns.iter().map(|c| (c[0].as_str(), c[1].as_str())).collect();
    assert_eq!(
        types,
        [
            ("sale_id", "bigint"),
            ("date_key", "integer"),
            ("product_key", "integer"),
            ("store_key", "integer"),
            ("customer_key", "integer"),
            ("sale_amount", "numeric"),
            ("sale_quantity", "integer"),
        ]
    );
    let tables =
        rows(&client, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
            .await;
    assert_eq!(tables, [["dim_customer"], ["dim_date"], ["dim_product"], ["dim_store"], ["fact_sales"]]);
}

#[tokio::test]
async fn pg_constraint_defines_the_foreign_keys() {
    let server = TestServer::start();
    let client = server.connect().await;
    let definitions = rows(
        &client,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint \
         WHERE conrelid = 'fact_sales'::regclass AND contype = 'f' ORDER BY conname LIMIT 1",
    )
    .await;
    assert_eq!(
        definitions,
        [["fact_sales_customer_key_fkey", "FOREIGN KEY (customer_key) REFERENCES dim_customer(customer_key)"]]
    );
    // A quoted boolean, as psqlODBC writes it.
    let primary = rows(
        &client,
        "SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indisprimary = 't' AND i.indrelid = 'fact_sales'::regclass",
    )
    .await;
    assert_eq!(primary, [["1"]]);
}

#[tokio::test]
async fn npgsql_loads_the_types_with_arrays_resolved_through_pg_proc() {
    let server = TestServer::start();
    let client = server.connect().await;
    let types = rows(&client, include_str!("npgsql_types.sql")).await;
    let find = |name: &str| types.iter().find(|t| t[2] == name).unwrap_or_else(|| panic!("{name} in {types:?}"));
    // nspname, oid, typname, typtype, typnotnull, elemtypoid
    assert_eq!(find("int4")[1..4], ["23", "int4", "b"]);
    assert_eq!(find("_int4")[3], "a", "an array, known by its receive function");
    assert_eq!(find("_int4")[5], "23", "of int4");
    let typeof_row = rows(&client, "SELECT pg_typeof(sale_amount), pg_typeof(store_key) FROM fact_sales LIMIT 1").await;
    assert_eq!(typeof_row, [["numeric", "integer"]]);
}

#[tokio::test]
async fn catalog_tables_compare_by_their_fixed_oids_as_dbeaver_asks() {
    let server = TestServer::start();
    let client = server.connect().await;
    // DBeaver's table list: comments joined on classoid = 'pg_class'::regclass.
    let tables = rows(
        &client,
        "SELECT c.relname, d.description FROM pg_catalog.pg_class c \
         LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0 \
         AND d.classoid = 'pg_class'::regclass \
         WHERE c.relname = 'dim_store' AND c.relkind NOT IN ('i', 'I', 'c')",
    )
    .await;
    assert_eq!(tables, [["dim_store", "Stores, with their city, region and country"]]);
    let oids = rows(&client, "SELECT 'pg_catalog.pg_class'::regclass::oid, 'pg_namespace'::regclass::oid AS n").await;
    assert_eq!(oids, [["1259", "2615"]]);
}

#[tokio::test]
async fn grafana_lists_the_tables_on_the_search_path() {
    let server = TestServer::start();
    let client = server.connect().await;
    // Grafana's table query: functions in FROM (a scalar one, and generate_series of computed
    // bounds) and `user`.
    let tables = rows(
        &client,
        "SELECT quote_ident(table_name) AS \"table\" FROM information_schema.tables \
         WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog') AND table_type = 'BASE TABLE' \
         AND quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END \
         FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), \
         array_upper(string_to_array(current_setting('search_path'),','),1)) AS i, \
         string_to_array(current_setting('search_path'),',') s) ORDER BY 1",
    )
    .await;
    assert_eq!(tables, [["dim_customer"], ["dim_date"], ["dim_product"], ["dim_store"], ["fact_sales"]]);
}
