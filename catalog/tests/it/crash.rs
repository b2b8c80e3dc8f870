//! A writer process killed at an arbitrary point, possibly in the middle of writing a commit:
//! the warehouse reopens at the last complete version with every earlier version intact.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TestWarehouse, create, table};

const ROOT_VAR: &str = "STARHOUSE_TEST_CRASH_ROOT";

/// The writer that the crash test starts in a child process and kills. It commits large table
/// definitions (so that each write takes a while) until it is killed.
#[tokio::test]
#[ignore = "started by a_killed_writer_leaves_the_last_complete_version in a child process"]
async fn crash_child_writer() {
    let Ok(root) = std::env::var(ROOT_VAR) else {
        return;
    };
    let root = starhouse_catalog::WarehouseRoot::parse(&root).expect("root");
    let warehouse = starhouse_catalog::Warehouse::open(root).await.expect("open");
    for i in 1.. {
        let name = format!("p{}_t{i:05}", std::process::id());
        create(&warehouse, table(&name, 3000)).await.expect("commit");
    }
}

/// The number of complete commit files (a write in progress is a temporary file beside them).
fn committed_versions(wh: &TestWarehouse) -> usize {
    std::fs::read_dir(wh.dir.path().join("_starhouse/log"))
        .map(|entries| {
            entries.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn a_killed_writer_leaves_the_last_complete_version() {
    let wh = TestWarehouse::empty();
    wh.open().await;
    for round in 1..=4 {
        let before = wh.open().await.current().number;
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "crash::crash_child_writer", "--ignored", "--nocapture"])
            .env(ROOT_VAR, wh.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the writer");
        // Let it commit a few versions, then kill it at a moment that varies by round.
        let deadline = Instant::now() + Duration::from_secs(60);
        while committed_versions(&wh) < before as usize + 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(round * 3));
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
