//! How local leases are attached: one TOML file per lease in an
//! attachments directory, written by the provider's tooling when a lease's
//! pod starts, re-read on every reconcile.
//!
//! ```toml
//! dseq = 42
//! gseq = 1
//! oseq = 1
//! netns = "/run/netns/lease-42"
//! mode = "transparent"          # or "userspace"
//! # userspace only:
//! socks = "127.0.0.1:1080"
//! [serve]
//! "80" = "127.0.0.1:8080"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use avpn_model::{Attachment, AttachmentMode};
use serde::Deserialize;

/// A lease of this provider: (dseq, gseq, oseq).
pub type LocalLease = (u64, u32, u32);

/// A file in the attachments directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// The directory cannot be read.
    #[error("attachments dir {0}: {1}")]
    Dir(PathBuf, #[source] std::io::Error),
    /// A file cannot be read.
    #[error("attachment file {0}: {1}")]
    Read(PathBuf, #[source] std::io::Error),
    /// A file is not valid TOML of the expected shape.
    #[error("attachment file {0}: {1}")]
    Parse(PathBuf, #[source] toml::de::Error),
    /// The fields do not make a valid attachment.
    #[error("attachment file {0}: {1}")]
    Invalid(PathBuf, String),
    /// Two files name the same lease.
    #[error("attachment files {0} and {1} name the same lease")]
    Duplicate(PathBuf, PathBuf),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ModeName {
    Transparent,
    Userspace,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    dseq: u64,
    gseq: u32,
    oseq: u32,
    netns: PathBuf,
    mode: ModeName,
    socks: Option<SocketAddr>,
    #[serde(default)]
    serve: BTreeMap<String, SocketAddr>,
}

/// Parses one attachment file's contents.
pub fn parse(path: &Path, text: &str) -> Result<(LocalLease, Attachment), AttachmentError> {
    let f: FileFormat = toml::from_str(text).map_err(|e| AttachmentError::Parse(path.into(), e))?;
    let invalid = |m: &str| AttachmentError::Invalid(path.into(), m.to_owned());
    if !f.netns.is_absolute() {
        return Err(invalid("netns must be an absolute path"));
    }
    let mode = match f.mode {
        ModeName::Transparent => {
            if f.socks.is_some() || !f.serve.is_empty() {
                return Err(invalid("socks/serve are only for mode = \"userspace\""));
            }
            AttachmentMode::Transparent
        }
        ModeName::Userspace => {
            let socks = f
                .socks
                .ok_or_else(|| invalid("userspace mode needs socks"))?;
            let mut serve = BTreeMap::new();
            for (port, target) in f.serve {
                let port: u16 = port
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid(&format!("serve port {port:?} is not 1..=65535")))?;
                serve.insert(port, target);
            }
            AttachmentMode::Userspace { socks, serve }
        }
    };
    Ok((
        (f.dseq, f.gseq, f.oseq),
        Attachment {
            netns: f.netns,
            mode,
        },
    ))
}

/// Every attachment in `dir` (files ending in `.toml`). A bad file is
/// reported in the error list and skipped; the others still apply. A
/// missing directory means no attachments.
pub fn read_dir(dir: &Path) -> (HashMap<LocalLease, Attachment>, Vec<AttachmentError>) {
    let mut found = HashMap::new();
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (found, errors),
        Err(e) => {
            errors.push(AttachmentError::Dir(dir.into(), e));
            return (found, errors);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut origin: HashMap<LocalLease, PathBuf> = HashMap::new();
    for path in paths {
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| AttachmentError::Read(path.clone(), e))
            .and_then(|text| parse(&path, &text));
        match parsed {
            Ok((lease, att)) => {
                if let Some(first) = origin.get(&lease) {
                    errors.push(AttachmentError::Duplicate(first.clone(), path));
                    continue;
                }
                origin.insert(lease, path);
                found.insert(lease, att);
            }
            Err(e) => errors.push(e),
        }
    }
    (found, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_modes_and_rejects_bad_files() {
        let p = Path::new("a.toml");
        let (lease, att) = parse(
            p,
            "dseq=4\ngseq=1\noseq=2\nnetns=\"/run/netns/x\"\nmode=\"transparent\"\n",
        )
        .unwrap();
        assert_eq!(lease, (4, 1, 2));
        assert_eq!(att.mode, AttachmentMode::Transparent);

        let (_, att) = parse(
            p,
            "dseq=4\ngseq=1\noseq=2\nnetns=\"/run/netns/x\"\nmode=\"userspace\"\nsocks=\"127.0.0.1:1080\"\n[serve]\n\"80\"=\"127.0.0.1:8080\"\n",
        )
        .unwrap();
        let AttachmentMode::Userspace { socks, serve } = att.mode else {
            panic!("userspace expected")
        };
        assert_eq!(socks, "127.0.0.1:1080".parse().unwrap());
        assert_eq!(serve[&80], "127.0.0.1:8080".parse().unwrap());

        for bad in [
            "dseq=4\ngseq=1\noseq=2\nnetns=\"rel\"\nmode=\"transparent\"\n",
            "dseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"userspace\"\n",
            "dseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"userspace\"\nsocks=\"127.0.0.1:1\"\n[serve]\n\"0\"=\"127.0.0.1:1\"\n",
            "dseq=-4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"transparent\"\n",
            "dseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"tun\"\n",
            "dseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"transparent\"\nextra=1\n",
            "not toml at all [",
        ] {
            assert!(parse(p, bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn directory_skips_bad_files_and_duplicates() {
        let dir = std::env::temp_dir().join(format!("avpn-att-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = "dseq=1\ngseq=1\noseq=1\nnetns=\"/run/netns/a\"\nmode=\"transparent\"\n";
        std::fs::write(dir.join("a.toml"), good).unwrap();
        std::fs::write(dir.join("b.toml"), good).unwrap();
        std::fs::write(dir.join("c.toml"), "garbage").unwrap();
        std::fs::write(dir.join("ignored.txt"), "garbage").unwrap();
        let (found, errors) = read_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found.contains_key(&(1, 1, 1)));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(read_dir(Path::new("/nonexistent/avpn")).0.is_empty());
    }
}
