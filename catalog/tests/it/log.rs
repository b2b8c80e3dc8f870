//! Commits, reopening, checkpoints, time travel and damaged files.

use starhouse_catalog::{CHECKPOINT_INTERVAL, CatalogError, Change, Role, Warehouse};

use crate::{TestWarehouse, create, on_local_and_s3, table};

async fn a_commit_is_seen_by_a_new_process(wh: TestWarehouse) {
    let writer = wh.open().await;
    let mut def = table("fact_sales", 3);
    def.role = Some(Role::Fact);
    def.comment = Some("one row per sale".into());
    create(&writer, def.clone()).await.expect("the commit lands");

    let reader = wh.open().await;
    let current = reader.current();
    assert_eq!(current.number, 1);
    assert_eq!(current.table("fact_sales").expect("the table is there").as_ref(), &def);
}

async fn opening_a_folder_without_a_catalog_says_it_is_not_a_warehouse(wh: TestWarehouse) {
    let error = Warehouse::open(wh.root()).await.expect_err("nothing was created");
    assert!(matches!(error, CatalogError::NotAWarehouse { .. }), "{error}");
    assert!(error.to_string().contains("is not a Starhouse warehouse"), "{error}");
}

async fn a_handle_catches_up_with_another_writer_on_refresh(wh: TestWarehouse) {
    let reader = wh.open().await;
    let writer = wh.open().await;
    create(&writer, table("t1", 1)).await.expect("commit");
    assert_eq!(reader.current().number, 0, "a handle does not change by itself");
    let refreshed = reader.refresh().await.expect("refresh");
    assert_eq!(refreshed.number, 1);
    assert!(refreshed.tables.contains_key(&"t1".into()));
}

async fn every_past_version_stays_readable(wh: TestWarehouse) {
    let warehouse = wh.open().await;
    let commits = CHECKPOINT_INTERVAL * 2 + 5;
    for i in 1..=commits {
        create(&warehouse, table(&format!("t{i:03}"), 2)).await.expect("commit");
    }
    warehouse
        .commit::<CatalogError, _>("drop t001", |_| Ok(vec![Change::DropTable("t001".into())]))
        .await
        .expect("drop");

    let reopened = wh.open().await;
    assert_eq!(reopened.current().number, commits + 1);
    assert_eq!(reopened.current().tables.len() as u64, commits - 1);
    for number in [0, 1, CHECKPOINT_INTERVAL - 1, CHECKPOINT_INTERVAL, CHECKPOINT_INTERVAL + 1, commits] {
        let version = reopened.version(number).await.expect("a past version");
        assert_eq!(version.number, number);
        assert_eq!(version.tables.len() as u64, number, "version {number} has one table per commit");
    }
    let error = reopened.version(commits + 2).await.expect_err("the future is not readable");
    assert!(matches!(error, CatalogError::NoSuchVersion { .. }), "{error}");
    assert!(
        wh.exists(&format!("_starhouse/checkpoints/{CHECKPOINT_INTERVAL:020}.json")).await,
        "a checkpoint is written every {CHECKPOINT_INTERVAL} versions"
    );
}

async fn opening_uses_the_checkpoint_and_the_commits_after_it(wh: TestWarehouse) {
    let warehouse = wh.open().await;
    for i in 1..=CHECKPOINT_INTERVAL + 2 {
        create(&warehouse, table(&format!("t{i:03}"), 1)).await.expect("commit");
    }
    // The commits before the checkpoint are no longer needed to open the latest version.
    wh.delete(&TestWarehouse::log_file(3)).await;
    let reopened = wh.open().await;
    assert_eq!(reopened.current().number, CHECKPOINT_INTERVAL + 2);
    let error = reopened.version(5).await.expect_err("version 5 needs the removed commit");
    assert!(error.to_string().contains(&format!("{:020}.json is missing", 3)), "{error}");
}

async fn a_damaged_log_file_is_named_and_earlier_versions_stay_readable(wh: TestWarehouse) {
    let warehouse = wh.open().await;
    for i in 1..=3 {
        create(&warehouse, table(&format!("t{i}"), 1)).await.expect("commit");
    }
    wh.write(&TestWarehouse::log_file(3), b"{\"version\": 3, \"committed_at\": ").await;

    let error = Warehouse::open(wh.root()).await.expect_err("version 3 is damaged");
    let message = error.to_string();
    let shown = wh.shown_path(&TestWarehouse::log_file(3));
    assert!(message.contains(&shown), "the message names the file ({shown}): {message}");
    assert!(matches!(error, CatalogError::CorruptVersion { .. }), "{error}");

    let earlier = warehouse.version(2).await.expect("version 2 is intact");
    assert_eq!(earlier.tables.len(), 2);
}

async fn a_change_that_breaks_an_invariant_is_not_committed(wh: TestWarehouse) {
    let warehouse = wh.open().await;
    let mut broken = table("t", 1);
    broken.sort_order.push(starhouse_catalog::SortKey {
        column: "missing".into(),
        descending: false,
        nulls_first: false,
    });
    let error = create(&warehouse, broken).await.expect_err("the sort key names no column");
    assert!(error.to_string().contains("column missing does not exist in table t"), "{error}");
    assert_eq!(wh.open().await.current().number, 0, "nothing was written");
    assert!(!wh.exists(&TestWarehouse::log_file(1)).await);
}

async fn nothing_to_change_writes_no_version(wh: TestWarehouse) {
    let warehouse = wh.open().await;
    let version =
        warehouse.commit::<CatalogError, _>("nothing", |_| Ok(Vec::new())).await.expect("an empty commit is fine");
    assert_eq!(version.number, 0);
    assert!(!wh.exists(&TestWarehouse::log_file(1)).await);
}

on_local_and_s3!(
    a_commit_is_seen_by_a_new_process,
    opening_a_folder_without_a_catalog_says_it_is_not_a_warehouse,
    a_handle_catches_up_with_another_writer_on_refresh,
    every_past_version_stays_readable,
    opening_uses_the_checkpoint_and_the_commits_after_it,
    a_damaged_log_file_is_named_and_earlier_versions_stay_readable,
    a_change_that_breaks_an_invariant_is_not_committed,
    nothing_to_change_writes_no_version,
);
