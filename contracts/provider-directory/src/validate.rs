//! Parsing and checks of user input into the stored types.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::{ContractError, PrivateRange, UnusableReason};
use crate::msg::Params;

/// Parses `ip:port` strings (IPv6 as `[addr]:port`): 1..=max_endpoints of
/// them, no duplicates, each one reachable by peers (see [`unusable`]) and
/// outside the private ranges unless `allow_private_endpoints`.
pub fn parse_endpoints(raw: &[String], params: &Params) -> Result<Vec<SocketAddr>, ContractError> {
    if raw.is_empty() {
        return Err(ContractError::NoEndpoints);
    }
    if raw.len() > params.max_endpoints as usize {
        return Err(ContractError::TooManyEndpoints {
            got: raw.len(),
            max: params.max_endpoints,
        });
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        let addr: SocketAddr = s
            .parse()
            .map_err(|_| ContractError::InvalidEndpoint(s.clone()))?;
        if let Some(reason) = unusable(&addr) {
            return Err(ContractError::UnusableEndpoint {
                endpoint: addr.to_string(),
                reason,
            });
        }
        if let Some(range) = private_range(addr.ip().to_canonical())
            && !params.allow_private_endpoints
        {
            return Err(ContractError::PrivateEndpoint {
                endpoint: addr.to_string(),
                range,
            });
        }
        if !seen.insert(addr) {
            return Err(ContractError::DuplicateEndpoint(addr.to_string()));
        }
        out.push(addr);
    }
    Ok(out)
}

/// Why no peer could ever reach `addr`, if so. IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`) are judged as the IPv4 address they carry.
fn unusable(addr: &SocketAddr) -> Option<UnusableReason> {
    let ip = addr.ip().to_canonical();
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    };
    Some(if ip.is_unspecified() {
        UnusableReason::Unspecified
    } else if ip.is_loopback() {
        UnusableReason::Loopback
    } else if link_local {
        UnusableReason::LinkLocal
    } else if ip.is_multicast() {
        UnusableReason::Multicast
    } else if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        UnusableReason::Broadcast
    } else if addr.port() == 0 {
        UnusableReason::PortZero
    } else {
        return None;
    })
}

/// The private range `ip` lies in, if any.
fn private_range(ip: IpAddr) -> Option<PrivateRange> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_private() {
                Some(PrivateRange::Rfc1918)
            } else if a == 100 && b & 0xc0 == 64 {
                Some(PrivateRange::CarrierGradeNat)
            } else if a == 198 && b & 0xfe == 18 {
                Some(PrivateRange::Benchmarking)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xfe00 == 0xfc00).then_some(PrivateRange::UniqueLocal)
        }
    }
}

/// `None` or `""` → no region; otherwise 1..=max_region_len of `[A-Za-z0-9._-]`.
pub fn parse_region(raw: Option<String>, params: &Params) -> Result<Option<String>, ContractError> {
    match raw {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => {
            let ok = s.len() <= params.max_region_len as usize
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if ok {
                Ok(Some(s))
            } else {
                Err(ContractError::InvalidRegion {
                    got: s,
                    max: params.max_region_len,
                })
            }
        }
    }
}

/// Every limit must be at least 1.
pub fn check_params(p: &Params) -> Result<(), ContractError> {
    if p.max_endpoints == 0 {
        return Err(ContractError::InvalidParams("max_endpoints must be > 0"));
    }
    if p.max_region_len == 0 {
        return Err(ContractError::InvalidParams("max_region_len must be > 0"));
    }
    if p.max_rotation_overlap_secs == 0 {
        return Err(ContractError::InvalidParams(
            "max_rotation_overlap_secs must be > 0",
        ));
    }
    if p.max_query_limit == 0 {
        return Err(ContractError::InvalidParams("max_query_limit must be > 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn endpoints_are_parsed_and_canonical() {
        let p = Params::default();
        let got = parse_endpoints(&eps(&["203.0.113.1:443", "[2001:db8::1]:8443"]), &p).unwrap();
        assert_eq!(got[0].to_string(), "203.0.113.1:443");
        assert_eq!(got[1].to_string(), "[2001:db8::1]:8443");
        // Non-canonical IPv6 text is normalised.
        let got = parse_endpoints(&eps(&["[2001:0db8:0:0::1]:1"]), &p).unwrap();
        assert_eq!(got[0].to_string(), "[2001:db8::1]:1");
    }

    #[test]
    fn malformed_endpoints_are_rejected() {
        let p = Params::default();
        for bad in [
            "203.0.113.1",
            "203.0.113.1:",
            "203.0.113.1:65536",
            "host.example:443",
            "2001:db8::1:443",
            "203.0.113.256:1",
            " 203.0.113.1:1",
            "",
        ] {
            assert!(
                matches!(
                    parse_endpoints(&eps(&[bad]), &p),
                    Err(ContractError::InvalidEndpoint(_))
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn unusable_endpoints_are_rejected_with_their_reason() {
        use UnusableReason::*;
        // Even where private endpoints are allowed.
        let p = Params {
            allow_private_endpoints: true,
            ..Params::default()
        };
        for (bad, why) in [
            ("203.0.113.1:0", PortZero),
            ("[2001:db8::1]:0", PortZero),
            ("0.0.0.0:443", Unspecified),
            ("[::]:443", Unspecified),
            ("127.0.0.1:443", Loopback),
            ("127.8.9.10:443", Loopback),
            ("[::1]:443", Loopback),
            ("[::ffff:127.0.0.1]:443", Loopback),
            ("169.254.169.254:80", LinkLocal),
            ("[fe80::1]:443", LinkLocal),
            ("[febf::1]:443", LinkLocal),
            ("224.0.0.1:443", Multicast),
            ("239.255.255.250:1900", Multicast),
            ("[ff02::1]:443", Multicast),
            ("255.255.255.255:443", Broadcast),
        ] {
            match parse_endpoints(&eps(&[bad]), &p) {
                Err(ContractError::UnusableEndpoint { endpoint, reason }) => {
                    assert_eq!(reason, why, "{bad}");
                    assert_eq!(endpoint, bad.parse::<SocketAddr>().unwrap().to_string());
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let err = parse_endpoints(&eps(&["127.0.0.1:443"]), &p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "endpoint 127.0.0.1:443 is not usable: loopback address"
        );
    }

    #[test]
    fn private_endpoints_need_the_param() {
        use PrivateRange::*;
        let strict = Params::default();
        let test_chain = Params {
            allow_private_endpoints: true,
            ..Params::default()
        };
        for (private, range) in [
            ("10.0.0.1:443", Rfc1918),
            ("10.255.255.254:443", Rfc1918),
            ("172.16.0.1:443", Rfc1918),
            ("172.31.255.1:443", Rfc1918),
            ("192.168.1.1:443", Rfc1918),
            ("100.64.0.1:443", CarrierGradeNat),
            ("100.127.255.254:443", CarrierGradeNat),
            ("198.18.0.1:443", Benchmarking),
            ("198.19.255.254:443", Benchmarking),
            ("[fc00::1]:443", UniqueLocal),
            ("[fd12:3456::1]:443", UniqueLocal),
            ("[::ffff:10.1.2.3]:443", Rfc1918),
        ] {
            match parse_endpoints(&eps(&[private]), &strict) {
                Err(ContractError::PrivateEndpoint { range: got, .. }) => {
                    assert_eq!(got, range, "{private}")
                }
                other => panic!("{private}: {other:?}"),
            }
            assert!(
                parse_endpoints(&eps(&[private]), &test_chain).is_ok(),
                "{private}"
            );
        }
        // Just outside each range is public.
        for public in [
            "11.0.0.1:443",
            "172.15.255.1:443",
            "172.32.0.1:443",
            "192.169.0.1:443",
            "100.63.255.1:443",
            "100.128.0.1:443",
            "198.17.255.1:443",
            "198.20.0.1:443",
            "[fe00::1]:443",
            "[2001:db8::1]:443",
        ] {
            assert!(
                parse_endpoints(&eps(&[public]), &strict).is_ok(),
                "{public}"
            );
        }
        let err = parse_endpoints(&eps(&["198.18.0.1:443"]), &strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "endpoint 198.18.0.1:443 is in the benchmarking (198.18.0.0/15) range; \
             private endpoints need the allow_private_endpoints param"
        );
    }

    #[test]
    fn endpoint_count_and_duplicates() {
        let p = Params {
            max_endpoints: 2,
            ..Params::default()
        };
        assert!(matches!(
            parse_endpoints(&[], &p),
            Err(ContractError::NoEndpoints)
        ));
        assert!(matches!(
            parse_endpoints(
                &eps(&["203.0.113.1:1", "203.0.113.1:2", "203.0.113.1:3"]),
                &p
            ),
            Err(ContractError::TooManyEndpoints { got: 3, max: 2 })
        ));
        assert!(matches!(
            parse_endpoints(&eps(&["203.0.113.1:1", "203.0.113.1:01"]), &p),
            Err(ContractError::DuplicateEndpoint(_))
        ));
    }

    #[test]
    fn regions() {
        let p = Params {
            max_region_len: 5,
            ..Params::default()
        };
        assert_eq!(parse_region(None, &p).unwrap(), None);
        assert_eq!(parse_region(Some(String::new()), &p).unwrap(), None);
        assert_eq!(
            parse_region(Some("eu-1".into()), &p).unwrap(),
            Some("eu-1".into())
        );
        for bad in ["eu-123", "eu 1", "eu/1", "é"] {
            assert!(
                matches!(
                    parse_region(Some(bad.into()), &p),
                    Err(ContractError::InvalidRegion { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn params_must_be_positive() {
        assert!(check_params(&Params::default()).is_ok());
        let zeroed = [
            Params {
                max_endpoints: 0,
                ..Params::default()
            },
            Params {
                max_region_len: 0,
                ..Params::default()
            },
            Params {
                max_rotation_overlap_secs: 0,
                ..Params::default()
            },
            Params {
                max_query_limit: 0,
                ..Params::default()
            },
        ];
        for p in zeroed {
            assert!(
                matches!(check_params(&p), Err(ContractError::InvalidParams(_))),
                "{p:?}"
            );
        }
    }
}
