//! The HTTP client deliveries go out with: a total timeout per attempt, no redirects, no
//! proxy, at most 64 KiB of a response read (and none of it kept), and an SSRF guard that
//! refuses literal internal IPs and every name that resolves to one — at connect time, through
//! its own resolver, so what was checked is what is connected to.

use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Url;

use super::guard::{self, BlockedAddress};

pub const USER_AGENT: &str = "Klinivo-Webhooks/1";
/// How much of a receiver's response is read (then dropped: responses may contain anything).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The result of one attempt, as recorded in the attempt log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status_code: Option<u16>,
    /// Why the attempt failed; `None` on success.
    pub error: Option<String>,
    pub duration: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    allow_private: bool,
}

impl WebhookClient {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<WebhookClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!allow_private)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()?;
        Ok(WebhookClient { http, allow_private })
    }

    /// POSTs `body` to `url` with `headers` (Content-Type is added), within `timeout`.
    /// Success is a 2xx status; anything else is a failure described in `Outcome::error`.
    pub async fn post(&self, url: &str, headers: HeaderMap, body: Bytes, timeout: Duration) -> Outcome {
        let started = Instant::now();
        let result = self.try_post(url, headers, body, timeout).await;
        let duration = started.elapsed();
        match result {
            Ok(status) if (200..300).contains(&status) => Outcome { status_code: Some(status), error: None, duration },
            Ok(status) if (300..400).contains(&status) => Outcome {
                status_code: Some(status),
                error: Some(format!("HTTP {status}: redirects are not followed")),
                duration,
            },
            Ok(status) => Outcome { status_code: Some(status), error: Some(format!("HTTP {status}")), duration },
            Err(error) => Outcome { status_code: None, error: Some(error), duration },
        }
    }

    async fn try_post(&self, url: &str, mut headers: HeaderMap, body: Bytes, timeout: Duration) -> Result<u16, String> {
        let url = Url::parse(url).map_err(|_| "invalid url".to_string())?;
        if !self.allow_private {
            // Literal IPs never reach the resolver, so they are checked here.
            if let Some(ip) = url.host().as_ref().and_then(guard::literal_ip) {
                if guard::is_blocked(ip) {
                    return Err(BlockedAddress(ip).to_string());
                }
            }
            if url.scheme() != "https" {
                return Err("url must use https://".into());
            }
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut response = self
            .http
            .post(url)
            .headers(headers)
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&e, timeout))?;
        let status = response.status().as_u16();
        let mut read = 0;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }
}

/// Builds a header map from name/value pairs; values that are not valid header text are
/// skipped (ours are ASCII: ids, numbers, signatures, event type names).
pub fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    map
}

/// A short, content-free description of a transport failure.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if let Some(blocked) = find_source::<BlockedAddress>(e) {
        return blocked.to_string();
    }
    if e.is_timeout() {
        return format!("timeout after {} ms", timeout.as_millis());
    }
    if let Some(io) = find_source::<std::io::Error>(e) {
        use std::io::ErrorKind::*;
        match io.kind() {
            ConnectionRefused => return "connection refused".into(),
            ConnectionReset | ConnectionAborted => return "connection reset".into(),
            TimedOut => return format!("timeout after {} ms", timeout.as_millis()),
            _ if e.is_connect() => return format!("connection failed: {io}"),
            _ => {}
        }
    }
    if e.is_connect() {
        return "connection failed".into();
    }
    "request failed".into()
}

fn find_source<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// Resolves with the system resolver, then refuses the name if any address is internal.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                if let Some(ip) = guard::first_blocked(addrs.iter().map(|a| a.ip())) {
                    return Err(Box::new(BlockedAddress(ip)) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
