//! Integration tests of the `starhouse` binary: non-interactive use (`cli`) and the interactive
//! shell driven through a pseudo-terminal (`repl`).

mod cli;
mod loads;
mod repl;
mod s3;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A temporary home for one test: a data folder (for the default demo warehouse and the history)
/// and a warehouse folder.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn empty() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary folder") }
    }

    /// A sandbox with the demo star schema at a small scale in `warehouse()`.
    pub fn with_demo() -> Self {
        let sandbox = Self::empty();
        let output = sandbox.run(&["--warehouse", &sandbox.warehouse_arg(), "demo", "--scale", "0.01"], "");
        assert!(output.status.success(), "demo: {}", String::from_utf8_lossy(&output.stderr));
        sandbox
    }

    pub fn warehouse(&self) -> PathBuf {
        self.dir.path().join("wh")
    }

    pub fn warehouse_arg(&self) -> String {
        self.warehouse().display().to_string()
    }

    pub fn data_home(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The binary with this sandbox's environment, and nothing from the user's.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_starhouse"));
        command
            .env("XDG_DATA_HOME", self.data_home())
            .env("HOME", self.dir.path())
            .env_remove("STARHOUSE_WAREHOUSE")
            .env_remove("STARHOUSE_HISTORY")
            .env_remove("COLUMNS");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        command
    }

    /// Runs the binary with `args`, feeding `stdin`, and waits for it.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with_env(args, stdin, &[])
    }

    /// The same, with these environment variables set.
    pub fn run_with_env(&self, args: &[&str], stdin: &str, env: &[(&str, String)]) -> Output {
        let mut child = self
            .command()
            .envs(env.iter().map(|(key, value)| (key, value)))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        {
            use std::io::Write;
            let mut input = child.stdin.take().expect("stdin is piped");
            input.write_all(stdin.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("the binary finishes")
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
