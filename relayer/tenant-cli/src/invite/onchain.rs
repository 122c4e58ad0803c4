//! What the invitation commands read from the chain: block time and
//! paginated registry lists.

use std::time::{Duration, SystemTime};

use cosmwasm_std::Timestamp;
use network_registry::msg::{
    InvitationResponse, InvitationsResponse, ParticipantResponse, ParticipantsResponse, QueryMsg,
};
use tendermint_rpc::Client;

use crate::chain::{Chain, ChainError, Submitted};

use super::error::InviteError;

/// Page size asked of the registry (it may answer with fewer).
const PAGE: u32 = 100;

/// Time of the latest block: the clock the contract checks expiry against.
pub async fn chain_time(chain: &Chain) -> Result<Timestamp, InviteError> {
    let querier = chain.querier();
    let latest = querier
        .client()
        .latest_block()
        .await
        .map_err(|e| ChainError::Rpc(querier.endpoint().unreachable(e)))?;
    let nanos = latest.block.header.time.unix_timestamp_nanos();
    u64::try_from(nanos)
        .map(Timestamp::from_nanos)
        .map_err(|_| InviteError::ChainTime)
}

/// A chain timestamp as RFC 3339 (UTC, seconds).
pub fn rfc3339(t: Timestamp) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(t.nanos());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Every invitation of a network, by id.
pub async fn invitations(
    chain: &Chain,
    network_id: u64,
) -> Result<Vec<InvitationResponse>, ChainError> {
    let mut all = Vec::new();
    let mut start_after = None;
    loop {
        let page: InvitationsResponse = chain
            .query(&QueryMsg::Invitations {
                network_id,
                start_after,
                limit: Some(PAGE),
            })
            .await?;
        let Some(last) = page.invitations.last() else {
            return Ok(all);
        };
        start_after = Some(last.id);
        all.extend(page.invitations);
    }
}

/// The participant `address` of a network, if it is one.
pub async fn participant(
    chain: &Chain,
    network_id: u64,
    address: &str,
) -> Result<Option<ParticipantResponse>, ChainError> {
    let mut start_after = None;
    loop {
        let page: ParticipantsResponse = chain
            .query(&QueryMsg::Participants {
                network_id,
                start_after,
                limit: Some(PAGE),
            })
            .await?;
        let Some(last) = page.participants.last() else {
            return Ok(None);
        };
        start_after = Some(last.address.to_string());
        if let Some(p) = page
            .participants
            .into_iter()
            .find(|p| p.address.as_str() == address)
        {
            return Ok(Some(p));
        }
    }
}

/// Prints an only-generated tx (stdout) for another signer.
pub fn print_generated(submitted: &Submitted) -> Result<(), InviteError> {
    if let Submitted::Generated {
        unsigned_tx,
        commands,
    } = submitted
    {
        crate::commands::Generated {
            commands: commands.clone(),
            unsigned_tx: unsigned_tx.clone(),
        }
        .print();
    }
    Ok(())
}
