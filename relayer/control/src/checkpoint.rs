//! Local checkpoint in the data directory: the last height seen and the
//! revision of every network applied. On restart it tells what changed
//! while the relayer was down; the chain stays the source of truth and is
//! always re-read before traffic is accepted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FILE: &str = "checkpoint.json";

/// What the relayer had applied when it last wrote the checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Chain id the checkpoint belongs to.
    pub chain_id: String,
    /// Last block height the applied state was read at.
    pub height: u64,
    /// Revision of each applied network.
    pub revisions: BTreeMap<u64, u64>,
}

/// Failure to read or write the checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Filesystem error.
    #[error("checkpoint {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The file is not a checkpoint.
    #[error("checkpoint {0} is corrupt: {1}")]
    Corrupt(PathBuf, #[source] serde_json::Error),
}

impl Checkpoint {
    /// Path of the checkpoint in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE)
    }

    /// Loads the checkpoint; `None` when there is none yet.
    pub fn load(data_dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = Self::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CheckpointError::Corrupt(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CheckpointError::Io(path, e)),
        }
    }

    /// Writes atomically (temporary file + rename). Not synced to disk: the
    /// checkpoint is advisory, a lost or torn one is ignored on start.
    pub fn store(&self, data_dir: &Path) -> Result<(), CheckpointError> {
        let path = Self::path(data_dir);
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        let io = |e| CheckpointError::Io(path.clone(), e);
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CheckpointError::Corrupt(path.clone(), e))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Networks whose revision differs from `now` (added, changed or gone).
    pub fn changed_since(&self, now: &BTreeMap<u64, u64>) -> Vec<u64> {
        let mut ids: Vec<u64> = now
            .iter()
            .filter(|(id, rev)| self.revisions.get(id) != Some(rev))
            .map(|(id, _)| *id)
            .chain(
                self.revisions
                    .keys()
                    .filter(|id| !now.contains_key(id))
                    .copied(),
            )
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_changes() {
        let dir = std::env::temp_dir().join(format!("avpn-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(Checkpoint::load(&dir).unwrap(), None);
        let c = Checkpoint {
            chain_id: "c".into(),
            height: 7,
            revisions: [(1, 3), (2, 5)].into(),
        };
        c.store(&dir).unwrap();
        assert_eq!(Checkpoint::load(&dir).unwrap(), Some(c.clone()));
        assert_eq!(
            c.changed_since(&[(1, 3), (2, 6), (4, 1)].into()),
            vec![2, 4]
        );
        assert_eq!(c.changed_since(&[(2, 5)].into()), vec![1]);
        std::fs::write(Checkpoint::path(&dir), b"{broken").unwrap();
        assert!(matches!(
            Checkpoint::load(&dir),
            Err(CheckpointError::Corrupt(..))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
