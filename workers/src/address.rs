//! Which addresses a `webhook` node may call. Webhook URLs are flow data, so without this a
//! flow could reach the machine's own services, the private network or a cloud's metadata
//! endpoint. An address is refused when it is not a public unicast address (loopback, private,
//! link-local, CGNAT, multicast, documentation …, IPv4-mapped and NAT64 addresses judged by the
//! IPv4 address inside) or is Cairn's own listen address, unless the operator's [`AllowList`]
//! names it. Pure: the resolver that applies it lives in [`crate::providers`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// What kind of non-public address `ip` is, as the refusal says it ("a loopback address");
/// `None` for a public unicast address.
pub fn special_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => "the broadcast address",
        (0, _, _) => "an unspecified (\"this network\") address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (100, 64..=127, _) => "a shared (CGNAT) address",
        (169, 254, _) => "a link-local address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // An IPv4 address inside an IPv6 one reaches that IPv4 address: judge it instead.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        _ if ip.is_unspecified() => Some("an unspecified address"),
        _ if ip.is_loopback() => Some("a loopback address"),
        // ::ffff:a.b.c.d, IPv4-mapped: public when the IPv4 address is
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => v4_kind(embedded(hi, lo)),
        // ::a.b.c.d, the deprecated IPv4-compatible form: never public
        [0, 0, 0, 0, 0, 0, hi, lo] => v4_kind(embedded(hi, lo)).or(Some("an IPv4-compatible address")),
        // NAT64 (64:ff9b::a.b.c.d): public when the IPv4 address is
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => v4_kind(embedded(hi, lo)),
        // 6to4 (2002:a.b.c.d::/48)
        [0x2002, hi, lo, ..] => v4_kind(embedded(hi, lo)),
        [0x100, 0, 0, 0, ..] => Some("a discard-only address"),
        [0x2001, 0xdb8, ..] => Some("a documentation address"),
        [first, ..] if first & 0xfe00 == 0xfc00 => Some("a unique-local (private) address"),
        [first, ..] if first & 0xffc0 == 0xfe80 => Some("a link-local address"),
        [first, ..] if first & 0xffc0 == 0xfec0 => Some("a site-local address"),
        [first, ..] if first & 0xff00 == 0xff00 => Some("a multicast address"),
        _ => None,
    }
}

/// The destinations the operator allows whatever they are (`CAIRN_WEBHOOK_ALLOW`): CIDRs
/// (`10.0.0.0/8`, `fd00::/8`, or a single address) and host names (`hooks.internal`, allowed
/// whatever it resolves to).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Net>,
    /// Lower-case, without a trailing dot.
    hosts: Vec<String>,
}

/// A CIDR block; `addr` has no bits set past `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask32(u32::from(ip), self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask128(u128::from(ip), self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask32(bits: u32, prefix: u8) -> u32 {
    bits.checked_shr(32 - u32::from(prefix))
        .map_or(0, |b| b << (32 - u32::from(prefix)))
}

fn mask128(bits: u128, prefix: u8) -> u128 {
    bits.checked_shr(128 - u32::from(prefix))
        .map_or(0, |b| b << (128 - u32::from(prefix)))
}

/// An entry of `CAIRN_WEBHOOK_ALLOW` that is neither a CIDR nor a host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{entry}' is not a CIDR (10.0.0.0/8), an IP address or a host name: {reason}")]
pub struct AllowListError {
    pub entry: String,
    pub reason: String,
}

impl FromStr for AllowList {
    type Err = AllowListError;

    /// Comma-separated entries; blanks around them and empty entries are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut list = AllowList::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |reason: &str| AllowListError {
                entry: entry.to_string(),
                reason: reason.to_string(),
            };
            if let Some((addr, prefix)) = entry.split_once('/') {
                let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address before the '/'"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix
                    .parse()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| bad(&format!("the prefix length must be 0 to {max}")))?;
                list.nets.push(net(addr, prefix));
            } else if let Ok(addr) = entry.parse::<IpAddr>() {
                list.nets.push(net(addr, if addr.is_ipv4() { 32 } else { 128 }));
            } else {
                let host = entry.trim_end_matches('.').to_ascii_lowercase();
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                };
                if !host.split('.').all(label_ok) {
                    return Err(bad("a host name has only letters, digits, '-', '_' and dots"));
                }
                list.hosts.push(host);
            }
        }
        Ok(list)
    }
}

/// The block of `addr`/`prefix` with the host bits cleared (IPv4-mapped written as IPv4).
fn net(addr: IpAddr, prefix: u8) -> Net {
    let addr = match addr.to_canonical() {
        IpAddr::V4(a) if addr.is_ipv6() => {
            // ::ffff:a.b.c.d/prefix: the prefix counts the 96 bits before the IPv4 address
            let prefix = prefix.saturating_sub(96);
            return Net {
                addr: IpAddr::V4(Ipv4Addr::from(mask32(u32::from(a), prefix))),
                prefix,
            };
        }
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(mask32(u32::from(a), prefix))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(mask128(u128::from(a), prefix))),
    };
    Net { addr, prefix }
}

impl AllowList {
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.hosts.is_empty()
    }

    /// Whether `host` (a name as it appears in a URL) is named by a host entry.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether `ip` is inside one of the CIDR entries.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }
}

/// Where webhook nodes may connect: public addresses except Cairn's own, and whatever the
/// allow-list names.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    pub allow: AllowList,
    /// Cairn's listen address, refused when it is a specific public one (a loopback, private
    /// or unspecified one is refused as such).
    pub own: Option<IpAddr>,
}

/// Why a webhook destination was refused; the journal's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {ip} is {kind} (allow it with CAIRN_WEBHOOK_ALLOW)")]
pub struct Refused {
    pub ip: IpAddr,
    pub kind: &'static str,
}

impl Destinations {
    /// Whether a webhook may connect to `ip` (reached through a host the allow-list does not name).
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        if self.allow.allows_ip(ip) {
            return Ok(());
        }
        if let Some(kind) = special_kind(ip) {
            return Err(Refused { ip, kind });
        }
        if self.own.map(|own| own.to_canonical()) == Some(ip) {
            return Err(Refused {
                ip,
                kind: "Cairn's own listen address",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        special_kind(ip.parse().unwrap())
    }

    #[test]
    fn every_special_ipv4_range_is_named() {
        let cases = [
            ("127.0.0.1", "a loopback address"),
            ("127.255.0.9", "a loopback address"),
            ("0.0.0.0", "an unspecified (\"this network\") address"),
            ("10.1.2.3", "a private address"),
            ("172.16.0.1", "a private address"),
            ("172.31.255.255", "a private address"),
            ("192.168.1.1", "a private address"),
            ("100.64.0.1", "a shared (CGNAT) address"),
            ("100.127.255.254", "a shared (CGNAT) address"),
            ("169.254.169.254", "a link-local address"),
            ("192.0.0.8", "an IETF protocol address"),
            ("192.0.2.1", "a documentation address"),
            ("198.51.100.7", "a documentation address"),
            ("203.0.113.9", "a documentation address"),
            ("198.18.0.1", "a benchmarking address"),
            ("224.0.0.1", "a multicast address"),
            ("239.255.255.250", "a multicast address"),
            ("240.0.0.1", "a reserved address"),
            ("255.255.255.255", "the broadcast address"),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_addresses_next_to_the_ranges_are_allowed() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "172.15.255.255",
            "1.1.1.1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_special_ipv6_range_is_named_and_mapped_ipv4_is_judged_as_ipv4() {
        let cases = [
            ("::", "an unspecified address"),
            ("::1", "a loopback address"),
            ("::ffff:127.0.0.1", "a loopback address"),
            ("::ffff:169.254.169.254", "a link-local address"),
            ("::127.0.0.1", "a loopback address"),
            ("64:ff9b::10.0.0.1", "a private address"),
            ("2002:7f00:1::", "a loopback address"),
            ("fd00::1", "a unique-local (private) address"),
            ("fc00::1", "a unique-local (private) address"),
            ("fe80::1", "a link-local address"),
            ("fec0::1", "a site-local address"),
            ("ff02::1", "a multicast address"),
            ("2001:db8::1", "a documentation address"),
            ("100::1", "a discard-only address"),
        ];
        for (ip, expected) in cases {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
        for ip in [
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:93.184.216.34",
            "64:ff9b::8.8.8.8",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn an_allow_list_parses_cidrs_addresses_and_host_names() {
        let list: AllowList = " 10.0.0.0/8, hooks.Internal. ,fd00::/8,127.0.0.1,,".parse().unwrap();
        let ok = |ip: &str| list.allows_ip(ip.parse().unwrap());
        assert!(ok("10.200.3.4") && ok("::ffff:10.0.0.1") && ok("fd12::1") && ok("127.0.0.1"));
        assert!(!ok("127.0.0.2") && !ok("11.0.0.1") && !ok("fe80::1"));
        assert!(list.allows_host("hooks.internal") && list.allows_host("HOOKS.internal."));
        assert!(!list.allows_host("internal") && !list.allows_host("x.hooks.internal"));
        assert!("".parse::<AllowList>().unwrap().is_empty());
        let all: AllowList = "0.0.0.0/0".parse().unwrap();
        assert!(all.allows_ip("93.184.216.34".parse().unwrap()) && all.allows_ip("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_bad_allow_list_entry_is_named_in_the_error() {
        let err = "10.0.0.0/8, 10.0.0.0/33".parse::<AllowList>().unwrap_err();
        assert_eq!(err.entry, "10.0.0.0/33");
        assert_eq!(
            err.to_string(),
            "'10.0.0.0/33' is not a CIDR (10.0.0.0/8), an IP address or a host name: the prefix length must be 0 to 32"
        );
        assert_eq!("http://x".parse::<AllowList>().unwrap_err().entry, "http://x");
        assert_eq!("10.0.0.x/8".parse::<AllowList>().unwrap_err().entry, "10.0.0.x/8");
    }

    #[test]
    fn a_refusal_says_what_the_address_is_and_how_to_allow_it() {
        let d = Destinations::default();
        let err = d.check("127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused: 127.0.0.1 is a loopback address (allow it with CAIRN_WEBHOOK_ALLOW)"
        );
        let err = d.check("::ffff:127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(err.ip.to_string(), "127.0.0.1");
        assert!(d.check("93.184.216.34".parse().unwrap()).is_ok());
    }

    #[test]
    fn cairns_own_public_address_is_refused_and_the_allow_list_overrides_both() {
        let own = Destinations {
            allow: AllowList::default(),
            own: Some("93.184.216.34".parse().unwrap()),
        };
        let err = own.check("93.184.216.34".parse().unwrap()).unwrap_err();
        assert_eq!(err.kind, "Cairn's own listen address");
        assert!(own.check("93.184.216.35".parse().unwrap()).is_ok());
        let allowed = Destinations {
            allow: "127.0.0.0/8".parse().unwrap(),
            own: None,
        };
        assert!(allowed.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(allowed.check("10.0.0.1".parse().unwrap()).is_err());
    }
}
