//! Several writers on one warehouse: every change lands exactly once, conflicts are re-planned.

use std::sync::Arc;

use starhouse_catalog::CatalogError;

use crate::{TestWarehouse, create, on_local_and_s3, table};

async fn concurrent_writers_never_lose_a_commit(wh: TestWarehouse) {
    wh.open().await;
    const WRITERS: usize = 4;
    const COMMITS: usize = 15;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        // Each writer has its own handle, as separate processes would.
        let warehouse = Arc::new(wh.open().await);
        tasks.push(tokio::spawn(async move {
            for i in 0..COMMITS {
                create(&warehouse, table(&format!("w{writer}_t{i:02}"), 2))
                    .await
                    .expect("each commit eventually lands");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let current = wh.open().await.current();
    assert_eq!(current.number as usize, WRITERS * COMMITS);
    assert_eq!(current.tables.len(), WRITERS * COMMITS, "no writer's table was lost");
}

async fn a_conflicting_change_is_reported_not_applied(wh: TestWarehouse) {
    wh.open().await;
    let mut tasks = Vec::new();
    for columns in 1..=6 {
        let warehouse = wh.open().await;
        tasks.push(tokio::spawn(async move { create(&warehouse, table("same_name", columns)).await }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("writer task") {
            Ok(_) => created += 1,
            Err(CatalogError::TableExists { name }) => assert_eq!(name, "same_name"),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 1, "exactly one writer creates the table");
    assert_eq!(wh.open().await.current().number, 1);
}

on_local_and_s3!(concurrent_writers_never_lose_a_commit, a_conflicting_change_is_reported_not_applied);
