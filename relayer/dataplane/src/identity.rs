//! Relayer identity and peer trust for QUIC (TLS 1.3 only, ALPN `avpn/2`).
//!
//! A relayer's ed25519 key signs a self-signed certificate (rcgen). Both
//! sides of a connection present their certificate; both verify it with
//! [`PeerVerifier`], which accepts exactly the ed25519 keys of current
//! peers ([`TrustStore`], fed from `PeerInfo.keys`, each key until its
//! `valid_until`). Names, issuers and validity dates inside certificates
//! carry no meaning: the TLS 1.3 CertificateVerify signature, checked with
//! the key from the certificate, proves the peer holds that key, and the
//! key alone decides.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use avpn_model::{OverlayKey, ProviderAddr};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use zeroize::Zeroizing;

/// ALPN protocol of the overlay.
pub const ALPN: &[u8] = b"avpn/2";

/// PKCS#8 v1 prefix of an ed25519 private key (RFC 8410), followed by
/// the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER SubjectPublicKeyInfo prefix of an ed25519 public key, followed by
/// the 32-byte key.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Failures building or checking identities.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The seed could not be turned into a key pair or certificate.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
    /// The peer's certificate is not parseable X.509.
    #[error("malformed certificate")]
    MalformedCertificate,
    /// The peer's certificate key is not ed25519.
    #[error("certificate key is not ed25519")]
    NotEd25519,
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
}

/// This relayer's key and certificate. `Debug` shows the public key only;
/// the private key (PKCS#8 holding the seed) is wiped when dropped.
pub struct Identity {
    public: [u8; 32],
    cert: CertificateDer<'static>,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let public: String = self.public.iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("Identity")
            .field("public_key", &public)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Derives the key pair from a 32-byte ed25519 seed and issues the
    /// self-signed certificate.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, IdentityError> {
        // Allocated at its final size, so no reallocation leaves a copy.
        let mut pkcs8 = Zeroizing::new(Vec::with_capacity(PKCS8_ED25519_PREFIX.len() + 32));
        pkcs8.extend_from_slice(&PKCS8_ED25519_PREFIX);
        pkcs8.extend_from_slice(seed);
        let der = PrivatePkcs8KeyDer::from(&pkcs8[..]);
        let kp = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)?;
        let mut public = [0u8; 32];
        public.copy_from_slice(kp.public_key_raw());
        let params = rcgen::CertificateParams::new(vec!["avpn-relayer".to_owned()])?;
        let cert = params.self_signed(&kp)?.der().clone();
        Ok(Identity {
            public,
            cert,
            pkcs8,
        })
    }

    /// The ed25519 public key (what the provider directory publishes).
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// A copy of the private key for rustls (which owns it from then on).
    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec()))
    }
}

/// Extracts the ed25519 public key from a DER certificate.
pub fn key_of_certificate(cert: &CertificateDer<'_>) -> Result<[u8; 32], IdentityError> {
    let ee =
        webpki::EndEntityCert::try_from(cert).map_err(|_| IdentityError::MalformedCertificate)?;
    let spki = ee.subject_public_key_info();
    let spki = spki.as_ref();
    if spki.len() != 44 || spki[..12] != SPKI_ED25519_PREFIX {
        return Err(IdentityError::NotEd25519);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&spki[12..]);
    Ok(key)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
struct Trusted {
    provider: ProviderAddr,
    valid_until: Option<u64>,
}

/// The keys accepted at the handshake: those of current peers.
#[derive(Debug, Default)]
pub struct TrustStore {
    keys: RwLock<HashMap<[u8; 32], Trusted>>,
}

impl TrustStore {
    /// Replaces the keys of `provider`.
    pub fn set_peer(&self, provider: &ProviderAddr, keys: &[OverlayKey]) {
        let mut map = self.keys.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, t| &t.provider != provider);
        for k in keys {
            map.insert(
                k.key,
                Trusted {
                    provider: provider.clone(),
                    valid_until: k.valid_until,
                },
            );
        }
    }

    /// Forgets every key of `provider`.
    pub fn remove_peer(&self, provider: &ProviderAddr) {
        self.set_peer(provider, &[]);
    }

    /// The provider owning `key` if the key is accepted at `now` (Unix
    /// seconds).
    pub fn provider_of(&self, key: &[u8; 32], now: u64) -> Option<ProviderAddr> {
        let map = self.keys.read().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|t| t.valid_until.is_none_or(|until| now < until))
            .map(|t| t.provider.clone())
    }
}

/// Certificate verifier for both directions: the peer's certificate key
/// must be accepted by the [`TrustStore`].
#[derive(Debug)]
pub struct PeerVerifier {
    trust: Arc<TrustStore>,
    provider: Arc<CryptoProvider>,
}

impl PeerVerifier {
    fn check(&self, cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
        let key = key_of_certificate(cert).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        match self.trust.provider_of(&key, now.as_secs()) {
            Some(_) => Ok(()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, now)
            .map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, now)
            .map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn crypto() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// rustls server configuration: our certificate, peers' keys required.
pub fn server_tls(
    identity: &Identity,
    trust: Arc<TrustStore>,
) -> Result<rustls::ServerConfig, IdentityError> {
    let provider = crypto();
    let verifier = Arc::new(PeerVerifier {
        trust,
        provider: provider.clone(),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![identity.cert.clone()], identity.private_key())?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.max_early_data_size = 0;
    Ok(cfg)
}

/// rustls client configuration: our certificate, peers' keys required.
pub fn client_tls(
    identity: &Identity,
    trust: Arc<TrustStore>,
) -> Result<rustls::ClientConfig, IdentityError> {
    let provider = crypto();
    let verifier = Arc::new(PeerVerifier {
        trust,
        provider: provider.clone(),
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![identity.cert.clone()], identity.private_key())?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_seed_key() {
        let id = Identity::from_seed(&[7; 32]).unwrap();
        assert_eq!(key_of_certificate(&id.cert).unwrap(), id.public_key());
        let ring_kp = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
        use ring::signature::KeyPair;
        assert_eq!(ring_kp.public_key().as_ref(), &id.public_key());
        // Deterministic key, different seeds give different keys.
        assert_eq!(
            Identity::from_seed(&[7; 32]).unwrap().public_key(),
            id.public_key()
        );
        assert_ne!(
            Identity::from_seed(&[8; 32]).unwrap().public_key(),
            id.public_key()
        );
    }

    #[test]
    fn debug_shows_the_public_key_but_no_private_bytes() {
        use base64::Engine as _;
        let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        let id = Identity::from_seed(&seed).unwrap();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
        pkcs8.extend_from_slice(&seed);
        for out in [format!("{id:?}"), format!("{id:#?}")] {
            assert!(out.contains(&hex(&id.public_key())), "{out}");
            assert!(out.contains("<redacted>"), "{out}");
            for secret in [&seed[..], &pkcs8[..]] {
                for enc in [
                    hex(secret),
                    hex(secret).to_uppercase(),
                    base64::engine::general_purpose::STANDARD.encode(secret),
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
                    format!("{secret:?}"),
                    format!("{:?}", &secret[..8])
                        .trim_end_matches(']')
                        .to_owned(),
                ] {
                    assert!(!out.contains(&enc), "secret {enc} in {out}");
                }
            }
        }
    }

    #[test]
    fn trust_store_honours_rotation_deadline() {
        let t = TrustStore::default();
        let p = "akash1p".to_owned();
        t.set_peer(
            &p,
            &[
                OverlayKey {
                    key: [1; 32],
                    valid_until: None,
                },
                OverlayKey {
                    key: [2; 32],
                    valid_until: Some(100),
                },
            ],
        );
        assert_eq!(t.provider_of(&[1; 32], 1000), Some(p.clone()));
        assert_eq!(t.provider_of(&[2; 32], 99), Some(p.clone()));
        assert_eq!(t.provider_of(&[2; 32], 100), None, "old key expired");
        assert_eq!(t.provider_of(&[3; 32], 0), None, "unknown key");
        t.set_peer(
            &p,
            &[OverlayKey {
                key: [3; 32],
                valid_until: None,
            }],
        );
        assert_eq!(
            t.provider_of(&[1; 32], 0),
            None,
            "replaced keys are forgotten"
        );
        t.remove_peer(&p);
        assert_eq!(t.provider_of(&[3; 32], 0), None);
    }

    #[test]
    fn garbage_certificates_are_typed_errors() {
        assert!(matches!(
            key_of_certificate(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])),
            Err(IdentityError::MalformedCertificate)
        ));
    }
}
