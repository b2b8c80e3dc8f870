//! The interactive shell, driven through a pseudo-terminal as a person would type.

use rexpect::session::PtySession;

use crate::Sandbox;

const PROMPT: &str = "starhouse> ";
/// Generous: debug builds on a busy two-core machine.
const TIMEOUT_MS: u64 = 60_000;

/// Starts the shell on the sandbox's demo warehouse and waits for its first prompt.
fn start(sandbox: &Sandbox) -> PtySession {
    let mut command = sandbox.command();
    command
        .args(["--warehouse", &sandbox.warehouse_arg()])
        .env("TERM", "xterm")
        .env("STARHOUSE_HISTORY", sandbox.dir.path().join("history"));
    let mut shell = rexpect::session::spawn_command(command, Some(TIMEOUT_MS)).expect("the shell starts");
    shell.exp_string("Type \\? for help").expect("the banner");
    shell.exp_string(PROMPT).expect("the first prompt");
    shell
}

/// Types `text` and Enter.
fn enter(shell: &mut PtySession, text: &str) {
    shell.send(text).expect("type");
    shell.send("\r").expect("enter");
    shell.flush().expect("flush");
}

/// Types `text` and Enter, expects each of `shown` in order, then the next prompt.
fn run(shell: &mut PtySession, text: &str, shown: &[&str]) {
    enter(shell, text);
    for expected in shown {
        if let Err(error) = shell.exp_string(expected) {
            panic!("after {text:?}, expected {expected:?}: {error}");
        }
    }
    if let Err(error) = shell.exp_string(PROMPT) {
        panic!("after {text:?}, expected the prompt: {error}");
    }
}

#[test]
fn a_statement_can_span_lines_and_runs_at_its_semicolon() {
    let sandbox = Sandbox::with_demo();
    let mut shell = start(&sandbox);
    enter(&mut shell, "SELECT count(*) AS stores");
    enter(&mut shell, "FROM dim_store;");
    shell.exp_string("stores").expect("the header");
    shell.exp_string("50").expect("the count");
    shell.exp_string("(1 row)").expect("the row count");
    shell.exp_regex(r"Time: \d+\.\d{3} ms").expect("the elapsed time");
    shell.exp_string(PROMPT).expect("the next prompt");
    shell.send_control('d').expect("Ctrl-D");
    shell.exp_eof().expect("Ctrl-D leaves the shell");
}

#[test]
fn tab_completes_keywords_tables_and_columns() {
    let sandbox = Sandbox::with_demo();
    let mut shell = start(&sandbox);
    shell.send("SEL\tcount(sale_amou\t) AS n FROM fact_sa\t;").expect("type with tabs");
    shell.send("\r").expect("enter");
    shell.flush().expect("flush");
    shell.exp_string("SELECT count(sale_amount) AS n FROM fact_sales ").expect("every word completed");
    shell.exp_string("10000").expect("the completed statement ran");
    shell.exp_string(PROMPT).expect("the next prompt");
    enter(&mut shell, "\\q");
    shell.exp_eof().expect("\\q leaves the shell");
}

#[test]
fn ctrl_c_cancels_the_running_query_and_keeps_the_shell() {
    let sandbox = Sandbox::with_demo();
    let mut shell = start(&sandbox);
    enter(&mut shell, "SELECT sum(value % 7) FROM range(100000000000);");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    shell.send_control('c').expect("Ctrl-C");
    shell.exp_string("Cancelled.").expect("the query is cancelled");
    shell.exp_string(PROMPT).expect("the shell is still there");
    enter(&mut shell, "SELECT 40 + 2 AS answer;");
    shell.exp_string("42").expect("the next query runs");
    shell.exp_string(PROMPT).expect("the next prompt");
    // Ctrl-C at the prompt clears the line rather than leaving.
    shell.send("SELECT 'half typed").expect("type");
    shell.send_control('c').expect("Ctrl-C");
    shell.exp_string(PROMPT).expect("a new prompt");
    enter(&mut shell, "SELECT 7 * 6 AS again;");
    shell.exp_string("again").expect("a fresh line");
    shell.exp_string(PROMPT).expect("the next prompt");
    enter(&mut shell, "\\q");
    shell.exp_eof().expect("\\q leaves the shell");
}

#[test]
fn meta_commands_describe_the_star_and_change_the_display() {
    let sandbox = Sandbox::with_demo();
    let mut shell = start(&sandbox);
    run(&mut shell, "\\?", &["\\timing [on|off]"]);
    run(&mut shell, "\\dt", &["fact_sales   | fact"]);
    run(&mut shell, "\\d dim_date", &["date_key        | INTEGER", "Referenced by:"]);
    run(&mut shell, "\\timing off", &["Timing is off."]);
    run(&mut shell, "\\x", &["Expanded display is on."]);
    run(&mut shell, "SELECT 1 AS one, 'two' AS two;", &["-[ RECORD 1 ]", "two | two"]);
    let output = sandbox.dir.path().join("out.txt");
    run(&mut shell, &format!("\\o {}", output.display()), &[]);
    run(&mut shell, "SELECT 'to the file' AS sent;", &[]);
    run(&mut shell, "\\o", &[]);
    enter(&mut shell, "\\q");
    shell.exp_eof().expect("\\q leaves the shell");
    let written = std::fs::read_to_string(&output).expect("\\o wrote the file");
    assert_eq!(written, "-[ RECORD 1 ]\nsent | to the file\n(1 row)\n");
}

#[test]
fn history_is_kept_across_sessions() {
    let sandbox = Sandbox::with_demo();
    let mut shell = start(&sandbox);
    enter(&mut shell, "SELECT 'remembered' AS word;");
    shell.exp_string("remembered").expect("ran");
    shell.exp_string(PROMPT).expect("prompt");
    enter(&mut shell, "\\q");
    shell.exp_eof().expect("quit");

    let mut shell = start(&sandbox);
    // Up arrow recalls the previous session's entries, last first: \q, then the statement.
    shell.send("\x1b[A\x1b[A").expect("up arrow twice");
    shell.send("\r").expect("enter");
    shell.flush().expect("flush");
    shell.exp_string("remembered").expect("the recalled statement ran again");
    shell.exp_string(PROMPT).expect("prompt");
    enter(&mut shell, "\\q");
    shell.exp_eof().expect("quit");
}

#[test]
fn an_error_is_shown_and_the_shell_goes_on() {
    let sandbox = Sandbox::with_demo();
    let mut shell = start(&sandbox);
    enter(&mut shell, "SELECT categroy FROM dim_product;");
    shell.exp_string("Error: column categroy does not exist (did you mean category?)").expect("the error");
    shell.exp_string(PROMPT).expect("the shell goes on");
    enter(&mut shell, "SELECT count(DISTINCT category) AS categories FROM dim_product;");
    shell.exp_string("categories").expect("the next statement runs");
    shell.exp_string(PROMPT).expect("prompt");
    enter(&mut shell, "\\q");
    shell.exp_eof().expect("quit");
}
