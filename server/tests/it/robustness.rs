//! Bad input on the wire closes only the connection that sent it; the server keeps serving. A
//! property test feeds the message decoder random and mutated frames.

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

/// SplitMix64: a deterministic stream of pseudo-random numbers, so a failing case repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A frontend message: its type byte, then its length and body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// A valid extended-protocol exchange: Parse, Bind, Describe, Execute, Sync.
fn extended_exchange() -> Vec<u8> {
    let mut bytes = message(b'P', b"s1\0SELECT store_key FROM dim_store WHERE store_key < $1\0\0\x01\0\0\0\x17");
    bytes.extend(message(b'B', b"p1\0s1\0\0\x01\0\x01\0\0\0\x04\0\0\0\x05\0\x01\0\x01"));
    bytes.extend(message(b'D', b"Pp1\0"));
    bytes.extend(message(b'E', b"p1\0\0\0\0\x02"));
    bytes.extend(message(b'S', b""));
    bytes
}

/// Property: whatever follows a valid startup (random frames, or a valid exchange with random
/// bytes changed), the server answers or closes that connection only, and keeps serving others.
#[tokio::test]
async fn random_and_mutated_messages_never_stop_the_server() {
    let server = TestServer::start();
    let client = server.connect().await;
    let mut random = Random(20_261_126);
    let kinds = b"PBDESQCHFXdcfp\x00\xff";
    for case in 0..120 {
        let mut input = startup("tester");
        if case % 2 == 0 {
            for _ in 0..1 + random.below(4) {
                let body: Vec<u8> = (0..random.below(64)).map(|_| random.next() as u8).collect();
                input.extend(message(kinds[random.below(kinds.len())], &body));
            }
        } else {
            let mut exchange = extended_exchange();
            for _ in 0..1 + random.below(3) {
                let at = random.below(exchange.len());
                exchange[at] = random.next() as u8;
            }
            input.extend(exchange);
        }
        let address = server.address;
        tokio::task::spawn_blocking(move || send_raw(address, &input)).await.expect("the raw client finishes");
    }
    let messages = client.simple_query("SELECT 1").await.expect("the first connection still works");
    assert_eq!(messages.len(), 3, "row description, row and completion");
    let fresh = server.connect().await;
    let row = fresh.query_one("SELECT count(*) FROM dim_store", &[]).await.expect("a new connection works");
    assert_eq!(row.get::<_, i64>(0), 50);
}
