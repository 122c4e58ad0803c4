//! Tag usage counters, so a tag still in use cannot leave the vocabulary
//! without scanning members, rules or invitations. `TAG_REFS` counts member
//! tags and policy rules; `TAG_GRANTS` counts invitations and participants.

use cosmwasm_std::{StdResult, Storage};
use cw_storage_plus::Map;

use crate::state::{TAG_GRANTS, TAG_REFS};

fn adjust(
    map: &Map<(u64, &str), u32>,
    store: &mut dyn Storage,
    id: u64,
    tags: &[String],
    up: bool,
) -> StdResult<()> {
    for tag in tags {
        let n = map.may_load(store, (id, tag))?.unwrap_or(0);
        let n = if up { n + 1 } else { n.saturating_sub(1) };
        if n == 0 {
            map.remove(store, (id, tag));
        } else {
            map.save(store, (id, tag), &n)?;
        }
    }
    Ok(())
}

/// Counts member tags or a policy's distinct rule tags.
pub fn add_refs(store: &mut dyn Storage, id: u64, tags: &[String]) -> StdResult<()> {
    adjust(&TAG_REFS, store, id, tags, true)
}

pub fn drop_refs(store: &mut dyn Storage, id: u64, tags: &[String]) -> StdResult<()> {
    adjust(&TAG_REFS, store, id, tags, false)
}

/// Counts tags granted by an invitation or held by a participant.
pub fn add_grants(store: &mut dyn Storage, id: u64, tags: &[String]) -> StdResult<()> {
    adjust(&TAG_GRANTS, store, id, tags, true)
}

pub fn drop_grants(store: &mut dyn Storage, id: u64, tags: &[String]) -> StdResult<()> {
    adjust(&TAG_GRANTS, store, id, tags, false)
}

/// Whether any member, rule, invitation or participant uses the tag.
pub fn in_use(store: &dyn Storage, id: u64, tag: &str) -> bool {
    TAG_REFS.has(store, (id, tag)) || TAG_GRANTS.has(store, (id, tag))
}

/// Whether any invitation or participant uses the tag.
pub fn granted(store: &dyn Storage, id: u64, tag: &str) -> bool {
    TAG_GRANTS.has(store, (id, tag))
}
