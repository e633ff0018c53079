//! Graceful shutdown: on SIGTERM (every scale-in on Azure) the host stops
//! accepting connections, lets the calls being answered finish within its
//! grace period, and exits 0.

use std::time::{Duration, Instant};

use mcp_e2e::harness::{Host, whoami_wasm};

#[tokio::test]
async fn sigterm_lets_calls_in_flight_finish_then_exits() {
    const CALLS: usize = 8;
    let mut host = Host::start(&[("whoami", &whoami_wasm(), "")], &["--shutdown-grace-ms", "10000"]);
    let mut calls = Vec::new();
    for _ in 0..CALLS {
        calls.push(host.slow_call(1500).await);
    }
    let signalled = Instant::now();
    host.terminate();
    // New connections are refused once the host has taken the signal.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(host.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut completed = 0;
    for mut sse in calls {
        let last = sse.next(Duration::from_secs(10)).await.expect("the call's answer");
        assert_eq!(last["result"]["structuredContent"]["slept_ms"], 1500, "{last}");
        completed += 1;
    }
    let status = host.wait_exit(Duration::from_secs(5)).expect("the host exits once the calls are answered");
    assert!(status.success(), "{status}");
    eprintln!(
        "calls completed during the drain: {completed}/{CALLS}; exit {:?} after SIGTERM",
        signalled.elapsed()
    );
    host.logged("every request finished");
}

#[tokio::test]
async fn the_grace_period_bounds_the_wait() {
    let mut host = Host::start(&[("whoami", &whoami_wasm(), "")], &["--shutdown-grace-ms", "500"]);
    let _call = host.slow_call(20_000).await;
    let signalled = Instant::now();
    host.terminate();
    let status = host.wait_exit(Duration::from_secs(5)).expect("the host exits after its grace period");
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() >= Duration::from_millis(500), "it waited for the call first");
    host.logged("the shutdown grace period ended");
}

/// One `GET /status` on an open keep-alive connection; the answer's head and body.
fn get_status(stream: &mut std::net::TcpStream) -> String {
    use std::io::{Read as _, Write as _};
    write!(stream, "GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_lowercase().strip_prefix("content-length:")?.trim().parse().ok());
            if body.len() >= length.expect("a Content-Length") {
                return text;
            }
        }
        let read = stream.read(&mut buffer).expect("an answer");
        assert!(read > 0, "closed before the answer: {text}");
        answer.extend_from_slice(&buffer[..read]);
    }
}

/// Behind a load balancer: a connection idle when the signal comes is not
/// closed under a request the balancer may be sending on it; a request on it
/// is answered with `Connection: close`, and then the host closes it.
#[tokio::test]
async fn during_the_drain_open_connections_are_answered_with_connection_close() {
    use std::io::Read as _;
    let mut host = Host::start(&[("whoami", &whoami_wasm(), "")], &["--shutdown-grace-ms", "10000"]);
    let mut stream = std::net::TcpStream::connect(host.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let before = get_status(&mut stream);
    assert!(!before.to_lowercase().contains("connection: close"), "{before}");

    host.terminate();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(host.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The balancer reuses its idle connection a moment after the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = get_status(&mut stream);
    assert!(during.starts_with("HTTP/1.1 200 "), "{during}");
    assert!(during.to_lowercase().contains("connection: close"), "{during}");
    assert_eq!(stream.read(&mut [0; 64]).unwrap(), 0, "closed after that answer");
    let status = host.wait_exit(Duration::from_secs(5)).expect("the host exits");
    assert!(status.success(), "{status}");
}

/// `--drain-idle-ms` sets how long an idle connection is left open after the
/// signal (for a front end that keeps idle connections longer than 2 s, or one
/// that needs them closed sooner).
#[tokio::test]
async fn the_idle_drain_is_a_setting() {
    use std::io::Read as _;
    for (drain_ms, at_least, below) in [(300, 0, 1_500), (3_000, 2_500, 6_000)] {
        let drain = drain_ms.to_string();
        let args = ["--shutdown-grace-ms", "10000", "--drain-idle-ms", drain.as_str()];
        let mut host = Host::start(&[("whoami", &whoami_wasm(), "")], &args);
        let mut stream = std::net::TcpStream::connect(host.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        get_status(&mut stream);
        let signalled = Instant::now();
        host.terminate();
        // Idle, the connection is closed by the host once the drain is over.
        assert_eq!(stream.read(&mut [0; 64]).unwrap(), 0, "closed by the host");
        let closed = signalled.elapsed().as_millis();
        assert!((at_least..below).contains(&closed), "--drain-idle-ms {drain_ms}: closed after {closed} ms");
        assert!(host.wait_exit(Duration::from_secs(5)).expect("the host exits").success());
    }
}
