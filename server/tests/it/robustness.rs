//! Bad input on the wire closes only the connection that sent it; the server keeps serving.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::TestServer;

/// Sends raw bytes on a new connection, then reads what the server answers until it closes.
fn send_raw(address: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(15))).expect("a timeout");
    stream.write_all(bytes).expect("writes");
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// A protocol 3.0 startup message.
fn startup(user: &str) -> Vec<u8> {
    let mut body = 196_608i32.to_be_bytes().to_vec();
    for (key, value) in [("user", user), ("database", "starhouse")] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    message.extend(body);
    message
}

#[tokio::test]
async fn malformed_messages_close_only_their_connection() {
    let server = TestServer::start();
    let client = server.connect().await;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut truncated_startup = startup("tester");
    truncated_startup.truncate(10);
    let mut oversized = startup("tester");
    oversized.push(b'Q');
    oversized.extend_from_slice(&i32::MAX.to_be_bytes());
    let mut unknown_message = startup("tester");
    unknown_message.extend_from_slice(b"\x7f\x00\x00\x00\x04");
    let mut negative_length = startup("tester");
    negative_length.push(b'Q');
    negative_length.extend_from_slice(&(-5i32).to_be_bytes());
    let inputs =
        [garbage, truncated_startup, oversized, unknown_message, negative_length, vec![0, 0, 0, 8, 4, 210, 22, 47]];
    for input in inputs {
        let address = server.address;
        tokio::task::spawn_blocking(move || send_raw(address, &input)).await.expect("the raw client finishes");
        let messages = client.simple_query("SELECT 1").await.expect("the other connection still works");
        assert_eq!(messages.len(), 3, "row description, row and completion");
    }
}

#[tokio::test]
async fn a_one_megabyte_query_is_answered() {
    let server = TestServer::start();
    let client = server.connect().await;
    let sql = format!("SELECT count(*) FROM dim_store WHERE store_key > 0 -- {}", "x".repeat(1_000_000));
    let messages = client.simple_query(&sql).await.expect("a long query");
    assert_eq!(messages.len(), 3);
}
