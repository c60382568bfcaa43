//! A loopback TCP relay that counts the connections made through it and notes when the first
//! one came: in front of the Runtime API (when a function's init is over) and, in the short
//! pass after the timed runs, in front of the store and the gateway (connections per request).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A running relay; stopped on drop.
pub(crate) struct Relay {
    pub(crate) addr: SocketAddr,
    first_connect: Arc<OnceLock<Instant>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind relay: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("relay address: {e}"));
        let first_connect = Arc::new(OnceLock::new());
        let connections = Arc::new(AtomicUsize::new(0));
        let (seen, count) = (Arc::clone(&first_connect), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let _ = seen.set(Instant::now());
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            addr,
            first_connect,
            connections,
            task,
        }
    }

    /// When the first connection came, if one did.
    pub(crate) fn first_connect(&self) -> Option<Instant> {
        self.first_connect.get().copied()
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `host:port` of an `http://host:port/...` URL.
pub(crate) fn url_addr(url: &str) -> Option<SocketAddr> {
    let rest = url.split_once("://")?.1;
    let hostport = rest.split('/').next()?;
    hostport.parse().ok()
}

/// `url` with its `host:port` replaced by `addr`.
pub(crate) fn url_via(url: &str, addr: SocketAddr) -> String {
    match url_addr(url) {
        Some(old) => url.replacen(&old.to_string(), &addr.to_string(), 1),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_address() {
        let url = "http://127.0.0.1:4567/gateway.do";
        assert_eq!(url_addr(url), "127.0.0.1:4567".parse().ok());
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url_via(url, to), "http://127.0.0.1:9/gateway.do");
    }
}
