//! A writer process killed at an arbitrary point, possibly in the middle of writing a commit:
//! the warehouse reopens at the last complete version with every earlier version intact.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use starhouse_catalog::{ObjectStores, StorageOptions, Warehouse, WarehouseRoot};
use starhouse_testkit::s3_storage;

use crate::{TestWarehouse, create, on_local_and_s3, table};

const ROOT_VAR: &str = "STARHOUSE_TEST_CRASH_ROOT";
const ENDPOINT_VAR: &str = "STARHOUSE_TEST_CRASH_S3_ENDPOINT";

/// The writer that the crash test starts in a child process and kills. It commits large table
/// definitions (so that each write takes a while) until it is killed.
#[tokio::test]
#[ignore = "started by a_killed_writer_leaves_the_last_complete_version in a child process"]
async fn crash_child_writer() {
    let Ok(root) = std::env::var(ROOT_VAR) else {
        return;
    };
    let options = std::env::var(ENDPOINT_VAR).map(s3_storage).unwrap_or_else(|_| StorageOptions::default());
    let root = WarehouseRoot::parse(&root, &ObjectStores::new(options)).expect("root");
    let warehouse = Warehouse::open(root).await.expect("open");
    for i in 1.. {
        let name = format!("p{}_t{i:05}", std::process::id());
        create(&warehouse, table(&name, 3000)).await.expect("commit");
    }
}

async fn a_killed_writer_leaves_the_last_complete_version(wh: TestWarehouse) {
    wh.open().await;
    for round in 1..=4 {
        let before = wh.open().await.current().number;
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args(["--exact", "crash::crash_child_writer", "--ignored", "--nocapture"])
            .env(ROOT_VAR, &wh.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(endpoint) = &wh.options.s3_endpoint {
            command.env(ENDPOINT_VAR, endpoint);
        }
        let mut child = command.spawn().expect("start the writer");
        // Let it commit a few versions, then kill it at a moment that varies by round.
        let deadline = Instant::now() + Duration::from_secs(60);
        while wh.commit_files().await < before as usize + 4 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(round * 3)).await;
        child.kill().expect("kill the writer");
        child.wait().expect("reap the writer");

        let reopened = wh.open().await;
        let current = reopened.current();
        assert!(current.number >= before + 3, "round {round}: the writer committed");
        assert_eq!(
            current.tables.len() as u64,
            current.number,
            "round {round}: the last version holds exactly the tables of complete commits"
        );
        for number in 0..=current.number {
            let version = reopened.version(number).await.expect("every version is readable");
            assert_eq!(version.tables.len() as u64, number);
        }
        // The warehouse is writable again right after the crash.
        let next =
            create(&reopened, table(&format!("after_crash_{round}"), 1)).await.expect("a new commit lands on top");
        assert_eq!(next.number, current.number + 1);
    }
}

on_local_and_s3!(a_killed_writer_leaves_the_last_complete_version);
