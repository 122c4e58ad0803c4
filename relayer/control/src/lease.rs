//! Lease verification: a local member is served only when the Akash market
//! reports its lease — the member's full lease id, owner and bseq included —
//! active on this provider. The contract already guarantees that the lease
//! owner is the account that added the member, so an exact-id match proves
//! the workload belongs to that account.
//!
//! The Akash query (`akash.market.v1beta5.Query/Lease`) goes through
//! `abci_query` with the few protobuf messages it needs written by hand
//! below (prost derives; field numbers from Akash's chain SDK,
//! `proto/node/akash/market/v1/lease.proto` and
//! `v1beta5/query.proto`). [`Verification::Off`] is for chains without the
//! market module (e.g. the wasmd localnet); the relayer reports that mode in
//! its status.

use std::future::Future;

use avpn_model::LeaseId;

use crate::query::{Querier, QueryError};

/// Akash market protobuf messages (only the fields read here; unknown
/// fields such as price and escrow payment are skipped by the decoder).
pub mod proto {
    /// `akash.market.v1.LeaseID`.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct LeaseId {
        /// Tenant owning the deployment.
        #[prost(string, tag = "1")]
        pub owner: String,
        /// Deployment sequence.
        #[prost(uint64, tag = "2")]
        pub dseq: u64,
        /// Group sequence.
        #[prost(uint32, tag = "3")]
        pub gseq: u32,
        /// Order sequence.
        #[prost(uint32, tag = "4")]
        pub oseq: u32,
        /// Provider hosting the lease.
        #[prost(string, tag = "5")]
        pub provider: String,
        /// Bid sequence.
        #[prost(uint32, tag = "6")]
        pub bseq: u32,
    }

    /// `akash.market.v1.Lease` (price, timestamps and reclamation left out).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Lease {
        /// Identity of the lease.
        #[prost(message, optional, tag = "1")]
        pub id: Option<LeaseId>,
        /// `Lease.State`, see the `STATE_*` constants.
        #[prost(int32, tag = "2")]
        pub state: i32,
    }

    /// `akash.market.v1beta5.QueryLeaseRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryLeaseRequest {
        /// The lease asked for.
        #[prost(message, optional, tag = "1")]
        pub id: Option<LeaseId>,
    }

    /// `akash.market.v1beta5.QueryLeaseResponse` (escrow payment left out).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryLeaseResponse {
        /// The lease.
        #[prost(message, optional, tag = "1")]
        pub lease: Option<Lease>,
    }

    /// `Lease.State`: invalid.
    pub const STATE_INVALID: i32 = 0;
    /// `Lease.State`: active (the only state served).
    pub const STATE_ACTIVE: i32 = 1;
    /// `Lease.State`: insufficient funds.
    pub const STATE_INSUFFICIENT_FUNDS: i32 = 2;
    /// `Lease.State`: closed.
    pub const STATE_CLOSED: i32 = 3;
    /// `Lease.State`: reclaiming.
    pub const STATE_RECLAIMING: i32 = 4;

    impl From<&avpn_model::LeaseId> for LeaseId {
        fn from(l: &avpn_model::LeaseId) -> Self {
            LeaseId {
                owner: l.owner.clone(),
                dseq: l.dseq,
                gseq: l.gseq,
                oseq: l.oseq,
                provider: l.provider.clone(),
                bseq: l.bseq,
            }
        }
    }
}

/// gRPC path of the Akash lease query.
pub const LEASE_PATH: &str = "/akash.market.v1beta5.Query/Lease";

/// Outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseVerdict {
    /// Active, on this provider, with exactly the member's lease id.
    Verified,
    /// Verification is off: served without asking the market.
    Unchecked,
    /// Not served.
    Refused(Refusal),
}

/// Why a lease was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The market has no lease with that id.
    #[error("no such lease")]
    NotFound,
    /// The lease exists but is not active (insufficient funds, closed, …).
    #[error("lease is {name} (state {0}), not active", name = state_name(*.0))]
    NotActive(i32),
    /// The market answered a lease with another identity (owner, provider,
    /// sequence numbers or bseq differ from the id asked for).
    #[error("market returned a different lease ({0})")]
    Mismatch(String),
    /// The lease is hosted by another provider than this one.
    #[error("lease is hosted by {0}, not this provider")]
    OtherProvider(String),
}

/// Name of a `Lease.State` value.
pub fn state_name(state: i32) -> &'static str {
    match state {
        proto::STATE_INVALID => "invalid",
        proto::STATE_ACTIVE => "active",
        proto::STATE_INSUFFICIENT_FUNDS => "insufficient_funds",
        proto::STATE_CLOSED => "closed",
        proto::STATE_RECLAIMING => "reclaiming",
        _ => "unknown",
    }
}

/// Failure to ask the market (the check is retried; nothing is decided).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Query failure.
    #[error("lease query: {0}")]
    Query(#[from] QueryError),
    /// The response has no lease in it.
    #[error("lease query returned no lease")]
    Empty,
}

/// Decides whether a local member's lease may be served.
pub trait LeaseVerifier: Send + Sync {
    /// Checks that exactly `lease` is active on `local` (this provider).
    fn verify(
        &self,
        lease: &LeaseId,
        local: &str,
    ) -> impl Future<Output = Result<LeaseVerdict, LeaseError>> + Send;

    /// `"akash-market"` or `"off"`, for status.
    fn mode(&self) -> &'static str;

    /// Whether [`LeaseVerifier::verify`] asks anything (when not, callers
    /// may skip it and its caching).
    fn checks(&self) -> bool {
        true
    }
}

/// Verification chosen at start-up.
#[derive(Clone, Debug)]
pub enum Verification {
    /// Serve without checking (chains without the Akash market module).
    Off,
    /// Ask the Akash market module of the node.
    Market(Box<Querier>),
}

impl LeaseVerifier for Verification {
    async fn verify(&self, lease: &LeaseId, local: &str) -> Result<LeaseVerdict, LeaseError> {
        let Verification::Market(q) = self else {
            return Ok(LeaseVerdict::Unchecked);
        };
        if lease.provider != local {
            return Ok(LeaseVerdict::Refused(Refusal::OtherProvider(
                lease.provider.clone(),
            )));
        }
        let id = proto::LeaseId::from(lease);
        let req = proto::QueryLeaseRequest {
            id: Some(id.clone()),
        };
        let resp: proto::QueryLeaseResponse = match q.grpc_typed(LEASE_PATH, &req, None).await {
            Ok(r) => r,
            Err(QueryError::Rejected { log, .. })
                if log.to_ascii_lowercase().contains("not found") =>
            {
                return Ok(LeaseVerdict::Refused(Refusal::NotFound));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(judge(&id, local, resp.lease.ok_or(LeaseError::Empty)?))
    }

    fn mode(&self) -> &'static str {
        match self {
            Verification::Off => "off",
            Verification::Market(_) => "akash-market",
        }
    }

    fn checks(&self) -> bool {
        matches!(self, Verification::Market(_))
    }
}

/// The verdict on the market's answer `found` to a query for `asked`.
fn judge(asked: &proto::LeaseId, local: &str, found: proto::Lease) -> LeaseVerdict {
    let Some(id) = found.id else {
        return LeaseVerdict::Refused(Refusal::Mismatch("no id".into()));
    };
    if id.provider != local {
        return LeaseVerdict::Refused(Refusal::OtherProvider(id.provider));
    }
    if id != *asked {
        return LeaseVerdict::Refused(Refusal::Mismatch(format!(
            "{}/{}/{}/{}/{}/{}",
            id.owner, id.dseq, id.gseq, id.oseq, id.provider, id.bseq
        )));
    }
    if found.state != proto::STATE_ACTIVE {
        return LeaseVerdict::Refused(Refusal::NotActive(found.state));
    }
    LeaseVerdict::Verified
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    const LOCAL: &str = "akash1p";

    fn id(owner: &str, dseq: u64, provider: &str, bseq: u32) -> proto::LeaseId {
        proto::LeaseId {
            owner: owner.into(),
            dseq,
            gseq: 1,
            oseq: 2,
            provider: provider.into(),
            bseq,
        }
    }

    fn lease(id: proto::LeaseId, state: i32) -> proto::Lease {
        proto::Lease {
            id: Some(id),
            state,
        }
    }

    /// `QueryLeaseResponse` for `akash1o/42/1/2/akash1p/3`, active, written
    /// byte by byte from Akash's chain SDK (`market/v1/lease.proto`,
    /// `market/v1beta5/query.proto`), with the fields the relayer does not
    /// read: price, created_at, closed_on, reason, reclamation and the
    /// response's escrow_payment.
    #[rustfmt::skip]
    const RESPONSE: &[u8] = &[
        0x0a, 0x3a, // QueryLeaseResponse.lease (field 1, LEN) 58 bytes
        0x0a, 0x1a, //   Lease.id (1, LEN) 26 bytes
        0x0a, 0x07, b'a', b'k', b'a', b's', b'h', b'1', b'o', // LeaseID.owner (1) "akash1o"
        0x10, 0x2a, //     LeaseID.dseq (2) 42
        0x18, 0x01, //     LeaseID.gseq (3) 1
        0x20, 0x02, //     LeaseID.oseq (4) 2
        0x2a, 0x07, b'a', b'k', b'a', b's', b'h', b'1', b'p', // LeaseID.provider (5) "akash1p"
        0x30, 0x03, //     LeaseID.bseq (6) 3
        0x10, 0x01, //   Lease.state (2) active
        0x1a, 0x0b, //   Lease.price (3, LEN) DecCoin, 11 bytes
        0x0a, 0x04, b'u', b'a', b'k', b't', //     denom (1) "uakt"
        0x12, 0x03, b'1', b'.', b'5', //     amount (2) "1.5"
        0x20, 0x64, //   Lease.created_at (4) 100
        0x28, 0x07, //   Lease.closed_on (5) 7
        0x30, 0x90, 0x4e, //   Lease.reason (6) 10000
        0x3a, 0x06, //   Lease.reclamation (7, LEN) 6 bytes
        0x0a, 0x02, 0x08, 0x3c, //     window (1) Duration { seconds: 60 }
        0x10, 0x64, //     started_at (2) 100
        0x12, 0x09, // QueryLeaseResponse.escrow_payment (2, LEN) 9 bytes
        0x0a, 0x03, 0x12, 0x01, b'1', //   Payment.id (1) { xid (2): "1" }
        0x12, 0x02, 0x10, 0x01, //   Payment.state (2) { state (2): open }
    ];

    #[test]
    fn decodes_a_hand_assembled_response_and_skips_unread_fields() {
        let resp = proto::QueryLeaseResponse::decode(RESPONSE).unwrap();
        let found = resp.lease.unwrap();
        let asked = id("akash1o", 42, LOCAL, 3);
        assert_eq!(found.id.as_ref(), Some(&asked));
        assert_eq!(found.state, proto::STATE_ACTIVE);
        assert_eq!(judge(&asked, LOCAL, found), LeaseVerdict::Verified);
    }

    #[test]
    fn request_bytes_carry_the_full_id() {
        let l = avpn_model::LeaseId {
            owner: "akash1o".into(),
            dseq: 300,
            gseq: 1,
            oseq: 2,
            provider: LOCAL.into(),
            bseq: 5,
        };
        let req = proto::QueryLeaseRequest {
            id: Some((&l).into()),
        };
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x0a, 0x1b, // QueryLeaseRequest.id (1, LEN) 27 bytes
            0x0a, 0x07, b'a', b'k', b'a', b's', b'h', b'1', b'o', // owner (1)
            0x10, 0xac, 0x02, // dseq (2) 300
            0x18, 0x01, // gseq (3) 1
            0x20, 0x02, // oseq (4) 2
            0x2a, 0x07, b'a', b'k', b'a', b's', b'h', b'1', b'p', // provider (5)
            0x30, 0x05, // bseq (6) 5
        ];
        assert_eq!(req.encode_to_vec(), expected);
    }

    #[test]
    fn judges_exactly_the_id_asked_for() {
        let asked = id("akash1o", 7, LOCAL, 0);
        let refused = |r| LeaseVerdict::Refused(r);
        assert_eq!(
            judge(&asked, LOCAL, lease(asked.clone(), proto::STATE_ACTIVE)),
            LeaseVerdict::Verified
        );
        // same sequence numbers, another tenant's lease
        let other_owner = id("akash1mallory", 7, LOCAL, 0);
        assert_eq!(
            judge(&asked, LOCAL, lease(other_owner, proto::STATE_ACTIVE)),
            refused(Refusal::Mismatch("akash1mallory/7/1/2/akash1p/0".into()))
        );
        let other_bseq = id("akash1o", 7, LOCAL, 1);
        assert!(matches!(
            judge(&asked, LOCAL, lease(other_bseq, proto::STATE_ACTIVE)),
            LeaseVerdict::Refused(Refusal::Mismatch(_))
        ));
        let other_dseq = id("akash1o", 8, LOCAL, 0);
        assert!(matches!(
            judge(&asked, LOCAL, lease(other_dseq, proto::STATE_ACTIVE)),
            LeaseVerdict::Refused(Refusal::Mismatch(_))
        ));
        let elsewhere = id("akash1o", 7, "akash1q", 0);
        assert_eq!(
            judge(&asked, LOCAL, lease(elsewhere, proto::STATE_ACTIVE)),
            refused(Refusal::OtherProvider("akash1q".into()))
        );
        for state in [
            proto::STATE_INVALID,
            proto::STATE_INSUFFICIENT_FUNDS,
            proto::STATE_CLOSED,
            proto::STATE_RECLAIMING,
            99,
        ] {
            assert_eq!(
                judge(&asked, LOCAL, lease(asked.clone(), state)),
                refused(Refusal::NotActive(state))
            );
        }
        assert!(matches!(
            judge(
                &asked,
                LOCAL,
                proto::Lease {
                    id: None,
                    state: proto::STATE_ACTIVE
                }
            ),
            LeaseVerdict::Refused(Refusal::Mismatch(_))
        ));
    }

    #[test]
    fn refusals_read_well() {
        assert_eq!(
            Refusal::NotActive(proto::STATE_CLOSED).to_string(),
            "lease is closed (state 3), not active"
        );
        assert_eq!(
            Refusal::NotActive(proto::STATE_INSUFFICIENT_FUNDS).to_string(),
            "lease is insufficient_funds (state 2), not active"
        );
        assert_eq!(state_name(42), "unknown");
    }
}
