//! The relayer's ed25519 overlay identity: a 32-byte seed stored with 0600
//! permissions in the data directory, created on first use. A key rotated
//! out by `rotate-key` is kept next to it until its overlap deadline
//! ([`old_path`]) and removed afterwards ([`remove_expired`]).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use avpn_control::tx::{PrivateFileError, read_private};
use avpn_dataplane::identity::Identity;
use zeroize::{Zeroize, ZeroizeOnDrop};

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
    /// The file is accessible by group or others (checked on the open file,
    /// like the mnemonic file).
    #[error("identity {0} has mode {1:04o}; it must be 0600")]
    Permissions(PathBuf, u32),
    /// The key cannot be used.
    #[error("identity key rejected: {0}")]
    Key(String),
    /// The system random source failed.
    #[error("random source: {0}")]
    Random(String),
}

/// A loaded identity. `Debug` shows the public key only; the seed is wiped
/// when the key is dropped.
pub struct Key {
    /// ed25519 seed (secret).
    pub seed: [u8; 32],
    /// Public key.
    pub public: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("public", &hex(&self.public))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl ZeroizeOnDrop for Key {}

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

/// Loads the identity at `path`; `None` when missing. The file is opened
/// once and checked through the handle (the check shared with the mnemonic
/// file, [`avpn_control::tx::read_private`]): group/world access is refused.
pub fn load(path: &Path) -> Result<Option<Key>, IdentityError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IdentityError::Io(path.into(), e)),
    };
    let bytes = read_private(file, path, 32).map_err(|e| match e {
        PrivateFileError::Permissions(p, mode) => IdentityError::Permissions(p, mode),
        PrivateFileError::Io(p, e) => IdentityError::Io(p, e),
        PrivateFileError::NotRegular(p) => {
            IdentityError::Io(p, std::io::Error::other("not a regular file"))
        }
        PrivateFileError::TooLarge(p, _) => IdentityError::Corrupt(p),
    })?;
    if bytes.len() != 32 {
        return Err(IdentityError::Corrupt(path.into()));
    }
    let mut key = Key {
        seed: [0; 32],
        public: [0; 32],
    };
    key.seed.copy_from_slice(&bytes);
    key.public = public_of(&key.seed)?;
    Ok(Some(key))
}

/// Writes a fresh random key to `path` (0600, never overwriting).
pub fn create(path: &Path) -> Result<Key, IdentityError> {
    let mut key = Key {
        seed: [0; 32],
        public: [0; 32],
    };
    getrandom::fill(&mut key.seed).map_err(|e| IdentityError::Random(e.to_string()))?;
    key.public = public_of(&key.seed)?;
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
    f.write_all(&key.seed).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(key)
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

/// Where `rotate-key` keeps the rotated-out identity of `dir` until its
/// overlap `deadline` (Unix seconds): `identity.key.until-<deadline>.old`.
pub fn old_path(dir: &Path, deadline: u64) -> PathBuf {
    dir.join(format!("{FILE}.until-{deadline}.old"))
}

/// The longest overlap the provider directory allows by default; files
/// named before the deadline was recorded (`identity.key.<rotated at>.old`)
/// are kept that long after their rotation.
fn legacy_overlap_secs() -> u64 {
    provider_directory::msg::Params::default().max_rotation_overlap_secs
}

/// The deadline of a rotated-out identity file name; `None` for any other
/// name (the current `identity.key`, the pending `identity.key.next`, ...).
fn deadline_of(name: &str) -> Option<u64> {
    let middle = name
        .strip_prefix(FILE)?
        .strip_prefix('.')?
        .strip_suffix(".old")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match middle.strip_prefix("until-") {
        Some(d) if digits(d) => d.parse().ok(),
        Some(_) => None,
        None if digits(middle) => middle
            .parse::<u64>()
            .ok()
            .map(|rotated| rotated.saturating_add(legacy_overlap_secs())),
        None => None,
    }
}

/// Removes the rotated-out identities in `dir` whose overlap deadline has
/// passed (deadline ≤ `now`, the directory's rule too), logging each; returns
/// the removed paths. Only names made by [`old_path`] (or the older
/// `identity.key.<time>.old`) are candidates, and a file that is the current
/// identity (same inode, e.g. a hard link) is never removed. Failures are
/// logged, not returned: a leftover old key must not stop the relayer.
pub fn remove_expired(dir: &Path, now: u64) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return removed,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), %e, "cannot list rotated-out identities");
            return removed;
        }
    };
    let current = std::fs::metadata(path(dir))
        .ok()
        .map(|m| (m.dev(), m.ino()));
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(deadline) = name.to_str().and_then(deadline_of) else {
            continue;
        };
        if deadline > now {
            continue;
        }
        let p = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        if current.is_some_and(|c| c == (meta.dev(), meta.ino())) {
            tracing::warn!(path = %p.display(), "rotated-out identity is the current identity; kept");
            continue;
        }
        match std::fs::remove_file(&p) {
            Ok(()) => {
                tracing::info!(path = %p.display(), deadline, "removed rotated-out identity past its overlap deadline");
                removed.push(p);
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), %e, "cannot remove rotated-out identity")
            }
        }
    }
    removed
}

/// [`remove_expired`] at the current time.
pub fn remove_expired_now(dir: &Path) -> Vec<PathBuf> {
    remove_expired(dir, avpn_dataplane::identity::unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh directory, removed on drop.
    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("avpn-id-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Tmp(d)
    }

    #[test]
    fn created_once_private_and_stable() {
        let dir = tmp("create");
        let dir = &dir.0;
        let a = load_or_create(dir).unwrap();
        let b = load_or_create(dir).unwrap();
        assert_eq!(a.public, b.public);
        let p = path(dir);
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
        std::fs::write(&p, [1u8; 33]).unwrap();
        assert!(matches!(load(&p), Err(IdentityError::Corrupt(..))));
    }

    #[test]
    fn group_or_world_accessible_identity_is_refused_with_path_and_mode() {
        let dir = tmp("mode");
        let k = load_or_create(&dir.0).unwrap();
        let p = path(&dir.0);
        for mode in [0o640, 0o604, 0o644, 0o660, 0o602, 0o620, 0o601, 0o610] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&p).unwrap_err();
            assert!(
                matches!(&err, IdentityError::Permissions(q, m) if q == &p && *m == mode),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains(&p.display().to_string()) && text.contains(&format!("{mode:04o}"))
            );
            assert!(!text.contains(&hex(&k.seed)), "{text}");
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(load(&p).unwrap().unwrap().public, k.public);
        }
    }

    #[test]
    fn debug_of_a_key_shows_no_seed_bytes() {
        use base64::Engine;
        let dir = tmp("debug");
        let k = load_or_create(&dir.0).unwrap();
        let seed = std::fs::read(path(&dir.0)).unwrap();
        assert_eq!(seed, k.seed);
        let b64 = base64::engine::general_purpose::STANDARD;
        let b64_nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
        for out in [
            format!("{k:?}"),
            format!("{k:#?}"),
            format!("{:?}", Some(&k)),
        ] {
            for enc in [
                hex(&seed),
                hex(&seed).to_uppercase(),
                b64.encode(&seed),
                b64_nopad.encode(&seed),
                format!("{seed:?}"),
                format!("{:?}", &seed[..4]).trim_end_matches(']').to_owned(),
            ] {
                assert!(!out.contains(&enc), "seed {enc} in {out}");
            }
            assert!(out.contains(&hex(&k.public)), "{out}");
            assert!(out.contains("<redacted>"), "{out}");
        }
    }

    #[test]
    fn only_old_identities_past_their_deadline_are_removed() {
        let dir = tmp("rotate");
        let d = &dir.0;
        let current = load_or_create(d).unwrap();
        let next = d.join("identity.key.next");
        create(&next).unwrap();
        let now = 1_700_000_000;
        let expired = old_path(d, now - 1);
        let at_deadline = old_path(d, now);
        let valid = old_path(d, now + 1);
        let legacy_expired = d.join(format!("identity.key.{}.old", now - legacy_overlap_secs()));
        let legacy_valid = d.join(format!("identity.key.{}.old", now - 10));
        let unrelated = [
            d.join("identity.key.lost"),
            d.join("identity.key.until-x.old"),
            d.join("identity.key..old"),
            d.join("checkpoint.json"),
            d.join("other.key.1.old"),
        ];
        for p in [
            &expired,
            &at_deadline,
            &valid,
            &legacy_expired,
            &legacy_valid,
        ]
        .into_iter()
        .chain(&unrelated)
        {
            create(p).unwrap();
        }
        // an "old" name that is a hard link to the current key stays
        let linked = old_path(d, now - 5);
        std::fs::hard_link(path(d), &linked).unwrap();

        let mut removed = remove_expired(d, now);
        removed.sort();
        let mut want = vec![expired.clone(), at_deadline.clone(), legacy_expired.clone()];
        want.sort();
        assert_eq!(removed, want);
        for p in &want {
            assert!(!p.exists(), "{} kept", p.display());
        }
        for p in [&valid, &legacy_valid, &next, &linked]
            .into_iter()
            .chain(&unrelated)
        {
            assert!(p.exists(), "{} removed", p.display());
        }
        assert_eq!(load(&path(d)).unwrap().unwrap().public, current.public);
        // idempotent; the still-valid one goes once its deadline passed
        assert!(remove_expired(d, now).is_empty());
        assert_eq!(remove_expired(d, now + 1), vec![valid]);
        assert!(remove_expired(&d.join("missing"), now).is_empty());
    }

    #[test]
    fn deadline_is_read_from_the_name() {
        assert_eq!(
            deadline_of(
                old_path(Path::new("/x"), 42)
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
            ),
            Some(42)
        );
        assert_eq!(
            deadline_of("identity.key.10.old"),
            Some(10 + legacy_overlap_secs())
        );
        for other in [
            "identity.key",
            "identity.key.next",
            "identity.key.old",
            "identity.key.until-.old",
            "identity.key.until-1a.old",
            "identity.key.-1.old",
            "identity.keyx.1.old",
        ] {
            assert_eq!(deadline_of(other), None, "{other}");
        }
    }
}
