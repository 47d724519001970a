//! Which destinations a webhook may reach: the address policy shared by the subscription API
//! (checked when a URL is saved) and the HTTP client (checked again for every resolved address
//! and literal IP at delivery time, so DNS changes and rebinding cannot get around it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use reqwest::Url;

/// The longest URL accepted for a subscription.
pub const MAX_URL_LEN: usize = 2048;

/// A destination that resolves to an address webhooks may not reach.
#[derive(Debug, Clone, thiserror::Error)]
#[error("blocked address: {0} is not a public address")]
pub struct BlockedAddress(pub IpAddr);

/// True when `ip` is loopback, private, link-local, CGNAT, multicast, documentation, reserved,
/// unspecified or otherwise not a public unicast address (IPv4-mapped IPv6 judged as IPv4).
pub fn is_blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_blocked(v4),
        IpAddr::V6(v6) => v6_blocked(v6),
    }
}

fn v4_blocked(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                        // 0.0.0.0/8 "this network", unspecified
        || ip.is_loopback()                       // 127.0.0.0/8
        || ip.is_private()                        // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                     // 169.254/16 (cloud metadata)
        || (a == 100 && (b & 0xC0) == 64)         // 100.64/10 CGNAT
        || (a == 192 && b == 0 && c == 0)         // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)         // 192.0.2/24 documentation
        || (a == 198 && b == 51 && c == 100)      // 198.51.100/24 documentation
        || (a == 203 && b == 0 && c == 113)       // 203.0.113/24 documentation
        || (a == 198 && (b & 0xFE) == 18)         // 198.18/15 benchmarking
        || (a == 192 && b == 88 && c == 99)       // 192.88.99/24 6to4 relay anycast
        || ip.is_multicast()                      // 224/4
        || a >= 240 // 240/4 reserved, and broadcast
}

fn v6_blocked(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_blocked(v4);
    }
    let s = ip.segments();
    // Only global unicast (2000::/3) is reachable; this excludes ::, ::1, v4-compatible,
    // NAT64, ULA (fc00::/7), link-local (fe80::/10), site-local and multicast (ff00::/8).
    if s[0] & 0xE000 != 0x2000 {
        return true;
    }
    // 2001::/23 IETF protocol assignments (Teredo, benchmarking, ORCHID), 2001:db8::/32 and
    // 3fff::/20 documentation, 2002::/16 6to4 (embeds any IPv4).
    (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || s[0] == 0x2002 || (s[0] == 0x3fff && s[1] < 0x1000)
}

/// Why a URL is not acceptable as a webhook destination (the message is shown to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUrl(pub String);

/// Parses and checks a destination's form: `https://` (or `http://` when private destinations
/// are allowed), a host, no longer than [`MAX_URL_LEN`]; a literal IP host must be public.
pub fn parse_url(raw: &str, allow_private: bool) -> Result<Url, InvalidUrl> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(InvalidUrl(format!("url must be at most {MAX_URL_LEN} characters")));
    }
    let url = Url::parse(raw).map_err(|_| InvalidUrl("url is not a valid absolute URL".into()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(InvalidUrl("url must use https://".into())),
    }
    let Some(host) = url.host() else {
        return Err(InvalidUrl("url must have a host".into()));
    };
    if !allow_private {
        if let Some(ip) = literal_ip(&host) {
            if is_blocked(ip) {
                return Err(InvalidUrl(format!("url points to {ip}, which is not a public address")));
            }
        }
        if let url::Host::Domain(name) = host {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                return Err(InvalidUrl("url points to localhost, which is not a public address".into()));
            }
        }
    }
    Ok(url)
}

/// How long saving a subscription waits for DNS.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// `parse_url`, then (unless private destinations are allowed) the host's current DNS answer:
/// any internal address refuses the URL. A name that does not resolve right now is accepted —
/// DNS may be briefly down, and every delivery checks the resolved addresses again anyway.
pub async fn check_destination(raw: &str, allow_private: bool) -> Result<Url, InvalidUrl> {
    let url = parse_url(raw, allow_private)?;
    if allow_private {
        return Ok(url);
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, port))).await;
        if let Ok(Ok(addrs)) = lookup {
            if let Some(ip) = first_blocked(addrs.map(|a| a.ip())) {
                return Err(InvalidUrl(format!("url resolves to {ip}, which is not a public address")));
            }
        }
    }
    Ok(url)
}

/// The IP of a literal-address host (`https://10.0.0.1/`, `https://[::1]/`).
pub fn literal_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(*v6)),
        url::Host::Domain(_) => None,
    }
}

/// The first blocked address among `addrs`, if any: a name is refused when any of its
/// addresses is internal, since the connector may pick any of them.
pub fn first_blocked(addrs: impl IntoIterator<Item = IpAddr>) -> Option<IpAddr> {
    addrs.into_iter().find(|ip| is_blocked(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(s: &str) -> bool {
        is_blocked(s.parse().unwrap())
    }

    #[test]
    fn internal_ipv4_ranges_are_blocked() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(blocked(ip), "{ip} should be blocked");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "198.20.0.1", "223.255.255.255"]
        {
            assert!(!blocked(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn internal_ipv6_ranges_and_mapped_ipv4_are_blocked() {
        for ip in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
            "3fff::1",
        ] {
            assert!(blocked(ip), "{ip} should be blocked");
        }
        for ip in ["2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"] {
            assert!(!blocked(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_hosts() {
        assert!(parse_url("https://hooks.example.com/klinivo", false).is_ok());
        assert!(parse_url("https://93.184.216.34/hook", false).is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "not a url",
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://",
            "mailto:someone@example.com",
        ] {
            assert!(parse_url(bad, false).is_err(), "{bad} should be refused");
        }
        assert!(parse_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(parse_url("http://localhost:9000/hook", true).is_ok());
        assert!(parse_url("ftp://127.0.0.1/", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_url(&long, false).is_err());
    }
}
