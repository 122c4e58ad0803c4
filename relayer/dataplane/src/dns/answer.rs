//! Answering one DNS query from a zone.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::TTL;
use super::zone::{Lookup, Zone};
use crate::limits::{DNS_MAX_ANSWER, DNS_MAX_QUERY};

/// Why a query gets no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// Larger than [`DNS_MAX_QUERY`].
    #[error("query of {0} bytes exceeds {DNS_MAX_QUERY}")]
    TooLong(usize),
    /// Not a parsable DNS message.
    #[error("malformed DNS message: {0}")]
    Malformed(#[from] hickory_proto::ProtoError),
    /// A response, not a query (answering could loop).
    #[error("not a query")]
    NotAQuery,
}

/// The answer (a DNS message) to the DNS message `query` from `zone`, at
/// most 512 bytes or the query's EDNS buffer size (capped at
/// [`DNS_MAX_ANSWER`]); an answer that does not fit is sent truncated.
pub fn answer(zone: &Zone, query: &[u8]) -> Result<Vec<u8>, DnsError> {
    if query.len() > DNS_MAX_QUERY {
        return Err(DnsError::TooLong(query.len()));
    }
    let request = Message::from_vec(query)?;
    if request.message_type() != MessageType::Query {
        return Err(DnsError::NotAQuery);
    }
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired());
    let limit = match request.extensions() {
        Some(edns) => {
            let mut ours = Edns::new();
            ours.set_max_payload(DNS_MAX_ANSWER as u16);
            response.set_edns(ours);
            usize::from(edns.max_payload()).clamp(512, DNS_MAX_ANSWER)
        }
        None => 512,
    };
    match (request.op_code(), request.queries()) {
        (OpCode::Query, [q]) => {
            response.add_query(q.clone());
            resolve(zone, q, &mut response);
        }
        (OpCode::Query, _) => {
            response.set_response_code(ResponseCode::FormErr);
        }
        _ => {
            response.set_response_code(ResponseCode::NotImp);
        }
    }
    let bytes = response.to_vec()?;
    if bytes.len() <= limit {
        return Ok(bytes);
    }
    Ok(response.truncate().to_vec()?)
}

/// Fills `response` with the answer to `q`.
fn resolve(zone: &Zone, q: &Query, response: &mut Message) {
    let name = lowercase(q.name());
    let rtype = q.query_type();
    match zone.lookup(&name) {
        Lookup::Host(host) => {
            response.set_authoritative(true);
            let rdata = match rtype {
                RecordType::A => Some(RData::A(A(host.ip))),
                RecordType::AAAA => host.ip6.map(|ip6| RData::AAAA(AAAA(ip6))),
                _ => None,
            };
            if let Some(rdata) = rdata {
                response.add_answer(Record::from_rdata(q.name().clone(), TTL, rdata));
            }
        }
        Lookup::Apex => {
            response.set_authoritative(true);
        }
        Lookup::Reverse(Some(target)) => {
            response.set_authoritative(true);
            if rtype == RecordType::PTR {
                let rdata = RData::PTR(PTR(target.clone()));
                response.add_answer(Record::from_rdata(q.name().clone(), TTL, rdata));
            }
        }
        Lookup::Reverse(None) | Lookup::NoName => {
            response
                .set_authoritative(true)
                .set_response_code(ResponseCode::NXDomain);
        }
        Lookup::Foreign => {
            response.set_response_code(ResponseCode::Refused);
        }
    }
}

/// `name` lowercase, labels joined by dots, without the trailing dot (at
/// most 255 bytes: the wire limit of a name).
fn lowercase(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    use avpn_model::{LeaseId, MemberInfo, NetworkInfo, Policy, Verdict};

    use super::*;

    fn member(name: &str, host: u8) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            ip: Ipv4Addr::new(100, 64, 0, host),
            ip6: Some(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, u16::from(host))),
            lease: LeaseId {
                owner: "o".into(),
                dseq: 1,
                gseq: 1,
                oseq: 1,
                provider: "p".into(),
                bseq: 1,
            },
            tags: Default::default(),
            service: None,
            policy: Policy::default(),
            weight: None,
        }
    }

    fn zone() -> Zone {
        let info = NetworkInfo {
            id: 1,
            name: "prod".into(),
            owner: "o".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            cidr6: Some("fd00:1::/64".parse().unwrap()),
            default_verdict: Verdict::Deny,
        };
        Zone::new(&info, &[member("a", 2), member("b", 3)])
    }

    fn ask(name: &str, rtype: RecordType) -> Message {
        let mut m = Message::new();
        m.set_id(7).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
        Message::from_vec(&answer(&zone(), &m.to_vec().unwrap()).unwrap()).unwrap()
    }

    fn rdata(m: &Message) -> Vec<RData> {
        m.answers().iter().map(|r| r.data().clone()).collect()
    }

    #[test]
    fn members_resolve_both_families_any_case() {
        let m = ask("b.prod.", RecordType::A);
        assert_eq!(m.id(), 7);
        assert_eq!(m.message_type(), MessageType::Response);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(rdata(&m), [RData::A(A::new(100, 64, 0, 3))]);
        let m = ask("B.Prod", RecordType::AAAA);
        assert_eq!(rdata(&m), [RData::AAAA(AAAA("fd00:1::3".parse().unwrap()))]);
        // Existing name, other type: no data, no error.
        let m = ask("a.prod", RecordType::MX);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.answers().is_empty());
    }

    #[test]
    fn reverse_names_of_members() {
        let m = ask("3.0.64.100.in-addr.arpa.", RecordType::PTR);
        assert_eq!(
            rdata(&m),
            [RData::PTR(PTR(Name::from_str("b.prod.").unwrap()))]
        );
        let v6 = "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa.";
        let m = ask(v6, RecordType::PTR);
        assert_eq!(
            rdata(&m),
            [RData::PTR(PTR(Name::from_str("b.prod.").unwrap()))]
        );
        // An address of the network without a member; one outside it.
        let m = ask("9.0.64.100.in-addr.arpa.", RecordType::PTR);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        let m = ask("3.0.65.100.in-addr.arpa.", RecordType::PTR);
        assert_eq!(m.response_code(), ResponseCode::Refused);
    }

    #[test]
    fn unknown_names_in_zone_do_not_exist_others_are_refused() {
        assert_eq!(
            ask("c.prod", RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
        assert_eq!(
            ask("x.b.prod", RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
        assert_eq!(
            ask("prod", RecordType::A).response_code(),
            ResponseCode::NoError
        );
        for foreign in ["b.staging", "example.com", "bprod", "b.prod.com"] {
            let m = ask(foreign, RecordType::A);
            assert_eq!(m.response_code(), ResponseCode::Refused, "{foreign}");
            assert!(m.answers().is_empty());
        }
    }

    #[test]
    fn malformed_and_odd_queries() {
        let z = zone();
        assert!(matches!(
            answer(&z, &[1, 2, 3]),
            Err(DnsError::Malformed(_))
        ));
        assert!(matches!(answer(&z, &[0; 600]), Err(DnsError::TooLong(600))));
        // No question: FORMERR; a response: no answer.
        let mut m = Message::new();
        m.set_id(9);
        let r = Message::from_vec(&answer(&z, &m.to_vec().unwrap()).unwrap()).unwrap();
        assert_eq!(r.response_code(), ResponseCode::FormErr);
        m.set_message_type(MessageType::Response);
        assert!(matches!(
            answer(&z, &m.to_vec().unwrap()),
            Err(DnsError::NotAQuery)
        ));
    }
}
