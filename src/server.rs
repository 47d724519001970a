//! Running the server: the HTTP loop (with a header-read timeout against slow clients) and the
//! background tasks, and the graceful shutdown that drains them in order.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::state::AppState;

/// A slow client must send its request headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line and headers larger than this are refused (`431`).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Open client connections at most; past it, new ones wait in the listen backlog until one
/// closes. Each connection holds buffers and a task, so their number must have a bound.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Serves until `shutdown` fires, then: stop accepting, finish in-flight requests, stop the
/// background tasks (in-flight webhook deliveries finish, audit entries are flushed).
pub async fn run(state: AppState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = crate::http::app(state.clone());
    run_app(app, state, listener, shutdown).await
}

/// As `run`, with any router (tests mount extra routes behind the same layers).
pub async fn run_app(
    app: axum::Router,
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let background = CancellationToken::new();
    let tasks = crate::background::spawn(state.clone(), background.clone());
    serve_http(app, listener, shutdown).await;
    background.cancel();
    for task in tasks {
        let _ = task.await;
    }
    tracing::info!("shutdown complete");
    Ok(())
}

async fn serve_http(app: axum::Router, listener: TcpListener, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |req: axum::http::Request<hyper::body::Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_header_size(MAX_HEADER_BYTES)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("draining in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("drain timed out; closing remaining connections"),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown signal received");
}
