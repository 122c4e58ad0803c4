//! Settings of [`Overlay::start`](super::Overlay::start) and its errors.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use avpn_model::ProviderAddr;
use prometheus_client::registry::Registry;

use crate::identity::IdentityError;
use crate::io_runtime::MAX_IO_THREADS;

/// Settings of [`Overlay::start`](super::Overlay::start).
pub struct OverlayConfig<'a> {
    /// UDP address the QUIC endpoint listens on.
    pub listen: SocketAddr,
    /// ed25519 seed of this relayer's overlay key.
    pub identity_seed: [u8; 32],
    /// This provider's account address (`lease.provider` of local members).
    pub local_provider: ProviderAddr,
    /// Registry the data-plane metrics are added to.
    pub metrics: &'a mut Registry,
    /// MTU of the underlay path (sets the QUIC packet size and the TUN MTU).
    pub underlay_mtu: u16,
    /// Namespace to create the UDP socket in (`None`: the current one).
    pub underlay_netns: Option<PathBuf>,
    /// Congestion controller of the QUIC connections between providers.
    pub congestion: Congestion,
    /// Bytes per second this relayer forwards, as a relay, for one pair of
    /// other providers (both directions together).
    pub relay_pair_rate: u64,
    /// Threads of the data plane's own runtime (1, the default: one
    /// current-thread runtime; at most 64, `MAX_IO_THREADS`).
    pub io_threads: NonZeroUsize,
}

/// Congestion controllers quinn offers for the provider connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Congestion {
    /// BBR (quinn marks it experimental). Not the default: after an
    /// application-limited phase (small request/response traffic) a bulk
    /// transfer between the same providers can stall at a few Mbit/s
    /// (4 of 23 rounds of `bench/stall.sh`; CUBIC 0 of 23).
    Bbr,
    /// CUBIC (quinn's default, recommended by its maintainers).
    #[default]
    Cubic,
    /// NewReno.
    NewReno,
}

/// A congestion controller name other than `bbr`, `cubic`, `newreno`.
#[derive(Debug, thiserror::Error)]
#[error("unknown congestion controller {0:?} (bbr, cubic or newreno)")]
pub struct UnknownCongestion(String);

impl std::str::FromStr for Congestion {
    type Err = UnknownCongestion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bbr" => Ok(Congestion::Bbr),
            "cubic" => Ok(Congestion::Cubic),
            "newreno" => Ok(Congestion::NewReno),
            other => Err(UnknownCongestion(other.to_owned())),
        }
    }
}

impl std::fmt::Debug for OverlayConfig<'_> {
    /// Everything but the seed, which is key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayConfig")
            .field("listen", &self.listen)
            .field("identity_seed", &"<redacted>")
            .field("local_provider", &self.local_provider)
            .field("underlay_mtu", &self.underlay_mtu)
            .field("underlay_netns", &self.underlay_netns)
            .field("congestion", &self.congestion)
            .field("io_threads", &self.io_threads)
            .finish_non_exhaustive()
    }
}

impl<'a> OverlayConfig<'a> {
    /// A configuration with a 1500-byte underlay in the current namespace.
    pub fn new(
        listen: SocketAddr,
        identity_seed: [u8; 32],
        local_provider: ProviderAddr,
        metrics: &'a mut Registry,
    ) -> Self {
        OverlayConfig {
            listen,
            identity_seed,
            local_provider,
            metrics,
            underlay_mtu: 1500,
            underlay_netns: None,
            congestion: Congestion::default(),
            relay_pair_rate: crate::limits::RELAY_PAIR_BYTES_PER_SEC,
            io_threads: NonZeroUsize::MIN,
        }
    }
}

/// Failure to start the overlay.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// Key or certificate problem.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// TLS configuration rejected by QUIC.
    #[error("quic tls: {0}")]
    Tls(String),
    /// Socket creation failed.
    #[error("underlay socket: {0}")]
    Io(#[from] std::io::Error),
    /// More data-plane threads than `MAX_IO_THREADS` (64).
    #[error("{0} data-plane threads (at most {MAX_IO_THREADS})")]
    IoThreads(usize),
}
