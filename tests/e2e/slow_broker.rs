//! A slow broker slows Lantern down; it does not stop it.
//!
//! The backbone's drain check asked the broker for watermarks (ListOffsets, 10 s timeout) on the
//! consumer's own connection. A broker answers one connection's requests in order, and
//! librdkafka keeps a fetch outstanding on it, so when fetches took longer than 10 s (tansu on a
//! large SQLite file took ~60 s) every check timed out, was sent again and queued behind the
//! next fetch: `process --drain` never finished. This test puts a proxy in front of a real
//! broker that holds every Fetch response for 12 s, and requires drain to finish with exact
//! totals.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

const FETCH: i16 = 1;
const FETCH_DELAY: Duration = Duration::from_secs(12);

/// Reads one length-prefixed Kafka frame (request or response), prefix included.
async fn read_frame(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.ok()?;
    let mut frame = size.to_vec();
    frame.resize(4 + i32::from_be_bytes(size) as usize, 0);
    stream.read_exact(&mut frame[4..]).await.ok()?;
    Some(frame)
}

/// Forwards one client connection to the broker, holding each Fetch response for
/// `FETCH_DELAY` (and, as a real slow broker would, every response queued behind it).
async fn proxy_connection(client: TcpStream, broker_port: u16) {
    let Ok(broker) = TcpStream::connect(("127.0.0.1", broker_port)).await else {
        return;
    };
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut broker_rx, mut broker_tx) = broker.into_split();
    // correlation id -> api key of the requests in flight on this connection.
    let in_flight = Arc::new(Mutex::new(HashMap::<i32, i16>::new()));
    let requests = Arc::clone(&in_flight);
    tokio::spawn(async move {
        while let Some(frame) = read_frame(&mut client_rx).await {
            // Request header: api_key i16, api_version i16, correlation_id i32.
            let api_key = i16::from_be_bytes([frame[4], frame[5]]);
            let correlation = i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
            requests.lock().unwrap().insert(correlation, api_key);
            if broker_tx.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    while let Some(frame) = read_frame(&mut broker_rx).await {
        let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if in_flight.lock().unwrap().remove(&correlation) == Some(FETCH) {
            tokio::time::sleep(FETCH_DELAY).await;
        }
        if client_tx.write_all(&frame).await.is_err() {
            break;
        }
    }
}

/// Waits for `child` until `deadline`, killing it then; returns its exit status (None if killed)
/// and what it wrote to stderr.
async fn wait_or_kill(mut child: Child, deadline: Instant) -> (Option<ExitStatus>, String) {
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_finishes_when_every_fetch_takes_longer_than_a_metadata_timeout() {
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    // The broker tells clients to connect to the proxy, so every connection goes through it.
    let broker = Broker::own_advertising(proxy_port);
    let Broker::Own {
        port: broker_port, ..
    } = broker
    else {
        unreachable!()
    };
    tokio::spawn(async move {
        while let Ok((client, _)) = proxy.accept().await {
            tokio::spawn(proxy_connection(client, broker_port));
        }
    });
    let l = Lantern::on_broker(broker, "pipelines = [\"incidents\"]");
    let may = "2022-05-10T12:00:00+01:00";
    let records: Vec<_> = (0..50)
        .map(|i| {
            incident(
                &format!("S{i}"),
                1,
                "recorded",
                may,
                "Burglary",
                Some("E01025232"),
            )
        })
        .collect();
    l.produce(&l.topics.incidents, &records).await;

    let started = Instant::now();
    let drain = l
        .command(&["process", "--drain"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr) = wait_or_kill(drain, started + Duration::from_secs(240)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "process --drain did not finish against a slow broker ({status:?}): {stderr}"
    );
    assert!(
        started.elapsed() >= FETCH_DELAY,
        "the proxy did not slow the fetches down"
    );
    assert_eq!(l.count("SELECT SUM(incidents) FROM incidents_monthly"), 50);
}
