//! SOCKS5 (RFC 1928) message codec for the userspace attachment: the
//! method greeting, the request, the reply and the header of datagrams
//! relayed by UDP ASSOCIATE. Only "no authentication" is offered (the
//! proxy listens inside the lease's own namespace). The decoders take
//! untrusted bytes, report [`SocksError::Incomplete`] when more bytes are
//! needed (for a datagram, which is always complete: it is truncated), do
//! work linear in the bytes they read (at most [`UDP_HEADER_MAX`] for a
//! datagram header, whatever its length) and never panic.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// SOCKS protocol version byte.
pub const VERSION: u8 = 5;
/// Method "no authentication required".
pub const METHOD_NO_AUTH: u8 = 0x00;
/// Method "no acceptable methods".
pub const METHOD_NONE_ACCEPTABLE: u8 = 0xff;
/// Longest UDP datagram header: RSV, FRAG, ATYP, a 255-byte domain name
/// with its length byte, port.
pub const UDP_HEADER_MAX: usize = 4 + 1 + 255 + 2;
/// Length of a UDP datagram header carrying an IPv4 address.
pub const UDP_HEADER_V4_LEN: usize = 10;
/// Length of a UDP datagram header carrying an IPv6 address.
pub const UDP_HEADER_V6_LEN: usize = 22;

/// Why bytes are not a valid SOCKS5 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocksError {
    /// More bytes are needed; at least this many in total.
    #[error("incomplete message, need {0} bytes")]
    Incomplete(usize),
    /// Not SOCKS version 5.
    #[error("unsupported SOCKS version {0}")]
    Version(u8),
    /// Unknown command code.
    #[error("unknown command {0}")]
    Command(u8),
    /// Unknown address type.
    #[error("unknown address type {0}")]
    AddressType(u8),
    /// Reserved byte not zero.
    #[error("reserved byte is {0}")]
    Reserved(u8),
}

/// Client's list of offered authentication methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// Method codes.
    pub methods: Vec<u8>,
}

impl Greeting {
    /// Decodes a greeting; returns it and the bytes consumed.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), SocksError> {
        if buf.len() < 2 {
            return Err(SocksError::Incomplete(2));
        }
        if buf[0] != VERSION {
            return Err(SocksError::Version(buf[0]));
        }
        let n = 2 + usize::from(buf[1]);
        if buf.len() < n {
            return Err(SocksError::Incomplete(n));
        }
        Ok((
            Greeting {
                methods: buf[2..n].to_vec(),
            },
            n,
        ))
    }

    /// Encodes a greeting (used by clients and tests).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![VERSION, self.methods.len() as u8];
        v.extend_from_slice(&self.methods);
        v
    }
}

/// Request command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Open a TCP connection.
    Connect,
    /// Listen for one inbound TCP connection.
    Bind,
    /// Relay UDP datagrams.
    UdpAssociate,
}

/// Destination of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// IPv4 address and port.
    V4(SocketAddrV4),
    /// IPv6 address and port.
    V6(Ipv6Addr, u16),
    /// Domain name (raw bytes as sent) and port.
    Domain(Vec<u8>, u16),
}

/// A client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to do.
    pub command: Command,
    /// Where to.
    pub target: Target,
}

impl Request {
    /// Decodes a request; returns it and the bytes consumed.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), SocksError> {
        if buf.len() < 5 {
            return Err(SocksError::Incomplete(5));
        }
        if buf[0] != VERSION {
            return Err(SocksError::Version(buf[0]));
        }
        let command = match buf[1] {
            1 => Command::Connect,
            2 => Command::Bind,
            3 => Command::UdpAssociate,
            c => return Err(SocksError::Command(c)),
        };
        if buf[2] != 0 {
            return Err(SocksError::Reserved(buf[2]));
        }
        let (target, n) = Target::decode(buf, 3)?;
        Ok((Request { command, target }, n))
    }

    /// Encodes a request (used by clients and tests).
    pub fn encode(&self) -> Vec<u8> {
        let cmd = match self.command {
            Command::Connect => 1,
            Command::Bind => 2,
            Command::UdpAssociate => 3,
        };
        let mut v = vec![VERSION, cmd, 0];
        self.target.encode(&mut v);
        v
    }
}

impl Target {
    /// Decodes the address (ATYP, address, port) starting at `buf[at]`;
    /// returns it and the end offset.
    fn decode(buf: &[u8], at: usize) -> Result<(Self, usize), SocksError> {
        let (Some(&atyp), Some(&first)) = (buf.get(at), buf.get(at + 1)) else {
            return Err(SocksError::Incomplete(at + 2));
        };
        let addr_len = match atyp {
            1 => 4,
            4 => 16,
            3 => 1 + usize::from(first),
            t => return Err(SocksError::AddressType(t)),
        };
        let n = at + 1 + addr_len + 2;
        if buf.len() < n {
            return Err(SocksError::Incomplete(n));
        }
        let port = u16::from_be_bytes([buf[n - 2], buf[n - 1]]);
        let a = &buf[at + 1..n - 2];
        let target = match atyp {
            1 => Target::V4(SocketAddrV4::new(
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                port,
            )),
            4 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(a);
                Target::V6(Ipv6Addr::from(o), port)
            }
            _ => Target::Domain(a[1..].to_vec(), port),
        };
        Ok((target, n))
    }

    /// Appends the address (ATYP, address, port) to `v`.
    fn encode(&self, v: &mut Vec<u8>) {
        match self {
            Target::V4(a) => {
                v.push(1);
                v.extend_from_slice(&a.ip().octets());
                v.extend_from_slice(&a.port().to_be_bytes());
            }
            Target::V6(ip, port) => {
                v.push(4);
                v.extend_from_slice(&ip.octets());
                v.extend_from_slice(&port.to_be_bytes());
            }
            Target::Domain(name, port) => {
                v.push(3);
                v.push(name.len() as u8);
                v.extend_from_slice(name);
                v.extend_from_slice(&port.to_be_bytes());
            }
        }
    }
}

/// Header of a datagram relayed by UDP ASSOCIATE (RFC 1928 §7): two
/// reserved zero bytes, the fragment number, the address. From the client
/// it names the destination, towards the client the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpHeader {
    /// Fragment number; 0 is a whole datagram (the only kind relayed).
    pub frag: u8,
    /// Destination (from the client) or source (to the client).
    pub target: Target,
}

impl UdpHeader {
    /// Decodes the header at the start of a datagram; returns it and the
    /// offset of the payload. [`SocksError::Incomplete`] means the
    /// datagram is shorter than its header.
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), SocksError> {
        if buf.len() < 5 {
            return Err(SocksError::Incomplete(5));
        }
        if let Some(&r) = buf[..2].iter().find(|&&b| b != 0) {
            return Err(SocksError::Reserved(r));
        }
        let (target, n) = Target::decode(buf, 3)?;
        Ok((
            UdpHeader {
                frag: buf[2],
                target,
            },
            n,
        ))
    }

    /// Encodes the header.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![0, 0, self.frag];
        self.target.encode(&mut v);
        v
    }
}

/// Reply codes the proxy sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Succeeded.
    Succeeded = 0,
    /// General failure.
    GeneralFailure = 1,
    /// Connection not allowed by ruleset.
    NotAllowed = 2,
    /// Network unreachable.
    NetworkUnreachable = 3,
    /// Host unreachable.
    HostUnreachable = 4,
    /// Connection refused.
    ConnectionRefused = 5,
    /// Command not supported.
    CommandNotSupported = 7,
    /// Address type not supported.
    AddressTypeNotSupported = 8,
}

impl Reply {
    /// Encodes the reply with `bound` as the bound address (ATYP 1 or 4).
    pub fn encode(self, bound: impl Into<SocketAddr>) -> Vec<u8> {
        let bound = bound.into();
        let mut v = vec![VERSION, self as u8, 0];
        match bound {
            SocketAddr::V4(a) => {
                v.push(1);
                v.extend_from_slice(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                v.push(4);
                v.extend_from_slice(&a.ip().octets());
            }
        }
        v.extend_from_slice(&bound.port().to_be_bytes());
        v
    }

    /// Decodes the reply code of a reply with an IPv4 (10 bytes) or IPv6
    /// (22 bytes) bound address (clients, tests).
    pub fn decode(buf: &[u8]) -> Result<u8, SocksError> {
        if buf.len() < 4 {
            return Err(SocksError::Incomplete(4));
        }
        if buf[0] != VERSION {
            return Err(SocksError::Version(buf[0]));
        }
        let n = match buf[3] {
            1 => 10,
            4 => 22,
            t => return Err(SocksError::AddressType(t)),
        };
        if buf.len() < n {
            return Err(SocksError::Incomplete(n));
        }
        Ok(buf[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            (any::<u32>(), any::<u16>())
                .prop_map(|(a, p)| Target::V4(SocketAddrV4::new(a.into(), p))),
            (any::<u128>(), any::<u16>()).prop_map(|(a, p)| Target::V6(a.into(), p)),
            (proptest::collection::vec(any::<u8>(), 0..255), any::<u16>())
                .prop_map(|(n, p)| Target::Domain(n, p)),
        ]
    }

    proptest! {
        #[test]
        fn request_round_trip(t in target(), c in 0u8..3) {
            let command = [Command::Connect, Command::Bind, Command::UdpAssociate][c as usize];
            let r = Request { command, target: t };
            let mut bytes = r.encode();
            let n = bytes.len();
            bytes.extend_from_slice(b"payload");
            prop_assert_eq!(Request::decode(&bytes).unwrap(), (r, n));
            for cut in 0..n {
                prop_assert!(matches!(Request::decode(&bytes[..cut]), Err(SocksError::Incomplete(_))));
            }
        }

        #[test]
        fn greeting_round_trip(methods in proptest::collection::vec(any::<u8>(), 0..255)) {
            let g = Greeting { methods };
            let b = g.encode();
            prop_assert_eq!(Greeting::decode(&b).unwrap(), (g, b.len()));
        }

        #[test]
        fn udp_header_round_trip(t in target(), frag in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let h = UdpHeader { frag, target: t };
            let mut bytes = h.encode();
            let n = bytes.len();
            prop_assert!(n <= UDP_HEADER_MAX);
            bytes.extend_from_slice(&payload);
            prop_assert_eq!(UdpHeader::decode(&bytes).unwrap(), (h, n));
            for cut in 0..n {
                prop_assert!(matches!(UdpHeader::decode(&bytes[..cut]), Err(SocksError::Incomplete(_))));
            }
        }

        #[test]
        fn udp_header_lengths_are_the_constants(a in any::<u128>(), p in any::<u16>()) {
            let v4 = UdpHeader { frag: 0, target: Target::V4(SocketAddrV4::new((a as u32).into(), p)) };
            prop_assert_eq!(v4.encode().len(), UDP_HEADER_V4_LEN);
            let v6 = UdpHeader { frag: 0, target: Target::V6(a.into(), p) };
            prop_assert_eq!(v6.encode().len(), UDP_HEADER_V6_LEN);
        }

        #[test]
        fn decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Greeting::decode(&buf);
            let _ = Request::decode(&buf);
            let _ = Reply::decode(&buf);
            let _ = UdpHeader::decode(&buf);
        }
    }

    /// Garbage and oversize datagram headers from a client: typed errors,
    /// and a header claiming more than the datagram holds is refused after
    /// reading at most [`UDP_HEADER_MAX`] bytes, however long the datagram.
    #[test]
    fn udp_header_typed_errors() {
        assert_eq!(
            UdpHeader::decode(&[0, 0, 0]),
            Err(SocksError::Incomplete(5))
        );
        assert_eq!(
            UdpHeader::decode(&[0, 7, 0, 1, 0]),
            Err(SocksError::Reserved(7))
        );
        assert_eq!(
            UdpHeader::decode(&[0, 0, 0, 9, 0]),
            Err(SocksError::AddressType(9))
        );
        // IPv4 header cut short: the datagram is truncated.
        assert_eq!(
            UdpHeader::decode(&[0, 0, 0, 1, 100, 64, 0]),
            Err(SocksError::Incomplete(10))
        );
        // A domain of 255 bytes announced, 10 present.
        let mut d = vec![0, 0, 0, 3, 255];
        d.extend_from_slice(&[b'a'; 10]);
        assert_eq!(UdpHeader::decode(&d), Err(SocksError::Incomplete(262)));
        // The longest header, then a huge payload: the header decodes from
        // its own bytes only.
        let mut big = vec![0, 0, 0, 3, 255];
        big.extend_from_slice(&[b'a'; 255]);
        big.extend_from_slice(&53u16.to_be_bytes());
        big.resize(65_535, 0xee);
        let (h, n) = UdpHeader::decode(&big).unwrap();
        assert_eq!(n, UDP_HEADER_MAX);
        assert_eq!(h.target, Target::Domain(vec![b'a'; 255], 53));
        // FRAG is decoded (the relay drops fragments).
        let (h, _) = UdpHeader::decode(&[0, 0, 3, 1, 100, 64, 0, 3, 0, 53]).unwrap();
        assert_eq!(h.frag, 3);
    }

    #[test]
    fn typed_errors() {
        assert_eq!(Greeting::decode(&[4, 1, 0]), Err(SocksError::Version(4)));
        assert_eq!(
            Request::decode(&[5, 9, 0, 1, 0]),
            Err(SocksError::Command(9))
        );
        assert_eq!(
            Request::decode(&[5, 1, 1, 1, 0]),
            Err(SocksError::Reserved(1))
        );
        assert_eq!(
            Request::decode(&[5, 1, 0, 2, 0]),
            Err(SocksError::AddressType(2))
        );
        let ok = Reply::Succeeded.encode("100.64.0.2:5".parse::<SocketAddrV4>().unwrap());
        assert_eq!(Reply::decode(&ok), Ok(0));
        let ok6 = Reply::NotAllowed.encode("[fd00::2]:5".parse::<SocketAddr>().unwrap());
        assert_eq!(Reply::decode(&ok6), Ok(2));
        assert_eq!(Reply::decode(&ok6[..21]), Err(SocksError::Incomplete(22)));
    }
}
