//! Addresses: the trusted-proxy list (`KLINIVO_TRUSTED_PROXIES`), the client address a request
//! is attributed to, and the unit that per-address throttles count in.
//!
//! The client is the TCP peer, unless the peer is a trusted proxy: then it is the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Each proxy appends the address it
//! received the request from, so entries to the right of the first untrusted one were written by
//! proxies we trust, and everything to its left was written by the client and proves nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address block such as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let network = canonical(network);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{text:?} has a prefix length outside 0-{max}")),
            },
        };
        Ok(Cidr { network: mask(network, prefix), prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }
}

/// The proxies whose `X-Forwarded-For` is believed; empty by default (believe none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// A comma-separated list of addresses and CIDR blocks.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let blocks = text.split(',').filter(|s| !s.trim().is_empty()).map(Cidr::parse).collect::<Result<_, _>>()?;
        Ok(TrustedProxies(blocks))
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(addr))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The address a request is attributed to (throttles, the audit log).
///
/// `forwarded` is every `X-Forwarded-For` header value, in the order received. An entry that is
/// not an address ends the walk: the nearest trusted hop is then the best we know.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    let entries: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    for entry in entries.iter().rev() {
        let Some(addr) = parse_entry(entry) else { break };
        client = addr;
        if !trusted.contains(addr) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse::<Ipv6Addr>().ok()).map(|a| canonical(IpAddr::V6(a)));
    }
    let (host, port) = entry.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// What a per-address throttle counts: an IPv4 address, or an IPv6 /64 (one host usually holds
/// a whole /64, so counting single IPv6 addresses would count nothing).
pub fn throttle_unit(addr: IpAddr) -> IpAddr {
    match canonical(addr) {
        v4 @ IpAddr::V4(_) => v4,
        v6 => mask(v6, 64),
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 address they are.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolve(peer: &str, xff: &[&str], trusted: &str) -> IpAddr {
        client_address(ip(peer), xff.iter().copied(), &TrustedProxies::parse(trusted).unwrap())
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fdab::1")));
        assert!(Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "::/129", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap().contains(ip("127.0.0.1")));
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        assert_eq!(resolve("203.0.113.9", &["198.51.100.1"], ""), ip("203.0.113.9"));
        assert_eq!(resolve("203.0.113.9", &["198.51.100.1"], "10.0.0.0/8"), ip("203.0.113.9"));
        assert_eq!(resolve("10.0.0.2", &["198.51.100.1"], "10.0.0.0/8"), ip("198.51.100.1"));
    }

    #[test]
    fn the_rightmost_untrusted_entry_wins_and_spoofed_entries_to_its_left_do_not() {
        let got = resolve("10.0.0.2", &["1.1.1.1, 198.51.100.1, 10.0.0.3"], "10.0.0.0/8");
        assert_eq!(got, ip("198.51.100.1"));
        // Several headers are one list, in order.
        assert_eq!(resolve("10.0.0.2", &["1.1.1.1", "198.51.100.1"], "10.0.0.0/8"), ip("198.51.100.1"));
        // Only trusted hops: the left-most is the client.
        assert_eq!(resolve("10.0.0.2", &["10.0.0.5, 10.0.0.3"], "10.0.0.0/8"), ip("10.0.0.5"));
        // Garbage ends the walk at the nearest trusted hop.
        assert_eq!(resolve("10.0.0.2", &["1.1.1.1, bogus, 10.0.0.3"], "10.0.0.0/8"), ip("10.0.0.3"));
        assert_eq!(resolve("10.0.0.2", &[], "10.0.0.0/8"), ip("10.0.0.2"));
        assert_eq!(resolve("10.0.0.2", &["[2001:db8::1]:443"], "10.0.0.0/8"), ip("2001:db8::1"));
        assert_eq!(resolve("10.0.0.2", &["198.51.100.1:8443"], "10.0.0.0/8"), ip("198.51.100.1"));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(throttle_unit(ip("2001:db8:1:2:aaaa::1")), throttle_unit(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(throttle_unit(ip("2001:db8:1:2::1")), throttle_unit(ip("2001:db8:1:3::1")));
        assert_eq!(throttle_unit(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(throttle_unit(ip("192.0.2.1")), throttle_unit(ip("192.0.2.2")));
    }
}
