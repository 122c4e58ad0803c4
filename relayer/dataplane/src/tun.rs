//! TUN devices created inside a lease's network namespace (raw
//! `/dev/net/tun` + interface ioctls, no external tools).
//!
//! The device gets the member's overlay address with the network's prefix
//! length, so the kernel installs the route for the whole network CIDR
//! through it; it is brought up with an MTU that fits one IP packet into
//! one QUIC datagram ([`tun_mtu`]). Workloads in the namespace need no
//! privilege: they just use the interface. The device disappears when the
//! [`Tun`] is dropped (it is not persistent).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;

use crate::netns::NetnsWorker;
use crate::wire::DATAGRAM_HEADER_LEN;

/// IPv4 + UDP header bytes below a QUIC packet.
pub const UDP_IPV4_OVERHEAD: u16 = 28;
/// Upper bound of QUIC's per-datagram overhead with quinn's 8-byte
/// connection ids: 1 flags + 8 DCID + 4 packet number + 16 AEAD tag +
/// 1 frame type + 2 length, plus 8 bytes of margin.
pub const QUIC_DATAGRAM_OVERHEAD: u16 = 40;

/// MTU of the TUN device for an underlay MTU, so that an IP packet of that
/// size plus the wire header fits one QUIC datagram (1500 → 1422).
///
/// Oversize packets: TCP sees the TUN MTU and never sends larger segments
/// (its MSS follows from it on both ends, so no clamping is needed); a
/// larger packet with DF (e.g. after the path MTU shrank) is answered with
/// an ICMP "fragmentation needed" carrying the current size, which the
/// sender's kernel turns into path-MTU state; without DF it is dropped and
/// counted as `too_big`.
pub fn tun_mtu(underlay_mtu: u16) -> u16 {
    underlay_mtu - UDP_IPV4_OVERHEAD - QUIC_DATAGRAM_OVERHEAD - DATAGRAM_HEADER_LEN as u16
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<Self> {
        if name.len() >= libc::IFNAMSIZ || name.is_empty() || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface name",
            ));
        }
        let mut r = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(r)
    }

    fn set_short(&mut self, v: libc::c_short) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }

    fn short(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_int(&mut self, v: libc::c_int) {
        self.data[..4].copy_from_slice(&v.to_ne_bytes());
    }

    fn set_ipv4(&mut self, ip: Ipv4Addr) {
        // struct sockaddr_in: family, port, address.
        self.data = [0; 24];
        self.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        self.data[4..8].copy_from_slice(&ip.octets());
    }

    fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

fn ioctl(fd: &OwnedFd, req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `ifr` is a properly sized `struct ifreq` for these requests.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, ifr as *mut IfReq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn create_here(name: &str, ip: Ipv4Addr, prefix: u8, mtu: u16) -> io::Result<(OwnedFd, String)> {
    // SAFETY: plain syscalls; returned fds are owned immediately.
    let raw = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd we own.
    let tun = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ifr = IfReq::new(name)?;
    ifr.set_short(IFF_TUN | IFF_NO_PI);
    ioctl(&tun, TUNSETIFF, &mut ifr)?;
    let name = ifr.name();

    // SAFETY: as above.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut r = IfReq::new(&name)?;
    r.set_ipv4(ip);
    ioctl(&sock, libc::SIOCSIFADDR, &mut r)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    let mut r = IfReq::new(&name)?;
    r.set_ipv4(Ipv4Addr::from(mask));
    ioctl(&sock, libc::SIOCSIFNETMASK, &mut r)?;
    let mut r = IfReq::new(&name)?;
    r.set_int(libc::c_int::from(mtu));
    ioctl(&sock, libc::SIOCSIFMTU, &mut r)?;
    let mut r = IfReq::new(&name)?;
    ioctl(&sock, libc::SIOCGIFFLAGS, &mut r)?;
    let flags = r.short() | libc::IFF_UP as libc::c_short | libc::IFF_RUNNING as libc::c_short;
    r.set_short(flags);
    ioctl(&sock, libc::SIOCSIFFLAGS, &mut r)?;
    Ok((tun, name))
}

/// A TUN device inside a lease namespace.
#[derive(Debug)]
pub struct Tun {
    fd: AsyncFd<OwnedFd>,
    name: String,
    mtu: u16,
}

impl Tun {
    /// Creates the device `name` in the worker's namespace with address
    /// `ip/prefix` and `mtu`, and brings it up.
    pub async fn create(
        worker: &NetnsWorker,
        name: &str,
        ip: Ipv4Addr,
        prefix: u8,
        mtu: u16,
    ) -> io::Result<Tun> {
        let name_owned = name.to_owned();
        let (fd, name) = worker
            .run(move || create_here(&name_owned, ip, prefix, mtu))
            .await??;
        // SAFETY: the OwnedFd stays open and unchanged while the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Tun { fd, name, mtu })
    }

    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Interface MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Waits until a packet can be read.
    pub async fn readable(&self) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
        self.fd.readable().await
    }

    /// Reads one packet without blocking (`WouldBlock` when none is queued).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe {
            libc::read(
                self.fd.get_ref().as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Writes one packet without blocking; `WouldBlock` when the device
    /// queue is full (the packet is then dropped by the caller).
    pub fn try_write(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: packet is valid for reads of its length.
        let n = unsafe {
            libc::write(
                self.fd.get_ref().as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_fits_a_datagram() {
        assert_eq!(tun_mtu(1500), 1422);
        // The packet plus our header fits 1472 bytes of UDP payload
        // with QUIC's worst-case overhead.
        assert!(tun_mtu(1500) + 10 + 32 <= 1472);
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(IfReq::new("avpn-123456789012").is_err());
        assert!(IfReq::new("").is_err());
        assert_eq!(IfReq::new("avpn0").unwrap().name(), "avpn0");
    }
}
