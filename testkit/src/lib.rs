//! Test support shared by the crates' integration tests: the real programs the tests talk to,
//! installed and started by the tests themselves.
//!
//! - [`S3Server`]: a real S3-compatible server (`moto` in server mode) on a free loopback port,
//!   stopped when the test process ends.
//! - [`CountingStore`]: an object store wrapper that counts requests by kind.
//! - [`tool`], [`node_modules`]: a program from the test tools' virtual environment, or the
//!   JavaScript drivers, installed on first use by `.ci/install-test-tools` (the same script
//!   `.ci/run` calls), so that `cargo test --workspace` works on a fresh machine.
//!
//! Nothing here is part of Starhouse itself; no crate depends on it outside its tests.

mod counting;

pub use counting::{CountingStore, RequestCounts, Requests};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use starhouse_catalog::{S3Credentials, StorageOptions};

/// The access key and secret the tests use with the S3 server (moto accepts any by default).
pub const ACCESS_KEY_ID: &str = "starhouse-test";
pub const SECRET_ACCESS_KEY: &str = "starhouse-test-secret";
pub const REGION: &str = "us-east-1";

/// Storage options that reach the S3 server at `endpoint` with the tests' credentials, given in
/// code (tests do not change the process's environment).
pub fn s3_storage(endpoint: String) -> StorageOptions {
    StorageOptions {
        s3_endpoint: Some(endpoint),
        s3_region: Some(REGION.into()),
        s3_allow_http: Some(true),
        s3_virtual_hosted_style: None,
        s3_credentials: Some(S3Credentials {
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: SECRET_ACCESS_KEY.into(),
            session_token: None,
        }),
    }
}

/// Where the test tools are installed: `$STARHOUSE_TEST_TOOLS`, or a cache folder in the home.
fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STARHOUSE_TEST_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/starhouse-test-tools")
}

/// The test tools' folder, installing the tools first if they are missing or out of date.
fn installed_tools() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // The checkout of the tests that run (cargo gives them their crate's folder, one below
        // the workspace's), not the one this crate was built in: a target folder shared by two
        // checkouts may hold this crate built from the other.
        let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let script = crate_dir.join("../.ci/install-test-tools");
        let status = Command::new(&script).status().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(status.success(), "{} failed: {status}", script.display());
        tools_dir()
    })
}

/// The path of a program installed in the test tools' virtual environment.
pub fn tool(name: &str) -> PathBuf {
    let path = installed_tools().join("bin").join(name);
    assert!(path.exists(), "{} is not installed by .ci/install-test-tools", path.display());
    path
}

/// The `node_modules` folder of the JavaScript drivers (for `NODE_PATH`).
pub fn node_modules() -> PathBuf {
    let path = installed_tools().join("node/node_modules");
    assert!(path.exists(), "{} is not installed by .ci/install-test-tools", path.display());
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}

/// Starts `program args...` in the background, stopped when the test process ends (its standard
/// input closes and the wrapper kills it), with its output in `log` until then.
fn start_background(program: &Path, args: &[String], env: &[(&str, &str)], log: &Path) -> (Child, ChildStdin) {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(
            r#"prog="$1"; log="$2"; shift 2; "$prog" "$@" >"$log" 2>&1 & pid=$!; read -r _; kill "$pid"; rm -f "$log""#,
        )
        .arg("starhouse-test-server")
        .arg(program)
        .arg(log)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let stdin = child.stdin.take().expect("stdin is piped");
    (child, stdin)
}

/// Sends one HTTP/1.1 request without a body and returns the status code.
fn http_status(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|code| code.parse().ok());
    status.ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))
}

/// A real S3-compatible server (moto) on a loopback port.
pub struct S3Server {
    port: u16,
    log: PathBuf,
    _process: (Child, ChildStdin),
}

impl S3Server {
    /// The server shared by the tests of one test binary (each test uses buckets of its own).
    pub fn shared() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(|| S3Server::start(false))
    }

    /// A new server. With `check_credentials`, it accepts no request (moto's IAM knows no access
    /// key), so that tests can see how bad credentials are reported.
    pub fn start(check_credentials: bool) -> S3Server {
        let moto = tool("moto_server");
        let port = free_port();
        let log = std::env::temp_dir().join(format!("starhouse-moto-{}-{port}.log", std::process::id()));
        let env: &[(&str, &str)] = if check_credentials { &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")] } else { &[] };
        let args = ["-H".to_string(), "127.0.0.1".to_string(), "-p".to_string(), port.to_string()];
        let process = start_background(&moto, &args, env, &log);
        let server = S3Server { port, log, _process: process };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_status(port, "GET", "/").is_err() {
            assert!(Instant::now() < deadline, "moto did not start; its log: {}", server.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (names are 3 to 63 lower-case letters, digits and dashes).
    pub fn create_bucket(&self, name: &str) {
        let status = http_status(self.port, "PUT", &format!("/{name}")).expect("the S3 server answers");
        assert_eq!(status, 200, "creating bucket {name}; the server's log: {}", self.log_text());
    }

    /// A new bucket with a name no other test uses.
    pub fn new_bucket(&self, prefix: &str) -> String {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        self.create_bucket(&name);
        name
    }

    /// The standard AWS environment that points a client (the `starhouse` binary, or DataFusion)
    /// at this server.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// The server's log: one line per request it answered.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
