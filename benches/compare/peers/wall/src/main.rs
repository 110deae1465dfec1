//! The "wall": a minimal epoll HTTP/1.1 responder, written against libc directly.
//!
//! For every "\r\n\r\n" it reads on a connection it writes one fixed,
//! precomputed response. No request parsing, no counter, no Date header.
//! It is an upper bound for what an HTTP/1.1 server can do on this kernel over
//! loopback: the cost is essentially epoll_wait + read + write syscalls.
//!
//! env: PORT (default 8086), WORKERS (default 1; N>1 runs N independent
//! single-threaded epoll loops, each with its own SO_REUSEPORT listener).

use std::io;
use std::mem;

const BODY: &str = r#"{"counter":1,"status":true,"lastChanged":"2023-12-11T04:45:08Z"}"#;
const MAX_EVENTS: usize = 256;
const READ_BUF: usize = 64 * 1024;
const REPEAT: usize = 256; // copies of the response in the write-out buffer

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt_int(fd: i32, level: i32, name: i32, val: i32) -> io::Result<()> {
    let v: libc::c_int = val;
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

fn listen_on(port: u16) -> io::Result<i32> {
    unsafe {
        let fd = cvt(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0))?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        let mut addr: libc::sockaddr_in = mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        cvt(libc::bind(
            fd,
            &addr as *const _ as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ))?;
        cvt(libc::listen(fd, 4096))?;
        Ok(fd)
    }
}

#[derive(Default, Clone, Copy)]
struct Conn {
    open: bool,
    /// how many bytes of "\r\n\r\n" are matched so far (0..=3)
    matched: u8,
    /// response bytes still owed to the peer
    owed: u64,
    /// offset inside one response where the next owed byte starts
    pos: usize,
    /// EPOLLOUT currently registered
    want_out: bool,
}

/// Count complete "\r\n\r\n" terminators in `data`, carrying the partial match.
#[inline]
fn count_terminators(data: &[u8], matched: &mut u8) -> u64 {
    const PAT: &[u8; 4] = b"\r\n\r\n";
    let mut m = *matched as usize;
    let mut n = 0u64;
    for &b in data {
        if b == PAT[m] {
            m += 1;
            if m == 4 {
                n += 1;
                m = 0;
            }
        } else {
            m = if b == b'\r' { 1 } else { 0 };
        }
    }
    *matched = m as u8;
    n
}

fn epoll_mod(ep: i32, op: i32, fd: i32, events: u32) {
    let mut ev = libc::epoll_event { events, u64: fd as u64 };
    unsafe {
        libc::epoll_ctl(ep, op, fd, &mut ev);
    }
}

fn close_conn(ep: i32, conns: &mut [Conn], fd: i32) {
    unsafe {
        libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
        libc::close(fd);
    }
    conns[fd as usize] = Conn::default();
}

/// Write as much of the owed response bytes as the socket takes.
/// Returns Ok(true) when everything owed is written, Ok(false) on EAGAIN.
fn flush(fd: i32, c: &mut Conn, out: &[u8], rlen: usize) -> io::Result<bool> {
    while c.owed > 0 {
        let avail = out.len() - c.pos;
        let chunk = (c.owed as usize).min(avail);
        let n = unsafe { libc::write(fd, out.as_ptr().add(c.pos) as *const libc::c_void, chunk) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(false);
            }
            return Err(e);
        }
        c.owed -= n as u64;
        c.pos = (c.pos + n as usize) % rlen;
    }
    Ok(true)
}

fn run_loop(port: u16) -> io::Result<()> {
    let response =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}", BODY.len(), BODY);
    let rlen = response.len();
    let out: Vec<u8> = response.as_bytes().repeat(REPEAT);

    let lfd = listen_on(port)?;
    let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    epoll_mod(ep, libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32);

    let mut conns: Vec<Conn> = vec![Conn::default(); 1024];
    let mut events: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    let mut buf = vec![0u8; READ_BUF];

    loop {
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), MAX_EVENTS as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for &ev in &events[..n as usize] {
            let fd = ev.u64 as i32;
            if fd == lfd {
                loop {
                    let cfd = unsafe {
                        libc::accept4(
                            lfd,
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        )
                    };
                    if cfd < 0 {
                        break; // EAGAIN or transient error
                    }
                    let _ = setsockopt_int(cfd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
                    if cfd as usize >= conns.len() {
                        conns.resize(cfd as usize * 2, Conn::default());
                    }
                    conns[cfd as usize] = Conn { open: true, ..Conn::default() };
                    epoll_mod(ep, libc::EPOLL_CTL_ADD, cfd, libc::EPOLLIN as u32);
                }
                continue;
            }
            let idx = fd as usize;
            if !conns[idx].open {
                continue;
            }
            let flags = ev.events;
            if flags & (libc::EPOLLERR as u32 | libc::EPOLLHUP as u32) != 0 && flags & libc::EPOLLIN as u32 == 0 {
                close_conn(ep, &mut conns, fd);
                continue;
            }
            let mut c = conns[idx];
            if flags & libc::EPOLLIN as u32 != 0 {
                let r = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if r == 0 {
                    close_conn(ep, &mut conns, fd);
                    continue;
                }
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::WouldBlock {
                        close_conn(ep, &mut conns, fd);
                    }
                    continue;
                }
                let k = count_terminators(&buf[..r as usize], &mut c.matched);
                c.owed += k * rlen as u64;
            }
            match flush(fd, &mut c, &out, rlen) {
                Err(_) => {
                    close_conn(ep, &mut conns, fd);
                    continue;
                }
                Ok(done) => {
                    if !done && !c.want_out {
                        c.want_out = true;
                        epoll_mod(ep, libc::EPOLL_CTL_MOD, fd, (libc::EPOLLIN | libc::EPOLLOUT) as u32);
                    } else if done && c.want_out {
                        c.want_out = false;
                        epoll_mod(ep, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32);
                    }
                }
            }
            conns[idx] = c;
        }
    }
}

fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8086);
    let workers: usize =
        std::env::var("WORKERS").ok().and_then(|p| p.parse().ok()).filter(|&w: &usize| w >= 1).unwrap_or(1);
    eprintln!("peer-wall listening on 127.0.0.1:{port} workers={workers}");
    let handles: Vec<_> = (1..workers).map(|_| std::thread::spawn(move || run_loop(port))).collect();
    if let Err(e) = run_loop(port) {
        eprintln!("wall: {e}");
        std::process::exit(1);
    }
    for h in handles {
        let _ = h.join();
    }
}

#[cfg(test)]
mod tests {
    use super::count_terminators;

    #[test]
    fn terminators_split_across_reads() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut m = 0u8;
        let all: Vec<u8> = req.repeat(3);
        assert_eq!(count_terminators(&all, &mut m), 3);
        assert_eq!(m, 0);
        let mut total = 0;
        for chunk in all.chunks(5) {
            total += count_terminators(chunk, &mut m);
        }
        assert_eq!(total, 3);
        assert_eq!(count_terminators(b"\r\n\r\r\n\r\n", &mut m), 1);
    }
}
