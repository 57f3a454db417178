//! Which IP addresses are public. Egress reaches an address that is not
//! public (loopback, private, link-local, reserved, or a public-looking
//! IPv6 form that carries such an IPv4 address) only when an `egress`
//! entry names that very address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `ip` as a URL writes it: IPv6 in brackets.
pub(super) fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// What kind of address `ip` is, if it is not a public one.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(v4),
        IpAddr::V6(v6) => not_public_v6(v6),
    }
}

/// The IPv4 address held in segments `segment` and `segment + 1` of `s`.
fn v4_at(s: &[u16; 8], segment: usize) -> Ipv4Addr {
    let (hi, lo) = (s[segment], s[segment + 1]);
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

fn not_public_v6(v6: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return not_public_v4(v4);
    }
    let s = v6.segments();
    // Forms that carry an IPv4 address: the address they lead to is the
    // one that counts, and one that is not public makes the whole address
    // not public.
    let embedded = |v4: Ipv4Addr, kind: &'static str| not_public_v4(v4).map(|_| kind);
    if v6.is_loopback() {
        Some("loopback")
    } else if v6.is_unspecified() {
        Some("unspecified")
    } else if v6.is_multicast() {
        Some("multicast")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("unique-local (private)")
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("documentation")
    } else if s[0..4] == [0x0100, 0, 0, 0] {
        Some("discard-only")
    } else if s[0..3] == [0x64, 0xff9b, 1] {
        // RFC 8215: a translator of the site's own, reaching its network.
        Some("local-use NAT64")
    } else if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        embedded(v4_at(&s, 6), "NAT64 form of a non-public IPv4")
    } else if s[0..6] == [0; 6] {
        // IPv4-compatible (deprecated): `::a.b.c.d`.
        embedded(v4_at(&s, 6), "IPv4-compatible form of a non-public IPv4")
            .or(Some("IPv4-compatible"))
    } else if s[0..5] == [0, 0, 0, 0, 0xffff] || s[0..6] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-translated (`::ffff:0:a.b.c.d`).
        embedded(v4_at(&s, 6), "IPv4-translated form of a non-public IPv4")
            .or(Some("IPv4-translated"))
    } else if s[0] == 0x2002 {
        // 6to4: the relay is the IPv4 address in bits 16..48.
        embedded(v4_at(&s, 1), "6to4 form of a non-public IPv4")
    } else if s[0] == 0x2001 && s[1] == 0 {
        // Teredo: the server's IPv4 in bits 32..64, the client's inverted
        // in the last 32.
        let client = Ipv4Addr::from(!u32::from(v4_at(&s, 6)));
        embedded(v4_at(&s, 2), "Teredo form of a non-public IPv4")
            .or_else(|| embedded(client, "Teredo form of a non-public IPv4"))
    } else {
        None
    }
}

fn not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_multicast() || a >= 240 {
        Some("multicast or reserved")
    } else if (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113)
    {
        Some("documentation")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if (a, b, c) == (192, 0, 0) || (a, b, c) == (192, 88, 99) {
        Some("protocol-assignment or 6to4 relay")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::808:808",
            "100::1",
            // 6to4 of 127.0.0.1, 10.0.0.1 and 169.254.169.254.
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:a9fe:a9fe::1",
            // Teredo: server 127.0.0.1; client 169.254.169.254 (inverted).
            "2001:0:7f00:1::1",
            "2001:0:808:808:0:0:5601:5601",
        ] {
            let ip: IpAddr = private.parse().expect("an address");
            assert!(not_public(ip).is_some(), "{private} should not be public");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            // Teredo with a public server and client (8.8.4.4 inverted).
            "2001:0:808:808:0:0:f7f7:fbfb",
        ] {
            let ip: IpAddr = public.parse().expect("an address");
            assert_eq!(not_public(ip), None, "{public} should be public");
        }
    }
}
