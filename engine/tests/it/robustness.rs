//! Nothing a user types can panic the engine: every prefix of a set of statements (most of them
//! malformed) is answered with rows or an error, and the session keeps working.

use crate::TestEngine;

const STATEMENTS: &[&str] = &[
    "CREATE EXTERNAL TABLE IF NOT EXISTS t (k INT PRIMARY KEY, v VARCHAR COMMENT 'x', FOREIGN KEY (v) REFERENCES d (v)) STORED AS PARQUET PARTITIONED BY (v) WITH ORDER (k DESC NULLS FIRST) LOCATION '/nonexistent/*.parquet' OPTIONS ('a' 'b')",
    "ALTER TABLE IF EXISTS public.t ADD CONSTRAINT c FOREIGN KEY (a, b) REFERENCES starhouse.public.d (a, b)",
    "ALTER TABLE t DROP CONSTRAINT IF EXISTS c CASCADE",
    "ALTER TABLE t SET ROLE DIMENSION",
    "COMMENT ON COLUMN starhouse.public.t.k IS 'it''s'",
    "DROP TABLE IF EXISTS a, b.c, d.e.f CASCADE",
    "DESCRIBE other.schema.t",
    "SELECT \"weird \"\" name\", 'unterminated FROM t WHERE x = $1 /* comment",
    "WITH x AS (SELECT 1 AS a) SELECT a / 0, CAST('x' AS INT) FROM x",
    "EXPLAIN ANALYZE SELECT count(*) FROM t",
    "SET datafusion.execution.batch_size = -1",
];

#[tokio::test]
async fn every_prefix_of_every_statement_is_answered_without_a_panic() {
    let test = TestEngine::new().await;
    let session = test.engine.session();
    let mut answered = 0;
    for statement in STATEMENTS {
        for end in (0..=statement.len()).filter(|i| statement.is_char_boundary(*i)) {
            // Either outcome is fine; a panic fails the test.
            let _ = session.sql(&statement[..end]).await;
            answered += 1;
        }
    }
    assert!(answered > 500, "{answered} inputs tried");
    let batches = session.sql("SELECT 1 + 1 AS two").await.expect("the session still works");
    assert_eq!(batches[0].num_rows(), 1);
    assert_eq!(test.engine.warehouse().current().tables.len(), 0, "no malformed statement committed anything");
}
