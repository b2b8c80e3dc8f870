//! The real `psql`: what an analyst sees at the prompt.

use std::process::{Command, Output, Stdio};

use starhouse_server::ServerOptions;

use crate::TestServer;

fn psql(server: &TestServer, args: &[&str]) -> Output {
    Command::new("psql")
        .arg(server.url())
        .args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("psql runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn psql_lists_the_star_schema_tables() {
    let server = TestServer::start();
    let output = psql(&server, &["-c", "\\dt"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for table in ["dim_customer", "dim_date", "dim_product", "dim_store", "fact_sales"] {
        assert!(text.contains(&format!(" public | {table}")), "{table} in:\n{text}");
    }
}

#[test]
fn psql_shows_command_tags_and_errors_with_a_caret() {
    let server = TestServer::start();
    let script = server.dir.path().join("script.sql");
    std::fs::write(&script, "BEGIN;\nSET application_name = 'report';\nSHOW application_name;\nCOMMIT;\n")
        .expect("write");
    let output = psql(&server, &["-f", script.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "BEGIN\nSET\n application_name \n------------------\n report\n(1 row)\n\nCOMMIT\n");

    let output = psql(&server, &["-c", "SELECT * FROM dim_store WHERE AND 1"]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("ERROR:  syntax error"), "{text}");
    let caret = format!("LINE 1: SELECT * FROM dim_store WHERE AND 1\n{}^", " ".repeat("LINE 1: ".len() + 34));
    assert!(text.contains(&caret), "{text}");
}

#[test]
fn psql_copies_a_query_to_a_csv_file() {
    let server = TestServer::start();
    let file = server.dir.path().join("stores.csv");
    let command = format!(
        "\\copy (SELECT store_key, region FROM dim_store WHERE store_key <= 3 ORDER BY store_key) to '{}' csv header",
        file.display()
    );
    let output = psql(&server, &["-c", &command]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "COPY 3\n");
    let csv = std::fs::read_to_string(&file).expect("the file was written");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("store_key,region"));
    let keys: Vec<&str> = lines.map(|l| l.split(',').next().unwrap_or_default()).collect();
    assert_eq!(keys, ["1", "2", "3"]);
}

#[test]
fn ctrl_c_in_psql_cancels_the_running_query() {
    let server = TestServer::start();
    let child = Command::new("psql")
        .arg(server.url())
        .args(["-X", "-c", "SELECT sum(value % 7) FROM range(100000000000)"])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Ctrl-C at a terminal sends SIGINT to psql, which sends a cancel request.
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("psql ends");
    assert!(stderr(&output).contains("canceling statement due to user request"), "{}", stderr(&output));
}

#[test]
fn psql_describes_a_table_with_its_keys_and_comments() {
    let server = TestServer::start();
    let output = psql(&server, &["-c", "\\d fact_sales", "-c", "\\d+ dim_date"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "Table \"public.fact_sales\"",
        " sale_amount   | numeric(10,2) |           | not null | ",
        " sale_id       | bigint        |           | not null | ",
        "Indexes:\n    \"fact_sales_pkey\" PRIMARY KEY, btree (sale_id)",
        "Foreign-key constraints:\n    \"fact_sales_customer_key_fkey\" FOREIGN KEY (customer_key) REFERENCES dim_customer(customer_key)",
        "\"fact_sales_date_key_fkey\" FOREIGN KEY (date_key) REFERENCES dim_date(date_key)",
        "Referenced by:\n    TABLE \"fact_sales\" CONSTRAINT \"fact_sales_date_key_fkey\" FOREIGN KEY (date_key) REFERENCES dim_date(date_key)",
        "| The day as a number, yyyymmdd",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
}

#[test]
fn psql_meta_commands_answer() {
    let server = TestServer::start();
    let cases: [(&str, &str); 9] = [
        ("\\dt+", "| One row per sale: what was sold, when, where and to whom"),
        ("\\dn", " public | postgres"),
        ("\\dn+", " public | postgres"),
        ("\\l", " starhouse | postgres"),
        ("\\l+", " starhouse | postgres"),
        ("\\df", "List of functions"),
        ("\\dv", "Did not find any relations."),
        ("\\di", " public | fact_sales_pkey   | index | postgres | fact_sales"),
        ("\\du", "List of roles"),
    ];
    for (command, expected) in cases {
        let output = psql(&server, &["-c", command]);
        assert!(output.status.success(), "{command}: {}", stderr(&output));
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(text.contains(expected), "{command}: {expected:?} in:\n{text}");
    }
}

#[test]
fn psql_completes_table_names_at_the_prompt() {
    let server = TestServer::start();
    let mut command = Command::new("psql");
    command.arg(server.url()).args(["-X", "-P", "pager=off"]).env("PGCONNECT_TIMEOUT", "10").env("TERM", "xterm");
    let mut session = rexpect::session::spawn_command(command, Some(30_000)).expect("psql starts");
    session.exp_string("starhouse=>").expect("the prompt");
    // Only the completed name makes this query valid: `fact_sa` is no table.
    session.send("SELECT count(*) AS sold FROM fact_sa\t").expect("type");
    std::thread::sleep(std::time::Duration::from_millis(500));
    session.send_line(";").expect("run");
    session.exp_string("sold").expect("the completed query runs");
    session.exp_string("10000").expect("and answers");
    session.send_line("\\q").expect("quit");
    session.exp_eof().expect("psql leaves");
}

#[test]
fn psql_loads_with_insert_and_copy_from_a_file_and_reads_an_old_version() {
    let server = TestServer::with(ServerOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        allow_writes: true,
        ..ServerOptions::default()
    });
    let csv = server.dir.path().join("visits.csv");
    std::fs::write(&csv, "id,store_key,day\n2,1,2026-01-02\n3,2,2026-01-03\n").expect("write");
    let script = server.dir.path().join("load.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE TABLE visits (id INT PRIMARY KEY, store_key INT REFERENCES dim_store (store_key), day DATE);
             INSERT INTO visits VALUES (1, 1, DATE '2026-01-01');
             SELECT max(version) AS before_copy FROM system.versions \\gset
             COPY visits FROM '{}' (FORMAT csv, HEADER);
             SELECT count(*) FROM visits;
             SET starhouse.as_of = :before_copy;
             SELECT count(*) FROM visits;
             RESET starhouse.as_of;
             SELECT tables, rows FROM system.loads WHERE tables = 'visits' ORDER BY version;\n",
            csv.display()
        ),
    )
    .expect("write");
    let output = psql(&server, &["-A", "-t", "-f", script.to_str().expect("utf-8")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "CREATE TABLE\nINSERT 0 1\nCOPY 2\n3\nSET\n1\nRESET\nvisits|1\nvisits|2\n");

    // Rejected loads carry PostgreSQL's integrity SQLSTATEs.
    for (sql, code) in [
        ("INSERT INTO visits VALUES (4, 999, DATE '2026-01-04')", "23503"),
        ("INSERT INTO visits VALUES (1, 1, DATE '2026-01-04')", "23505"),
        ("INSERT INTO visits VALUES (NULL, 1, DATE '2026-01-04')", "23502"),
    ] {
        let output = psql(&server, &["-v", "VERBOSITY=verbose", "-c", sql]);
        assert!(!output.status.success(), "{sql}");
        assert!(
            stderr(&output).contains(&format!("ERROR:  {code}: load into visits rejected")),
            "{sql}: {}",
            stderr(&output)
        );
    }
    let output = psql(&server, &["-A", "-t", "-c", "SELECT count(*) FROM visits"]);
    assert_eq!(stdout(&output), "3\n", "{}", stderr(&output));
}

#[test]
fn psql_copies_a_local_file_into_a_table_with_backslash_copy() {
    let server = TestServer::with(ServerOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        allow_writes: true,
        ..ServerOptions::default()
    });
    let output = psql(&server, &["-c", "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT, score DOUBLE)"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let csv = server.dir.path().join("notes.csv");
    std::fs::write(&csv, "id,body,score\n1,\"first, with a comma\",1.5\n2,second,\n").expect("write");
    let text = server.dir.path().join("notes.txt");
    std::fs::write(&text, "3\tthird\t\\N\n4\tfourth\t4\n").expect("write");
    let output = psql(
        &server,
        &[
            "-c",
            &format!("\\copy notes from '{}' csv header", csv.display()),
            "-c",
            &format!("\\copy notes from '{}'", text.display()),
            "-A",
            "-t",
            "-c",
            "SELECT id, body, coalesce(score, -1) FROM notes ORDER BY id",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "COPY 2\nCOPY 2\n1|first, with a comma|1.5\n2|second|-1\n3|third|-1\n4|fourth|4\n");

    // Rejected data keeps the warehouse as it was and the connection usable.
    let output = psql(
        &server,
        &["-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose", "-c", &format!("\\copy notes from '{}'", text.display())],
    );
    assert!(stderr(&output).contains("ERROR:  23505: load into notes rejected"), "{}", stderr(&output));
    let output =
        psql(&server, &["-v", "VERBOSITY=verbose", "-c", &format!("\\copy notes from '{}' csv", text.display())]);
    assert!(stderr(&output).contains("ERROR:  22P04: cannot load STDIN:"), "{}", stderr(&output));
    let output = psql(&server, &["-A", "-t", "-c", "SELECT count(*) FROM notes"]);
    assert_eq!(stdout(&output), "4\n", "{}", stderr(&output));
}
