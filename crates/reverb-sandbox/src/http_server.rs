//! Starting and stopping the actix-web servers behind every fake.
//!
//! Servers are spawned onto the caller's tokio runtime; actix runs its workers on threads of
//! their own. Signals are disabled so a test binary's Ctrl-C handling is left alone.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;

/// Orca's executions can be megabytes; nothing here should refuse a realistic body.
pub(crate) const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Two workers match the two-core machines the project is built on; the fakes are cheap.
const WORKERS: usize = 2;

/// Binds `bind`, or `127.0.0.1:0` when none is given.
pub(crate) fn bind(bind: Option<SocketAddr>) -> io::Result<TcpListener> {
    let addr = bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    TcpListener::bind(addr)
}

/// The runtime the fake was started from; background work (outbound HTTP) runs there so that it
/// outlives a single request and never depends on an actix worker's runtime.
pub(crate) fn current_runtime() -> io::Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current().map_err(|err| {
        io::Error::other(format!(
            "the sandbox fakes must be started inside a tokio runtime: {err}"
        ))
    })
}

pub(crate) fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A running server; dropping it asks actix to stop at once.
pub(crate) struct RunningServer {
    addr: SocketAddr,
    handle: ServerHandle,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// Serves the routes that `configure` registers on an already bound listener.
    pub(crate) fn spawn<F>(
        listener: TcpListener,
        runtime: &tokio::runtime::Handle,
        configure: F,
    ) -> io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .app_data(web::JsonConfig::default().limit(BODY_LIMIT))
                .configure(configure.clone())
        })
        .workers(WORKERS)
        .disable_signals()
        .shutdown_timeout(1)
        .client_request_timeout(Duration::from_secs(30))
        .listen(listener)?
        .run();
        let handle = server.handle();
        let task = runtime.spawn(server);
        Ok(Self {
            addr,
            handle,
            task: Some(task),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops gracefully (in-flight requests get up to a second) and waits until it is down.
    pub(crate) async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            // The server's own result says nothing useful once we asked it to stop.
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.task.take().is_some() {
            // The command is sent eagerly; the returned future only waits for completion.
            drop(self.handle.stop(false));
        }
    }
}
