//! `avpn invite list` and `avpn invite revoke` (network owner).

use cosmwasm_std::Timestamp;
use network_registry::msg::{ExecuteMsg, InvitationResponse};
use serde::Serialize;

use crate::chain::{KeyArgs, Submitted};

use super::error::InviteError;
use super::{ListArgs, RevokeArgs, Target, onchain};

/// One invitation as `list` shows it.
#[derive(Debug, PartialEq, Serialize)]
pub struct Row {
    /// Invitation id.
    pub id: u64,
    /// Tags it grants.
    pub tags: Vec<String>,
    /// Expiry, RFC 3339.
    pub expires: String,
    /// Expiry, nanoseconds since the epoch (as the contract stores it).
    pub expires_ns: String,
    /// Claims so far.
    pub uses: u32,
    /// Claims allowed.
    pub max_uses: u32,
    /// Members each claimant may add.
    pub max_members: u32,
    /// `open`, `expired` or `used up`, by the chain's clock.
    pub status: &'static str,
}

impl Row {
    /// The row of `inv` at chain time `now`.
    pub fn new(inv: InvitationResponse, now: Timestamp) -> Self {
        let status = if now >= inv.expires {
            "expired"
        } else if inv.uses >= inv.max_uses {
            "used up"
        } else {
            "open"
        };
        Row {
            id: inv.id,
            tags: inv.tags,
            expires: onchain::rfc3339(inv.expires),
            expires_ns: inv.expires.nanos().to_string(),
            uses: inv.uses,
            max_uses: inv.max_uses,
            max_members: inv.max_members,
            status,
        }
    }
}

/// Runs `avpn invite list`.
pub async fn list(args: ListArgs, target: Target<'_>) -> Result<(), InviteError> {
    let Target { chain, network_id } = target;
    let invitations = onchain::invitations(chain, network_id).await?;
    let now = onchain::chain_time(chain).await?;
    let rows: Vec<Row> = invitations.into_iter().map(|i| Row::new(i, now)).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows));
    }
    Ok(())
}

/// Rows as an aligned text table with a header.
fn table(rows: &[Row]) -> String {
    let mut cells = vec![[
        "ID".to_owned(),
        "TAGS".to_owned(),
        "EXPIRES".to_owned(),
        "USES".to_owned(),
        "MAX MEMBERS".to_owned(),
        "STATUS".to_owned(),
    ]];
    cells.extend(rows.iter().map(|r| {
        [
            r.id.to_string(),
            r.tags.join(","),
            r.expires.clone(),
            format!("{}/{}", r.uses, r.max_uses),
            r.max_members.to_string(),
            r.status.to_owned(),
        ]
    }));
    let mut widths = [0usize; 6];
    for line in &cells {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for line in &cells {
        let padded: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Runs `avpn invite revoke`.
pub async fn revoke(
    args: RevokeArgs,
    target: Target<'_>,
    keys: &KeyArgs,
) -> Result<(), InviteError> {
    let Target { chain, network_id } = target;
    let msg = ExecuteMsg::RevokeInvitation {
        network_id,
        invitation_id: args.invitation_id,
    };
    let submitted = chain.submit(keys, &[msg]).await?;
    match &submitted {
        Submitted::Included(outcome) => println!(
            "revoked invitation {} of network {} (tx {})",
            args.invitation_id, network_id, outcome.hash
        ),
        Submitted::Generated { .. } => onchain::print_generated(&submitted)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cosmwasm_std::Binary;
    use network_registry::msg::KeyType;

    use super::*;

    fn inv(uses: u32) -> InvitationResponse {
        InvitationResponse {
            id: 4,
            pubkey: Binary::from(vec![0; 32]),
            key_type: KeyType::Ed25519,
            expires: Timestamp::from_seconds(4_102_444_800),
            max_uses: 1,
            uses,
            tags: vec!["web".into(), "db".into()],
            max_members: 3,
        }
    }

    #[test]
    fn rows_and_table() {
        let now = Timestamp::from_seconds(1_000);
        let open = Row::new(inv(0), now);
        assert_eq!(open.status, "open");
        assert_eq!(open.expires, "2100-01-01T00:00:00Z");
        assert_eq!(open.expires_ns, "4102444800000000000");
        assert_eq!(Row::new(inv(1), now).status, "used up");
        assert_eq!(
            Row::new(inv(0), Timestamp::from_seconds(4_102_444_800)).status,
            "expired"
        );
        let text = table(&[open]);
        assert_eq!(
            text,
            "ID  TAGS    EXPIRES               USES  MAX MEMBERS  STATUS\n\
             4   web,db  2100-01-01T00:00:00Z  0/1   3            open\n"
        );
    }
}
