//! Listening sockets: one per worker, all bound to the same address with SO_REUSEPORT so the kernel spreads
//! new connections across workers (no shared accept queue, no thundering herd).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::limits::LISTEN_BACKLOG;

/// Binds `count` listeners to `addr`. When `addr` asks for port 0, the first socket picks the port and the
/// others join it, so every worker serves the same port.
pub fn bind_all(addr: SocketAddr, count: usize) -> io::Result<(Vec<mio::net::TcpListener>, SocketAddr)> {
    let first = bind(addr)?;
    let actual = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind(actual)?);
    }
    Ok((listeners, actual))
}

fn bind(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR: restart at once while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // `--bind ::` serves IPv4 clients too.
        socket.set_only_v6(false)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}
