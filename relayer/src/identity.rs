//! The relayer's ed25519 overlay identity: a 32-byte seed stored with 0600
//! permissions in the data directory, created on first use.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use avpn_dataplane::identity::Identity;

/// File name of the current identity seed.
pub const FILE: &str = "identity.key";

/// Failure to load or create the identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Filesystem error.
    #[error("identity {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The file is not a 32-byte seed.
    #[error("identity {0} is not a 32-byte key")]
    Corrupt(PathBuf),
    /// The file is readable by others.
    #[error("identity {0} has mode {1:o}; it must be 0600")]
    Permissions(PathBuf, u32),
    /// The key cannot be used.
    #[error("identity key rejected: {0}")]
    Key(String),
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(String),
}

/// A loaded identity.
pub struct Key {
    /// ed25519 seed (secret).
    pub seed: [u8; 32],
    /// Public key.
    pub public: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", hex(&self.public))
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn public_of(seed: &[u8; 32]) -> Result<[u8; 32], IdentityError> {
    Ok(Identity::from_seed(seed)
        .map_err(|e| IdentityError::Key(e.to_string()))?
        .public_key())
}

/// Creates `dir` (and parents) with mode 0700 when missing.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Path of the identity in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Loads the identity at `path`; `None` when missing.
pub fn load(path: &Path) -> Result<Option<Key>, IdentityError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IdentityError::Io(path.into(), e)),
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| IdentityError::Io(path.into(), e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions(path.into(), mode));
    }
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| IdentityError::Corrupt(path.into()))?;
    Ok(Some(Key {
        public: public_of(&seed)?,
        seed,
    }))
}

/// Writes a fresh random key to `path` (0600, never overwriting).
pub fn create(path: &Path) -> Result<Key, IdentityError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
    let public = public_of(&seed)?;
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(|e| IdentityError::Io(dir.into(), e))?;
    }
    let io = |e| IdentityError::Io(path.into(), e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(&seed).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(Key { seed, public })
}

/// Loads the identity in `dir`, creating it on first use.
pub fn load_or_create(dir: &Path) -> Result<Key, IdentityError> {
    let p = path(dir);
    match load(&p)? {
        Some(k) => Ok(k),
        None => {
            let k = create(&p)?;
            tracing::info!(public_key = %hex(&k.public), path = %p.display(), "created overlay identity");
            Ok(k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("avpn-id-{}", std::process::id()));
        let a = load_or_create(&dir).unwrap();
        let b = load_or_create(&dir).unwrap();
        assert_eq!(a.public, b.public);
        let p = path(&dir);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(create(&p).is_err(), "must not overwrite");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load(&p), Err(IdentityError::Permissions(..))));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&p, b"short").unwrap();
        assert!(matches!(load(&p), Err(IdentityError::Corrupt(..))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
