//! Load generation over keep-alive connections.
//!
//! - Closed loop: N connections, each sends its next request as soon as the previous answer is
//!   in. Measures the most a server does with N clients.
//! - Open loop at a fixed rate: request `i` is *scheduled* at `start + i / rate`, whether or not
//!   earlier ones were answered. Latency is measured from the scheduled time, so a server stall
//!   shows up in every request it delayed (no coordinated omission). A pool of connections takes
//!   the slots in order; when all are busy, the waiting time counts as latency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http1::Connection;
use crate::stats::{Latency, round3};

/// What a run produced (samples only from the measured window, after warm-up).
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    /// Requests that could not be sent or answered (I/O).
    pub io_errors: u64,
    pub window: Duration,
    pub latency: Latency,
    /// Open loop only: latency measured from the actual send, excluding queueing.
    pub service_latency: Option<Latency>,
    /// Open loop only: the rate asked for, and sends that started more than 1 ms late.
    pub target_rate: Option<f64>,
    pub late_sends: u64,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        if self.window.is_zero() {
            return 0.0;
        }
        (self.ok + self.failed) as f64 / self.window.as_secs_f64()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.ok,
            "failed": self.failed,
            "ioErrors": self.io_errors,
            "windowSecs": round3(self.window.as_secs_f64()),
            "throughputPerSec": round3(self.throughput()),
            "latency": self.latency.to_json(),
            "serviceLatency": self.service_latency.map(Latency::to_json),
            "targetRatePerSec": self.target_rate,
            "lateSends": self.late_sends,
        })
    }
}

#[derive(Default)]
struct WorkerTally {
    ok: u64,
    failed: u64,
    io_errors: u64,
    latencies: Vec<Duration>,
    service: Vec<Duration>,
    late: u64,
}

impl WorkerTally {
    fn merge(results: Vec<WorkerTally>) -> WorkerTally {
        let mut all = WorkerTally::default();
        for r in results {
            all.ok += r.ok;
            all.failed += r.failed;
            all.io_errors += r.io_errors;
            all.late += r.late;
            all.latencies.extend(r.latencies);
            all.service.extend(r.service);
        }
        all
    }
}

/// Sends `request` and tallies the outcome; reconnects after an I/O error.
async fn exchange(
    connection: &mut Option<Connection>,
    addr: SocketAddr,
    request: &[u8],
) -> Result<bool, ()> {
    if connection.is_none() {
        *connection = Connection::connect(addr).await.ok();
    }
    let Some(conn) = connection.as_mut() else {
        return Err(());
    };
    match conn.send(request).await {
        Ok(response) => Ok(response.is_success()),
        Err(_) => {
            *connection = None;
            Err(())
        }
    }
}

/// `connections` clients send back to back for `warmup + duration`; only the last `duration`
/// is measured.
pub async fn closed_loop(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> LoadResult {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = WorkerTally::default();
            let mut connection = None;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = exchange(&mut connection, addr, &request).await;
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(true) => {
                        tally.ok += 1;
                        tally.latencies.push(sent.elapsed());
                    }
                    Ok(false) => tally.failed += 1,
                    Err(()) => {
                        tally.io_errors += 1;
                        // Do not spin on a server that refuses connections.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            tally
        }));
    }
    let tally = join_all(tasks).await;
    LoadResult {
        ok: tally.ok,
        failed: tally.failed,
        io_errors: tally.io_errors,
        window: duration,
        latency: Latency::from_samples(&tally.latencies),
        service_latency: None,
        target_rate: None,
        late_sends: 0,
    }
}

/// Sends at `rate` per second for `warmup + duration` over up to `connections` connections;
/// latency counts from each request's scheduled time. Only requests scheduled after the
/// warm-up are measured.
pub async fn open_loop(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    rate: f64,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> LoadResult {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let warmup_slots = (warmup.as_secs_f64() * rate).round() as u64;
    let total_slots = warmup_slots + (duration.as_secs_f64() * rate).round() as u64;
    // Connections are opened before the clock starts, so set-up is not counted as latency.
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Connection::connect(addr).await.ok());
    }
    let start = Instant::now() + Duration::from_millis(5);
    let slots = Arc::new(tokio::sync::Mutex::new(pace_slots(
        start,
        interval,
        total_slots,
    )));
    let mut tasks = Vec::with_capacity(connections);
    for connection in opened {
        let request = request.clone();
        let slots = slots.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = WorkerTally::default();
            let mut connection = connection;
            loop {
                // The next due slot goes to whichever connection is free first; when all are
                // busy, slots wait here and that wait counts as latency.
                let next = slots.lock().await.recv().await;
                let Some((slot, scheduled)) = next else {
                    break;
                };
                let sent = Instant::now();
                let outcome = exchange(&mut connection, addr, &request).await;
                let done = Instant::now();
                if slot < warmup_slots {
                    continue;
                }
                if sent.duration_since(scheduled) > Duration::from_millis(1) {
                    tally.late += 1;
                }
                match outcome {
                    Ok(true) => {
                        tally.ok += 1;
                        tally.latencies.push(done.duration_since(scheduled));
                        tally.service.push(done.duration_since(sent));
                    }
                    Ok(false) => tally.failed += 1,
                    Err(()) => tally.io_errors += 1,
                }
            }
            tally
        }));
    }
    let tally = join_all(tasks).await;
    LoadResult {
        ok: tally.ok,
        failed: tally.failed,
        io_errors: tally.io_errors,
        window: duration,
        latency: Latency::from_samples(&tally.latencies),
        service_latency: Some(Latency::from_samples(&tally.service)),
        target_rate: Some(rate),
        late_sends: tally.late,
    }
}

/// Releases slot `i` at `start + i × interval` from a thread of its own: an OS sleep wakes
/// within tens of microseconds, where tokio's timer rounds every deadline up to the next
/// millisecond (which, at 1,000/s, would add most of a millisecond to every sample).
fn pace_slots(
    start: Instant,
    interval: Duration,
    total: u64,
) -> tokio::sync::mpsc::UnboundedReceiver<(u64, Instant)> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for slot in 0..total {
            let due = start + interval.mul_f64(slot as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if sender.send((slot, due)).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn join_all(tasks: Vec<tokio::task::JoinHandle<WorkerTally>>) -> WorkerTally {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        // A worker that panicked contributes nothing; its requests count as never sent.
        if let Ok(tally) = task.await {
            results.push(tally);
        }
    }
    WorkerTally::merge(results)
}

/// Requests for one connection, in order, each with its index in the whole batch.
pub type Lane = Vec<(usize, Arc<Vec<u8>>)>;

/// Outcome of sending a fixed list of requests.
#[derive(Debug, Clone)]
pub struct BatchResult {
    /// Per request, in the order given: the status (0 for an I/O error).
    pub statuses: Vec<u16>,
    pub latency: Latency,
    pub elapsed: Duration,
    /// The first answer that was not a success, as `status body`, to explain a failed run.
    pub first_failure: Option<String>,
}

impl BatchResult {
    pub fn ok(&self) -> usize {
        self.statuses
            .iter()
            .filter(|s| (200..300).contains(*s))
            .count()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.statuses.len(),
            "ok": self.ok(),
            "elapsedSecs": round3(self.elapsed.as_secs_f64()),
            "throughputPerSec": round3(self.statuses.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)),
            "latency": self.latency.to_json(),
        })
    }
}

/// Sends each lane's requests in order on a connection of its own, lanes in parallel, as fast
/// as answers come back. Keeping a lane on one connection keeps the acceptance order of its
/// requests equal to the order given.
pub async fn send_lanes(addr: SocketAddr, lanes: Vec<Lane>) -> BatchResult {
    let total: usize = lanes.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(lanes.len());
    for lane in lanes {
        tasks.push(tokio::spawn(async move {
            let mut connection = None;
            let mut out = Vec::with_capacity(lane.len());
            let mut failure = None;
            for (index, request) in lane {
                let sent = Instant::now();
                let (status, problem) = send_once(&mut connection, addr, &request).await;
                if failure.is_none() {
                    failure = problem;
                }
                out.push((index, status, sent.elapsed()));
            }
            (out, failure)
        }));
    }
    let mut statuses = vec![0u16; total];
    let mut latencies = Vec::with_capacity(total);
    let mut first_failure = None;
    for task in tasks {
        if let Ok((results, failure)) = task.await {
            if first_failure.is_none() {
                first_failure = failure;
            }
            for (index, status, latency) in results {
                if let Some(slot) = statuses.get_mut(index) {
                    *slot = status;
                }
                latencies.push(latency);
            }
        }
    }
    BatchResult {
        statuses,
        latency: Latency::from_samples(&latencies),
        elapsed: start.elapsed(),
        first_failure,
    }
}

/// One request, never repeated (a repeat could duplicate a message); a connection that failed
/// is reopened for the next one. Returns the status (0 for an I/O error) and, for a failure,
/// what went wrong.
async fn send_once(
    connection: &mut Option<Connection>,
    addr: SocketAddr,
    request: &[u8],
) -> (u16, Option<String>) {
    if connection.is_none() {
        match Connection::connect(addr).await {
            Ok(conn) => *connection = Some(conn),
            Err(e) => return (0, Some(format!("cannot connect: {e}"))),
        }
    }
    let Some(conn) = connection.as_mut() else {
        return (0, Some("no connection".to_owned()));
    };
    match conn.send(request).await {
        Ok(response) if response.is_success() => (response.status, None),
        Ok(response) => {
            let body = String::from_utf8_lossy(&response.body).into_owned();
            (response.status, Some(format!("{} {body}", response.status)))
        }
        Err(e) => {
            *connection = None;
            (0, Some(format!("I/O error: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::http1::post_json;

    /// A keep-alive server that answers every request at once, except request number `stall_at`
    /// (counting from 1), which it holds for `stall`.
    async fn stalling_server(stall_at: usize, stall: Duration) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // Our requests carry `Content-Length: 2` and a 2-byte body.
                        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let head = buffer
                            .windows(4)
                            .position(|w| w == b"\r\n\r\n")
                            .unwrap_or(0)
                            + 4;
                        while buffer.len() < head + 2 {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buffer.drain(..head + 2);
                        if seen.fetch_add(1, Ordering::SeqCst) + 1 == stall_at {
                            tokio::time::sleep(stall).await;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_counts_a_stall_against_every_request_it_delayed() {
        let addr = stalling_server(11, Duration::from_millis(300)).await;
        let request = Arc::new(post_json("/", b"{}"));
        // 100 requests at 100/s on one connection: the stall at the 11th holds back about 30.
        let result = open_loop(
            addr,
            request,
            100.0,
            1,
            Duration::ZERO,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(result.ok, 100, "{result:?}");
        assert!(result.latency.max_ms >= 290.0, "{result:?}");
        // Measured from the schedule, the queue behind the stall shows in the tail...
        assert!(result.latency.p90_ms >= 50.0, "{result:?}");
        // ...which a generator timing only its own sends would have hidden.
        let service = result
            .service_latency
            .expect("open loop measures sends too");
        assert!(service.p90_ms < 50.0, "{service:?}");
        assert!(result.late_sends >= 20, "{result:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_and_lanes_count_every_answer() {
        let addr = stalling_server(0, Duration::ZERO).await;
        let request = Arc::new(post_json("/", b"{}"));
        let result = closed_loop(
            addr,
            request.clone(),
            4,
            Duration::from_millis(50),
            Duration::from_millis(200),
        )
        .await;
        assert!(result.ok > 0, "{result:?}");
        assert_eq!(result.failed + result.io_errors, 0, "{result:?}");
        assert_eq!(result.latency.count as u64, result.ok);

        let lanes = vec![
            vec![(0, request.clone()), (2, request.clone())],
            vec![(1, request.clone())],
        ];
        let batch = send_lanes(addr, lanes).await;
        assert_eq!(batch.statuses, vec![200, 200, 200]);
        assert_eq!(batch.ok(), 3);
        assert!(batch.first_failure.is_none());
    }
}
