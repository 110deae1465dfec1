//! SIGTERM and SIGINT, taken synchronously: the main thread blocks them before any worker starts (threads
//! inherit the mask), then waits for them with `sigtimedwait`. No handler runs in signal context, and no
//! worker is ever interrupted by one.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

pub struct Termination {
    set: libc::sigset_t,
}

/// Blocks SIGTERM and SIGINT in the calling thread and in every thread it spawns afterwards.
pub fn block_termination() -> io::Result<Termination> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given a valid pointer to; sigaddset and pthread_sigmask only
    // read/write that initialised set. Return values are checked.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut set = set.assume_init();
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Termination { set })
    }
}

impl Termination {
    /// Waits up to `timeout` (forever if None) for SIGTERM or SIGINT; returns its name, or None on timeout.
    pub fn wait(&self, timeout: Option<Duration>) -> Option<&'static str> {
        loop {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `self.set` is an initialised sigset; a null siginfo pointer is allowed; `ts_ptr` is null or
            // points to `ts`, alive for this call.
            let sig = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), ts_ptr) };
            match sig {
                libc::SIGTERM => return Some("SIGTERM"),
                libc::SIGINT => return Some("SIGINT"),
                _ => {
                    let err = io::Error::last_os_error();
                    if err.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return None; // EAGAIN: the timeout passed
                }
            }
        }
    }
}
