//! TLS for the Redis link (`rediss://`): a rustls client session over the link's own non-blocking mio
//! `TcpStream`, and the client configuration it verifies the server with. Owns certificates, keys, server
//! names and the TLS side of reads and writes; not the link's state machine, its buffers or its timers.
//!
//! rustls is sans-I/O: it never touches the socket, so the worker's edge-triggered contract holds as written in
//! `server/conn.rs`. `read` pulls ciphertext until the socket says `WouldBlock` and hands out plaintext; `write`
//! hands plaintext to rustls and pushes ciphertext until the socket says `WouldBlock`. Ciphertext rustls still
//! holds after a `WouldBlock` goes out on the next WRITABLE edge, through `flush_pending`.
//!
//! Allocation: the session, its buffers and the verified configuration are built when the link connects.
//! rustls 0.23 still allocates one buffer per TLS record it seals (`MessageEncrypter::encrypt` returns an owned
//! record) and per record it opens (received plaintext is queued as a `Vec`), in its buffered and unbuffered
//! APIs alike. A record here is one batch (one script call out, its reply back), never one request:
//! tests/zero_alloc_tls.rs bounds the allocations by the script calls, not the requests.

use crate::sync::Arc;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::Path;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::config::TlsFiles;
use crate::limits::REDIS_TLS_BUFFER_BYTES;

/// The verified client configuration for `files`: the CA bundle (or the Mozilla roots compiled in), and the
/// client certificate for mutual TLS. Read from disk each time it is built; the link builds it when it connects
/// and again after a TLS failure, so a rotated Secret is picked up without a restart.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match &files.ca_file {
        Some(path) => {
            for cert in certificates(path)? {
                roots.add(cert).map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // ring: builds without cmake or a C++ toolchain, and statically with glibc (scripts/check-image.sh).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots);
    let mut config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: no private key: {e}", key.display()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("client certificate and key: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    // A session ticket saves one round trip per reconnect, a rare event here; without resumption every
    // connection is a full handshake and nothing is remembered between connections.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The name the server's certificate must carry: the URL's host, a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => {
            ServerName::try_from(host.to_string()).map_err(|_| format!("{host:?} is not a valid TLS server name"))
        }
    }
}

/// The link's byte stream: plain TCP, or TLS over it.
pub struct Stream {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
}

impl Stream {
    pub fn plain(tcp: TcpStream) -> Stream {
        Stream { tcp, tls: None }
    }

    /// Starts a TLS client session on a connecting socket; the ClientHello goes out with the first `flush_pending`.
    pub fn tls(tcp: TcpStream, config: Arc<ClientConfig>, name: ServerName<'static>) -> Result<Stream, String> {
        let mut session = ClientConnection::new(config, name).map_err(|e| format!("TLS setup: {e}"))?;
        // Bounds what rustls queues for the socket; the link's own output buffer is the real backlog.
        session.set_buffer_limit(Some(REDIS_TLS_BUFFER_BYTES));
        Ok(Stream { tcp, tls: Some(Box::new(session)) })
    }

    /// TLS whose handshake has not finished (false for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_handshaking())
    }

    /// The socket, for registration and connect-time checks.
    pub fn tcp(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Pushes ciphertext rustls holds (handshake messages, records sealed earlier) until the socket would block.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => push(tls, &mut self.tcp),
            None => Ok(()),
        }
    }
}

fn push(tls: &mut ClientConnection, tcp: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(tcp) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Read for Stream {
    /// Plaintext already opened first; then ciphertext from the socket. `Ok(0)` is the peer's close (with or
    /// without close_notify); a TLS failure is `InvalidData` carrying the `rustls::Error` (see `tls_error`).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else { return self.tcp.read(buf) };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match tls.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = tls.process_new_packets() {
                // The alert rustls queued tells the server why; best effort, the link is going down.
                let _ = tls.write_tls(&mut self.tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake replies (Finished), and plaintext queued while the handshake ran.
            push(tls, &mut self.tcp)?;
        }
    }
}

impl Write for Stream {
    /// Plaintext in; rustls seals it (queuing it until the handshake is done) and the ciphertext is pushed at
    /// once. `WouldBlock` only when rustls' queue is at its limit: the next WRITABLE edge drains it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else { return self.tcp.write(buf) };
        let n = tls.writer().write(buf)?;
        push(tls, &mut self.tcp)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_pending()
    }
}

/// The TLS failure inside an I/O error from `Stream`, if that is what it is.
pub fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// One log-friendly sentence for a TLS failure: rustls' words plus what to check.
pub fn describe(e: &rustls::Error, host: &str) -> String {
    use rustls::{AlertDescription as Alert, CertificateError as Cert, Error};
    let hint = match e {
        Error::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => {
            "the server's certificate is not signed by a trusted CA: check --redis-ca-file".to_string()
        }
        Error::InvalidCertificate(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => {
            format!("the server's certificate does not name {host:?}: check the host in the URL")
        }
        Error::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => {
            "the server's certificate has expired".to_string()
        }
        Error::InvalidCertificate(Cert::NotValidYet | Cert::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (clock skew?)".to_string()
        }
        Error::AlertReceived(Alert::CertificateRequired | Alert::BadCertificate | Alert::UnknownCA) => {
            "the server refused our client certificate: check --redis-cert-file/--redis-key-file".to_string()
        }
        Error::InvalidMessage(_) => "the server does not speak TLS on this port: check the URL scheme".to_string(),
        _ => "TLS handshake or record failure".to_string(),
    };
    format!("{e} ({hint})")
}
