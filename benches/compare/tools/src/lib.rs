//! What the two measuring clients share: one HTTP/1.1 exchange over a blocking loopback socket.
//! Owns request formatting and reading exactly one response; does not own timing or process control.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Largest response head plus body we accept: our servers answer in well under 1 KiB.
pub const RESPONSE_BYTES_MAX: usize = 4 * 1024;

/// One read or write that takes longer than this means the server is stuck, not slow.
pub const IO_TIMEOUT_SECS: u64 = 5;

/// The only address these tools talk to: measurement traffic stays on loopback.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Sends `GET path` on a keep-alive connection and reads exactly one response.
/// Returns the status code; the connection stays usable.
pub fn get(stream: &mut TcpStream, path: &str) -> io::Result<u16> {
    let timeout = Some(Duration::from_secs(IO_TIMEOUT_SECS));
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = [0u8; RESPONSE_BYTES_MAX];
    let mut have = 0;
    loop {
        if have == buf.len() {
            return Err(invalid("response larger than RESPONSE_BYTES_MAX"));
        }
        let n = stream.read(&mut buf[have..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
        if let Some(head_len) = head_end(&buf[..have]) {
            let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| invalid("non-UTF-8 head"))?;
            let body_len = content_length(head).ok_or_else(|| invalid("no Content-Length"))?;
            if head_len + body_len <= have {
                return status(head).ok_or_else(|| invalid("bad status line"));
            }
        }
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Length of the head including its final CRLFCRLF, once it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn content_length(head: &str) -> Option<usize> {
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok()).flatten()
    })
}

fn status(head: &str) -> Option<u16> {
    head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Parses argument `i` or returns the default when it is absent.
pub fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    match args.get(i) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("bad argument {i}: {s}");
            std::process::exit(2)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing() {
        let r = "HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}";
        let head_len = head_end(r.as_bytes()).unwrap();
        assert_eq!(content_length(&r[..head_len]), Some(15));
        assert_eq!(status(&r[..head_len]), Some(200));
        assert_eq!(head_end(b"HTTP/1.1 200 OK\r\n"), None);
    }
}
