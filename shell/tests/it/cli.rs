//! The binary used non-interactively: `-c`, `-f`, standard input, formats and exit statuses.

use crate::{Sandbox, stderr, stdout};

#[test]
fn a_command_prints_an_aligned_table_with_a_row_count() {
    let sandbox = Sandbox::with_demo();
    let output = sandbox.run(
        &[
            "-w",
            &sandbox.warehouse_arg(),
            "-c",
            "SELECT store_key, city FROM dim_store WHERE store_key <= 2 ORDER BY store_key",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        " store_key |   city\n-----------+----------\n         1 | Seattle\n         2 | Portland\n(2 rows)\n"
    );
}

#[test]
fn statements_are_read_from_standard_input() {
    let sandbox = Sandbox::with_demo();
    let script = "SELECT count(*) AS stores\n  FROM dim_store;\n-- a comment\nSELECT 'two' AS second;\n";
    let output = sandbox.run(&["-w", &sandbox.warehouse_arg(), "--format", "csv"], script);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "stores\n50\nsecond\ntwo\n");
}

#[test]
fn an_error_goes_to_standard_error_and_stops_the_script() {
    let sandbox = Sandbox::with_demo();
    let script = "SELECT 1 AS first;\nSELECT * FROM fact_sale;\nSELECT 3 AS third;\n";
    let output = sandbox.run(&["-w", &sandbox.warehouse_arg(), "--format", "csv"], script);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "first\n1\n", "the statement before the error ran, the one after did not");
    assert_eq!(stderr(&output), "Error: table fact_sale does not exist (did you mean fact_sales?)\n");
}

#[test]
fn a_syntax_error_shows_the_line_and_a_caret() {
    let sandbox = Sandbox::with_demo();
    let sql = "SELECT * FROM dim_store WHERE AND 1";
    let output = sandbox.run(&["-w", &sandbox.warehouse_arg(), "-c", sql], "");
    assert_eq!(output.status.code(), Some(1));
    let caret = format!("{}^", " ".repeat("LINE 1: SELECT * FROM dim_store WHERE AND ".len()));
    let expected = format!(
        "Error: syntax error: Expected: end of statement, found: 1 at Line: 1, Column: 35\nLINE 1: {sql}\n{caret}\n"
    );
    assert_eq!(stderr(&output), expected);
}

#[test]
fn json_output_is_one_array_of_objects() {
    let sandbox = Sandbox::with_demo();
    let output = sandbox.run(
        &[
            "-w",
            &sandbox.warehouse_arg(),
            "--format",
            "json",
            "-c",
            "SELECT date_key, year FROM dim_date ORDER BY date_key LIMIT 2",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "[{\"date_key\":20210101,\"year\":2021},{\"date_key\":20210102,\"year\":2021}]\n");
}

#[test]
fn a_file_of_statements_and_meta_commands_runs() {
    let sandbox = Sandbox::with_demo();
    let file = sandbox.dir.path().join("script.sql");
    std::fs::write(&file, "\\d fact_sales\nSELECT count(*) AS n FROM dim_date;\n").expect("write the script");
    let output = sandbox.run(&["-w", &sandbox.warehouse_arg(), "-f", file.to_str().expect("utf-8")], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("Table \"fact_sales\"\n"), "{text}");
    assert!(text.contains(" sale_amount   | DECIMAL(10,2) | NO "), "{text}");
    assert!(text.contains("Role: fact\n"), "{text}");
    assert!(
        text.contains("    fact_sales_date_key_fkey FOREIGN KEY (date_key) REFERENCES dim_date(date_key)\n"),
        "{text}"
    );
    assert!(text.contains("Sort order: date_key ASC NULLS LAST\n"), "{text}");
    assert!(text.ends_with("  n\n------\n 1461\n(1 row)\n"), "{text}");
}

#[test]
fn a_new_folder_becomes_a_warehouse_whose_tables_persist() {
    let sandbox = Sandbox::with_demo();
    let folder = sandbox.dir.path().join("mine");
    let folder_arg = folder.to_str().expect("utf-8");
    let created = sandbox.run(&["-w", folder_arg, "-c", "SHOW TABLES"], "");
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stderr(&created).starts_with("Created an empty warehouse at "), "{}", stderr(&created));
    assert!((folder.join("_starhouse/log/00000000000000000000.json")).exists());

    let demo_dates = sandbox.warehouse().join("data/dim_date/");
    let create = format!(
        "CREATE EXTERNAL TABLE dates (PRIMARY KEY (date_key)) STORED AS PARQUET LOCATION '{}';",
        demo_dates.display()
    );
    let output = sandbox.run(&["-w", folder_arg, "-c", &create], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "CREATE EXTERNAL TABLE\n");

    let output = sandbox.run(&["-w", folder_arg, "--format", "csv", "-c", "SELECT max(year) AS y FROM dates"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "y\n2024\n");
    assert_eq!(stderr(&output), "", "an existing warehouse opens silently");
}

#[test]
fn the_demo_warehouse_is_created_on_first_use_in_the_data_folder() {
    let sandbox = Sandbox::empty();
    let output = sandbox.run(
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS tables FROM information_schema.tables WHERE table_schema = 'public'",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let demo = sandbox.data_home().join("starhouse/demo");
    assert!(
        stderr(&output).starts_with(&format!("Creating the demo warehouse (scale 1) at {}", demo.display())),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "tables\n5\n");

    let again = sandbox.run(&["--format", "csv", "-c", "SELECT count(*) AS sales FROM fact_sales"], "");
    assert_eq!(stderr(&again), "", "the second use opens the existing demo");
    assert_eq!(stdout(&again), "sales\n1000000\n");
}

#[test]
fn many_rows_show_the_first_and_last_with_the_count() {
    let sandbox = Sandbox::with_demo();
    let output = sandbox.run(
        &[
            "-w",
            &sandbox.warehouse_arg(),
            "--max-rows",
            "4",
            "-c",
            "SELECT store_key FROM dim_store ORDER BY store_key",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        " store_key\n-----------\n         1\n         2\n …\n        49\n        50\n(50 rows, 4 shown)\n"
    );
}

#[test]
fn a_bad_warehouse_is_reported() {
    let sandbox = Sandbox::empty();
    let output = sandbox.run(&["-w", "s3x://bucket/wh", "-c", "SELECT 1"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("the s3x:// scheme is not supported"), "{}", stderr(&output));
}

#[test]
fn users_are_added_listed_removed_and_sign_in_to_the_server() {
    let sandbox = Sandbox::with_demo();
    let wh = sandbox.warehouse_arg();
    // No users: the server refuses an address other clients could reach.
    let output = sandbox.run(&["-w", &wh, "serve", "--listen", "0.0.0.0:0"], "");
    assert!(!output.status.success());
    assert!(stderr(&output).contains("the warehouse has no users"), "{}", stderr(&output));

    let output = sandbox.run(&["-w", &wh, "user", "add", "ana"], "pw-ana\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let output = sandbox.run_with_env(
        &["-w", &wh, "user", "add", "etl", "--writer"],
        "",
        &[("STARHOUSE_PASSWORD", "pw-etl".into())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let output = sandbox.run(&["-w", &wh, "user", "list"], "");
    assert_eq!(stdout(&output), "ana\treader\netl\twriter\n");
    let stored = std::fs::read_to_string(sandbox.warehouse().join("_starhouse/users.json")).expect("the users file");
    assert!(stored.contains("SCRAM-SHA-256$4096:") && !stored.contains("pw-ana"), "{stored}");

    let port = starhouse_testkit::free_port();
    let mut server = sandbox
        .command()
        .args(["-w", &wh, "serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the server starts");
    let psql = |password: &str| {
        std::process::Command::new("psql")
            .arg(format!("postgresql://ana@127.0.0.1:{port}/starhouse"))
            .args(["-X", "-A", "-t", "-c", "SELECT count(*) FROM dim_store"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("psql runs")
    };
    let mut signed_in = psql("pw-ana");
    for _ in 0..100 {
        if signed_in.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        signed_in = psql("pw-ana");
    }
    let refused = psql("wrong");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(stdout(&signed_in).trim(), "50", "{}", stderr(&signed_in));
    assert!(stderr(&refused).contains("password authentication failed for user \"ana\""), "{}", stderr(&refused));

    let output = sandbox.run(&["-w", &wh, "user", "remove", "ana"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let output = sandbox.run(&["-w", &wh, "user", "remove", "ana"], "");
    assert!(!output.status.success());
    assert!(stderr(&output).contains("there is no user ana"), "{}", stderr(&output));
}
