// pgjdbc: DatabaseMetaData (tables, columns, primary keys, imported keys) as BI tools and IDEs read
// it, a prepared query, fetch-size paging (a portal read in pages), and SQLSTATEs. Expected answers
// arrive in the environment, computed by the Rust harness with the engine in process.
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class JdbcClient {
    static void expect(Object actual, Object expected, String what) {
        if (!Objects.equals(actual, expected)) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + System.getenv("STARHOUSE_PORT") + "/starhouse?user=tester";
        long store2Count = Long.parseLong(System.getenv("EXPECTED_STORE2_COUNT"));
        BigDecimal store2Amount = new BigDecimal(System.getenv("EXPECTED_STORE2_AMOUNT"));
        try (Connection conn = DriverManager.getConnection(url)) {
            DatabaseMetaData meta = conn.getMetaData();
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            expect(tables, List.of("dim_customer", "dim_date", "dim_product", "dim_store", "fact_sales"), "tables");

            List<String> columns = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, "public", "fact_sales", "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " " + rs.getString("IS_NULLABLE"));
            }
            expect(columns, List.of("sale_id int8 NO", "date_key int4 NO", "product_key int4 NO", "store_key int4 NO",
                "customer_key int4 NO", "sale_amount numeric NO", "sale_quantity int4 NO"), "columns");

            try (ResultSet rs = meta.getPrimaryKeys(null, "public", "fact_sales")) {
                expect(rs.next(), true, "a primary key");
                expect(rs.getString("COLUMN_NAME") + " " + rs.getString("PK_NAME"), "sale_id fact_sales_pkey", "primary key");
                expect(rs.next(), false, "one primary key column");
            }
            Map<String, String> imported = new TreeMap<>();
            try (ResultSet rs = meta.getImportedKeys(null, "public", "fact_sales")) {
                while (rs.next()) {
                    imported.put(rs.getString("FKCOLUMN_NAME"), rs.getString("PKTABLE_NAME") + "." + rs.getString("PKCOLUMN_NAME"));
                }
            }
            expect(imported, new TreeMap<>(Map.of("customer_key", "dim_customer.customer_key", "date_key", "dim_date.date_key",
                "product_key", "dim_product.product_key", "store_key", "dim_store.store_key")), "imported keys");

            try (PreparedStatement ps = conn.prepareStatement("SELECT count(*), sum(sale_amount) FROM fact_sales WHERE store_key = ?")) {
                for (int run = 0; run < 6; run++) {  // past prepareThreshold: a named server-side statement
                    ps.setInt(1, 2);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        expect(rs.getLong(1), store2Count, "store 2's count");
                        expect(rs.getBigDecimal(2), store2Amount, "store 2's amount");
                    }
                }
            }

            // Fetch size pages a result through a portal (autocommit off, as pgjdbc requires).
            conn.setAutoCommit(false);
            try (PreparedStatement ps = conn.prepareStatement("SELECT sale_id FROM fact_sales WHERE store_key = ? ORDER BY sale_id")) {
                ps.setFetchSize(100);
                ps.setInt(1, 2);
                long seen = 0, previous = -1;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        long id = rs.getLong(1);
                        if (id <= previous) throw new AssertionError("out of order at " + id);
                        previous = id;
                        seen++;
                    }
                }
                expect(seen, store2Count, "rows paged by fetch size");
            }
            conn.commit();
            conn.setAutoCommit(true);

            try (Statement st = conn.createStatement()) {
                try {
                    st.executeQuery("SELECT * FROM nope");
                    throw new AssertionError("an unknown table answered");
                } catch (SQLException e) {
                    expect(e.getSQLState(), "42P01", "unknown table");
                }
                try (ResultSet rs = st.executeQuery("SELECT 1")) {
                    rs.next();
                    expect(rs.getInt(1), 1, "after an error");
                }
            }
        }
        System.out.println("pgjdbc: ok");
    }
}
