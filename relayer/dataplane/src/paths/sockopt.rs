//! Integer socket options that socket2 does not expose (`UDP_CORK`,
//! `SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`).

use std::io;
use std::os::fd::AsRawFd;

/// Sets the int option `opt` at `level` of `fd` to `value`.
pub(super) fn set_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    opt: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid descriptor and an int option of its size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
