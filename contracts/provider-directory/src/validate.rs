//! Parsing and checks of user input into the stored types.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use crate::error::ContractError;
use crate::msg::Params;

/// Parses `ip:port` strings (IPv6 as `[addr]:port`): 1..=max_endpoints of
/// them, no duplicates, port ≠ 0, no unspecified/multicast/broadcast address.
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
        if !usable(&addr) {
            return Err(ContractError::UnusableEndpoint(addr.to_string()));
        }
        if !seen.insert(addr) {
            return Err(ContractError::DuplicateEndpoint(addr.to_string()));
        }
        out.push(addr);
    }
    Ok(out)
}

fn usable(addr: &SocketAddr) -> bool {
    let ip_ok = match addr.ip() {
        IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast()),
        IpAddr::V6(ip) => !(ip.is_unspecified() || ip.is_multicast()),
    };
    ip_ok && addr.port() != 0
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
        let got = parse_endpoints(&eps(&["198.18.0.1:443", "[2001:db8::1]:8443"]), &p).unwrap();
        assert_eq!(got[0].to_string(), "198.18.0.1:443");
        assert_eq!(got[1].to_string(), "[2001:db8::1]:8443");
        // Non-canonical IPv6 text is normalised.
        let got = parse_endpoints(&eps(&["[2001:0db8:0:0::1]:1"]), &p).unwrap();
        assert_eq!(got[0].to_string(), "[2001:db8::1]:1");
    }

    #[test]
    fn malformed_endpoints_are_rejected() {
        let p = Params::default();
        for bad in [
            "198.18.0.1",
            "198.18.0.1:",
            "198.18.0.1:65536",
            "host.example:443",
            "2001:db8::1:443",
            "198.18.0.256:1",
            " 198.18.0.1:1",
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
    fn unusable_endpoints_are_rejected() {
        let p = Params::default();
        for bad in [
            "198.18.0.1:0",
            "0.0.0.0:443",
            "[::]:443",
            "224.0.0.1:443",
            "[ff02::1]:443",
            "255.255.255.255:443",
        ] {
            assert!(
                matches!(
                    parse_endpoints(&eps(&[bad]), &p),
                    Err(ContractError::UnusableEndpoint(_))
                ),
                "{bad:?} accepted"
            );
        }
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
            parse_endpoints(&eps(&["198.18.0.1:1", "198.18.0.1:2", "198.18.0.1:3"]), &p),
            Err(ContractError::TooManyEndpoints { got: 3, max: 2 })
        ));
        assert!(matches!(
            parse_endpoints(&eps(&["198.18.0.1:1", "198.18.0.1:01"]), &p),
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
