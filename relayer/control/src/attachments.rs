//! How local leases are attached: one TOML file per lease in an
//! attachments directory, written by the provider's tooling when a lease's
//! pod starts, re-read on every reconcile.
//!
//! The file names the full lease id except the provider (this relayer's);
//! a member is attached only to the lease with exactly that id, so two
//! tenants' leases that share dseq/gseq/oseq are never confused.
//!
//! ```toml
//! owner = "akash1…"
//! dseq = 42
//! gseq = 1
//! oseq = 1
//! bseq = 0
//! netns = "/run/netns/lease-42"
//! mode = "transparent"          # or "userspace"
//! # userspace only:
//! socks = "127.0.0.1:1080"
//! [serve]                       # overlay TCP port = local address
//! "80" = "127.0.0.1:8080"
//! [serve_udp]                   # overlay UDP port = local address
//! "53" = "127.0.0.1:5353"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use avpn_model::{Attachment, AttachmentMode, LeaseId};
use serde::Deserialize;

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
    owner: String,
    dseq: u64,
    gseq: u32,
    oseq: u32,
    bseq: u32,
    netns: PathBuf,
    mode: ModeName,
    socks: Option<SocketAddr>,
    #[serde(default)]
    serve: BTreeMap<String, SocketAddr>,
    #[serde(default)]
    serve_udp: BTreeMap<String, SocketAddr>,
}

/// Parses one attachment file's contents; `provider` is this relayer's
/// account, the lease's provider.
pub fn parse(
    path: &Path,
    text: &str,
    provider: &str,
) -> Result<(LeaseId, Attachment), AttachmentError> {
    let f: FileFormat = toml::from_str(text).map_err(|e| AttachmentError::Parse(path.into(), e))?;
    let invalid = |m: &str| AttachmentError::Invalid(path.into(), m.to_owned());
    if f.owner.is_empty() {
        return Err(invalid("owner must be the lease owner's account address"));
    }
    if !f.netns.is_absolute() {
        return Err(invalid("netns must be an absolute path"));
    }
    let mode = match f.mode {
        ModeName::Transparent => {
            if f.socks.is_some() || !f.serve.is_empty() || !f.serve_udp.is_empty() {
                return Err(invalid(
                    "socks/serve/serve_udp are only for mode = \"userspace\"",
                ));
            }
            AttachmentMode::Transparent
        }
        ModeName::Userspace => {
            let socks = f
                .socks
                .ok_or_else(|| invalid("userspace mode needs socks"))?;
            let ports = |table: BTreeMap<String, SocketAddr>, what: &str| {
                let mut serve = BTreeMap::new();
                for (port, target) in table {
                    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                        invalid(&format!("{what} port {port:?} is not 1..=65535"))
                    })?;
                    serve.insert(port, target);
                }
                Ok::<_, AttachmentError>(serve)
            };
            AttachmentMode::Userspace {
                socks,
                serve: ports(f.serve, "serve")?,
                serve_udp: ports(f.serve_udp, "serve_udp")?,
            }
        }
    };
    Ok((
        LeaseId {
            owner: f.owner,
            dseq: f.dseq,
            gseq: f.gseq,
            oseq: f.oseq,
            provider: provider.to_owned(),
            bseq: f.bseq,
        },
        Attachment {
            netns: f.netns,
            mode,
        },
    ))
}

/// Every attachment in `dir` (files ending in `.toml`). A bad file is
/// reported in the error list and skipped; the others still apply. A
/// missing directory means no attachments. Leases are keyed by their full
/// id with `provider` (this relayer's account) as provider.
pub fn read_dir(
    dir: &Path,
    provider: &str,
) -> (HashMap<LeaseId, Attachment>, Vec<AttachmentError>) {
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
    let mut origin: HashMap<LeaseId, PathBuf> = HashMap::new();
    for path in paths {
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| AttachmentError::Read(path.clone(), e))
            .and_then(|text| parse(&path, &text, provider));
        match parsed {
            Ok((lease, att)) => {
                if let Some(first) = origin.get(&lease) {
                    errors.push(AttachmentError::Duplicate(first.clone(), path));
                    continue;
                }
                origin.insert(lease.clone(), path);
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

    const PROVIDER: &str = "akash1provider";

    fn parse_str(p: &Path, text: &str) -> Result<(LeaseId, Attachment), AttachmentError> {
        parse(p, text, PROVIDER)
    }

    #[test]
    fn parses_both_modes_and_rejects_bad_files() {
        let p = Path::new("a.toml");
        let (lease, att) = parse_str(
            p,
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/run/netns/x\"\nmode=\"transparent\"\n",
        )
        .unwrap();
        assert_eq!(
            lease,
            LeaseId {
                owner: "akash1o".into(),
                dseq: 4,
                gseq: 1,
                oseq: 2,
                provider: PROVIDER.into(),
                bseq: 0,
            }
        );
        assert_eq!(att.mode, AttachmentMode::Transparent);

        let (_, att) = parse_str(
            p,
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/run/netns/x\"\nmode=\"userspace\"\nsocks=\"127.0.0.1:1080\"\n[serve]\n\"80\"=\"127.0.0.1:8080\"\n[serve_udp]\n\"53\"=\"127.0.0.1:5353\"\n",
        )
        .unwrap();
        let AttachmentMode::Userspace {
            socks,
            serve,
            serve_udp,
        } = att.mode
        else {
            panic!("userspace expected")
        };
        assert_eq!(socks, "127.0.0.1:1080".parse().unwrap());
        assert_eq!(serve[&80], "127.0.0.1:8080".parse().unwrap());
        assert_eq!(serve_udp[&53], "127.0.0.1:5353".parse().unwrap());

        for bad in [
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"rel\"\nmode=\"transparent\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"userspace\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"userspace\"\nsocks=\"127.0.0.1:1\"\n[serve]\n\"0\"=\"127.0.0.1:1\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"userspace\"\nsocks=\"127.0.0.1:1\"\n[serve_udp]\n\"x\"=\"127.0.0.1:1\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"transparent\"\n[serve_udp]\n\"53\"=\"127.0.0.1:1\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=-4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"transparent\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"tun\"\n",
            "owner=\"akash1o\"\nbseq=0\ndseq=4\ngseq=1\noseq=2\nnetns=\"/n\"\nmode=\"transparent\"\nextra=1\n",
            "not toml at all [",
        ] {
            assert!(parse_str(p, bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn directory_skips_bad_files_and_duplicates() {
        let dir = std::env::temp_dir().join(format!("avpn-att-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = "owner=\"akash1o\"\nbseq=0\ndseq=1\ngseq=1\noseq=1\nnetns=\"/run/netns/a\"\nmode=\"transparent\"\n";
        std::fs::write(dir.join("a.toml"), good).unwrap();
        std::fs::write(dir.join("b.toml"), good).unwrap();
        std::fs::write(dir.join("c.toml"), "garbage").unwrap();
        std::fs::write(dir.join("ignored.txt"), "garbage").unwrap();
        let (found, errors) = read_dir(&dir, PROVIDER);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found.keys().all(|l| l.dseq == 1 && l.owner == "akash1o"));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            read_dir(Path::new("/nonexistent/avpn"), PROVIDER)
                .0
                .is_empty()
        );
    }

    /// Two tenants' leases with the same dseq/gseq/oseq on this provider are
    /// two leases, each with its own namespace.
    #[test]
    fn same_sequence_numbers_of_two_owners_are_two_leases() {
        let dir = std::env::temp_dir().join(format!("avpn-att2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |owner: &str, ns: &str| {
            format!(
                "owner=\"{owner}\"\nbseq=0\ndseq=7\ngseq=1\noseq=1\nnetns=\"/run/netns/{ns}\"\nmode=\"transparent\"\n"
            )
        };
        std::fs::write(dir.join("a.toml"), file("akash1alice", "a")).unwrap();
        std::fs::write(dir.join("b.toml"), file("akash1bob", "b")).unwrap();
        let (found, errors) = read_dir(&dir, PROVIDER);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let ns_of = |owner: &str| {
            found
                .iter()
                .find(|(l, _)| l.owner == owner)
                .map(|(_, a)| a.netns.clone())
                .unwrap()
        };
        assert_eq!(ns_of("akash1alice"), PathBuf::from("/run/netns/a"));
        assert_eq!(ns_of("akash1bob"), PathBuf::from("/run/netns/b"));
    }
}
