//! Attributes each request to a client address (`crate::net::client_address`): the TCP peer, or
//! behind a trusted proxy the address it forwarded. The failed-authentication throttle and the
//! audit log both read it from here, so they always agree.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};

use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Attaches the request's client address (`front` does, for every request).
pub fn attach(state: &AppState, req: &mut Request) {
    if let Some(peer) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        let forwarded = req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let addr = crate::net::client_address(peer, forwarded, &state.config.trusted_proxies);
        req.extensions_mut().insert(ClientAddress(addr));
    }
}

/// The request's client address, if it came over a socket.
pub fn of(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ClientAddress>().map(|c| c.0)
}
