//! Lease verification: a local member is served only when the Akash market
//! reports its lease active on this provider and owned by the network owner
//! or the participant who added the member.
//!
//! The Akash query (`akash.market.v1beta5.Query/Lease`) goes through
//! `abci_query` with the few protobuf messages it needs written by hand
//! below. [`Verification::Off`] is for chains without the market module
//! (e.g. the wasmd localnet); the relayer reports that mode in its status.

use std::future::Future;

use avpn_model::LeaseId;

use crate::query::{Querier, QueryError};

/// Akash market protobuf messages (only the fields read here).
pub mod proto {
    /// `akash.market.v1beta5.LeaseID`.
    #[derive(Clone, PartialEq, prost::Message)]
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
    }

    /// `akash.market.v1beta5.Lease` (price and timestamps left out).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Lease {
        /// Identity of the lease.
        #[prost(message, optional, tag = "1")]
        pub lease_id: Option<LeaseId>,
        /// `Lease.State`: 0 invalid, 1 active, 2 insufficient_funds, 3 closed.
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

    /// `Lease.State` value of an active lease.
    pub const STATE_ACTIVE: i32 = 1;
}

/// gRPC path of the Akash lease query.
pub const LEASE_PATH: &str = "/akash.market.v1beta5.Query/Lease";

/// Outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseVerdict {
    /// Active, on the provider, owned by this owner.
    Verified {
        /// The lease owner found.
        owner: String,
    },
    /// Verification is off: served without asking the market.
    Unchecked,
    /// Not served.
    Refused(Refusal),
}

/// Why a lease was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No lease with that id for any allowed owner.
    #[error("no lease for the allowed owners")]
    NotFound,
    /// The lease exists but is not active.
    #[error("lease state {0} is not active")]
    NotActive(i32),
    /// The market answered a lease with another identity.
    #[error("market returned a different lease ({0})")]
    Mismatch(String),
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
    /// Checks `lease` (hosted by this provider) against the allowed owners,
    /// in order.
    fn verify(
        &self,
        lease: &LeaseId,
        owners: &[&str],
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
    async fn verify(&self, lease: &LeaseId, owners: &[&str]) -> Result<LeaseVerdict, LeaseError> {
        let Verification::Market(q) = self else {
            return Ok(LeaseVerdict::Unchecked);
        };
        let mut refusal = Refusal::NotFound;
        for owner in owners {
            let id = proto::LeaseId {
                owner: (*owner).to_owned(),
                dseq: lease.dseq,
                gseq: lease.gseq,
                oseq: lease.oseq,
                provider: lease.provider.clone(),
            };
            let req = proto::QueryLeaseRequest {
                id: Some(id.clone()),
            };
            let resp: proto::QueryLeaseResponse = match q.grpc_typed(LEASE_PATH, &req, None).await {
                Ok(r) => r,
                Err(QueryError::Rejected { log, .. })
                    if log.to_ascii_lowercase().contains("not found") =>
                {
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let found = resp.lease.ok_or(LeaseError::Empty)?;
            if found.lease_id.as_ref() != Some(&id) {
                return Ok(LeaseVerdict::Refused(Refusal::Mismatch(format!(
                    "{:?}",
                    found.lease_id
                ))));
            }
            if found.state == proto::STATE_ACTIVE {
                return Ok(LeaseVerdict::Verified {
                    owner: (*owner).to_owned(),
                });
            }
            refusal = Refusal::NotActive(found.state);
        }
        Ok(LeaseVerdict::Refused(refusal))
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
