//! `starhouse load`: the command line's loads, and a loader killed at many points of its work.

use std::io::Write;
use std::time::Instant;

use crate::Sandbox;

/// A CSV file of `rows` rows of batch `batch`.
fn csv(sandbox: &Sandbox, batch: usize, rows: usize) -> String {
    let path = sandbox.dir.path().join(format!("batch-{batch}.csv"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("a fixture"));
    writeln!(file, "id,batch,v").expect("written");
    for id in 0..rows {
        writeln!(file, "{id},{batch},{}", id as f64 * 0.5).expect("written");
    }
    file.flush().expect("flushed");
    path.display().to_string()
}

/// The first line of a `--format csv` answer without its header.
fn answer(sandbox: &Sandbox, sql: &str) -> String {
    let output = sandbox.run(&["--warehouse", &sandbox.warehouse_arg(), "--format", "csv", "-c", sql], "");
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().nth(1).unwrap_or_default().to_string()
}

fn parquet_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "parquet")).count())
        .unwrap_or(0)
}

#[test]
fn a_load_reports_what_it_did_and_a_repeated_load_id_does_nothing() {
    let sandbox = Sandbox::empty();
    let wh = sandbox.warehouse_arg();
    answer(&sandbox, "CREATE TABLE f (id BIGINT, batch INT, v DOUBLE)");
    let file = csv(&sandbox, 1, 3);
    let first = sandbox.run(&["--warehouse", &wh, "load", "f", &file, "--load-id", "nightly-1"], "");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(String::from_utf8_lossy(&first.stderr), "Loaded 3 rows in 1 files as version 2 (load nightly-1)\n");
    let again = sandbox.run(&["--warehouse", &wh, "load", "f", &file, "--load-id", "nightly-1"], "");
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        "Load nightly-1 was committed before, in version 2: nothing loaded\n"
    );
    assert_eq!(answer(&sandbox, "SELECT count(*) FROM f"), "3");

    let bad = sandbox.run(&["--warehouse", &wh, "load", "nosuch", &file], "");
    assert!(!bad.status.success());
    assert_eq!(String::from_utf8_lossy(&bad.stderr), "Error: table nosuch does not exist\n");
}

/// Loads killed at points spread over a whole load: after each, the warehouse opens at its last
/// complete version with every load either wholly there or not at all; rerunning the loads by
/// their ids completes them exactly once; `VACUUM` then removes every file the killed loads left.
#[test]
fn a_killed_loader_leaves_no_partial_load_and_vacuum_removes_its_files() {
    const ROWS: usize = 400_000;
    const TRIALS: usize = 12;
    let sandbox = Sandbox::empty();
    let wh = sandbox.warehouse_arg();
    answer(&sandbox, "CREATE TABLE f (id BIGINT, batch INT, v DOUBLE) ORDER BY (id)");
    let files: Vec<String> = (0..TRIALS).map(|batch| csv(&sandbox, batch, ROWS)).collect();
    let load = |batch: usize| {
        sandbox
            .command()
            .args(["--warehouse", &wh, "load", "f", &files[batch], "--load-id", &format!("batch-{batch}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the loader starts")
    };

    // The first load runs to the end, to learn how long a load takes here.
    let start = Instant::now();
    let status = load(0).wait().expect("the first load ends");
    assert!(status.success());
    let whole = start.elapsed();

    for batch in 1..TRIALS {
        let mut child = load(batch);
        // Kill points from the start of the process to past the end of its commit.
        std::thread::sleep(whole.mul_f64(batch as f64 / (TRIALS - 1) as f64 * 1.2));
        let _ = child.kill();
        child.wait().expect("the loader is gone");

        let loaded: Vec<usize> = answer(&sandbox, "SELECT count(*), count(DISTINCT batch) FROM f")
            .split(',')
            .map(|n| n.parse().expect("a count"))
            .collect();
        assert_eq!(loaded[0], loaded[1] * ROWS, "after kill {batch}: every load is whole or absent");
        assert_eq!(answer(&sandbox, "SELECT count(*) FROM system.loads").parse::<usize>().expect("a count"), loaded[1]);
    }

    // Rerunning every load by its id finishes what was killed and repeats nothing.
    for batch in 0..TRIALS {
        assert!(load(batch).wait().expect("the load ends").success());
    }
    assert_eq!(
        answer(&sandbox, "SELECT count(*), count(DISTINCT batch) FROM f"),
        format!("{},{TRIALS}", ROWS * TRIALS)
    );

    let folder = sandbox.warehouse().join("tables/f");
    let committed: usize = answer(&sandbox, "SELECT sum(files) FROM system.loads").parse().expect("a count");
    answer(&sandbox, "VACUUM f RETAIN 0 HOURS");
    assert_eq!(parquet_files(&folder), committed, "only the committed files remain");
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .expect("the folder")
        .flatten()
        .filter(|e| e.path().extension().is_none_or(|x| x != "parquet"))
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(answer(&sandbox, "SELECT count(*) FROM f"), (ROWS * TRIALS).to_string());
}
