//! `rediss://` against a real TLS redis-server (Debian's is built with TLS), with a CA and certificates the test
//! makes at run time with the openssl CLI: exact counting over TLS, the certificate failures a user meets (wrong
//! CA, expired, wrong name), each a clear log line and 503s, then recovery once fixed; mutual TLS.
//! Names start with `redis_` like the other Redis tests (the nix sandbox skips them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::redis::{assert_distinct, client, free_port, next_value};
use crate::support::{eventually, get, Server};

/// A scratch PKI in a temp dir: CAs and leaf certificates signed by them, made with `openssl`.
pub struct Pki {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Pki {
    pub fn new(tag: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("counter-pki-{tag}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        Pki { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_string()
    }

    /// A self-signed CA `<name>.crt` / `<name>.key`.
    pub fn ca(&self, name: &str) -> String {
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        let subject = format!("/CN={name}");
        let args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(&self.dir, &[&args[..], &["-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subject]].concat());
        self.path(&crt)
    }

    /// A leaf `<name>.crt` / `<name>.key` signed by CA `ca`, for `sans` (e.g. `DNS:localhost,IP:127.0.0.1`),
    /// valid for `days` (negative: already expired).
    pub fn leaf(&self, ca: &str, name: &str, sans: &str, days: i32) -> (String, String) {
        let (crt, key, csr, ext) =
            (format!("{name}.crt"), format!("{name}.key"), format!("{name}.csr"), format!("{name}.ext"));
        std::fs::write(self.dir.join(&ext), format!("subjectAltName={sans}\n")).unwrap();
        let subject = format!("/CN={name}");
        let req = ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(&self.dir, &[&req[..], &["-keyout", &key, "-out", &csr, "-subj", &subject]].concat());
        let (ca_crt, ca_key, days) = (format!("{ca}.crt"), format!("{ca}.key"), days.to_string());
        let sign = ["x509", "-req", "-in", &csr, "-CA", &ca_crt, "-CAkey", &ca_key, "-CAcreateserial"];
        openssl(&self.dir, &[&sign[..], &["-out", &crt, "-days", &days, "-extfile", &ext]].concat());
        (self.path(&crt), self.path(&key))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS redis-server on 127.0.0.1, killed on drop. `control` is a plain port for the test's own redis-cli, or
/// None for a TLS-only server (then the cli speaks TLS with `cli_tls` args).
pub struct TlsRedis {
    child: Child,
    pub port: u16,
    control: Option<u16>,
    cli_tls: Vec<String>,
    dir: PathBuf,
}

impl TlsRedis {
    /// `auth_clients`: `tls-auth-clients yes` (mutual TLS). `cli_tls`: redis-cli TLS args for a TLS-only server.
    pub fn start(cert: &(String, String), ca: &str, auth_clients: bool, control: bool, cli_tls: &[String]) -> TlsRedis {
        let port = free_port();
        let control = control.then(free_port);
        let dir = std::env::temp_dir().join(format!("counter-tlsredis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = control.unwrap_or(0).to_string();
        let auth = if auth_clients { "yes" } else { "no" };
        let args = [
            "--bind",
            "127.0.0.1",
            "--port",
            &plain,
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &cert.0,
            "--tls-key-file",
            &cert.1,
            "--tls-ca-cert-file",
            ca,
            "--tls-auth-clients",
            auth,
            "--save",
            "",
            "--dir",
            dir.to_str().unwrap(),
        ];
        let child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let r = TlsRedis { child, port, control, cli_tls: cli_tls.to_vec(), dir };
        assert!(eventually(Duration::from_secs(10), || r.cli(&["PING"]).trim() == "PONG"), "TLS redis on {port}");
        r
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        match self.control {
            Some(p) => cmd.args(["-h", "127.0.0.1", "-p", &p.to_string()]),
            None => cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--tls"]).args(&self.cli_tls),
        };
        let out = cmd.args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn script_calls(&self) -> u64 {
        let stats = self.cli(&["INFO", "commandstats"]);
        stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Swaps the server certificate at run time (Redis reloads TLS files on CONFIG SET).
    pub fn set_cert(&self, cert: &(String, String)) {
        let reply = self.cli(&["CONFIG", "SET", "tls-cert-file", &cert.0, "tls-key-file", &cert.1]);
        assert_eq!(reply.trim(), "OK", "CONFIG SET tls-cert-file");
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A counter pod in redis mode at `url` with `extra` flags.
pub fn pod_at(url: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--backend", "redis", "--redis-url", url];
    args.extend_from_slice(extra);
    Server::start_with(&args, &[])
}

/// Waits until every worker of `server` logged its link as connected.
pub fn wait_connected(server: &Server) {
    let workers: usize =
        server.log_text().split("workers=").nth(1).and_then(|s| s.split(' ').next()?.parse().ok()).unwrap();
    let connected = || server.log_text().matches("msg=\"redis connected\"").count() >= workers;
    assert!(eventually(Duration::from_secs(10), connected), "pod never ready: {}", server.log_text());
}

/// Checks a run's (status, value) pairs: only 200s and 503s, no value twice, and exactly 1..N past the gap the
/// first call through a new Redis skips when nothing failed. A 503 is a round trip past the 1 s timeout (a loaded machine), whose batch may have run: then its
/// values are a gap, never a repeat, and only the values served are checked. Returns the values.
pub fn exactly_one_to_n(results: &[(u16, Option<u64>)]) -> BTreeSet<u64> {
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 503), "only 200s and 503s");
    let values: Vec<u64> = results.iter().filter_map(|(_, v)| *v).collect();
    let set = assert_distinct(&values);
    let failed = results.len() - values.len();
    if failed == 0 {
        let gap = counter::limits::REDIS_SKIP_GAP;
        assert_eq!(set, (gap + 1..=gap + values.len() as u64).collect::<BTreeSet<_>>(), "exactly 1..N");
    } else {
        println!("{failed} of {} requests timed out (503): checked for repeats only", results.len());
        assert!(!set.is_empty(), "nothing served");
    }
    set
}

/// Certificates for the usual case: CA `ca`, server cert for localhost and 127.0.0.1.
fn usual(tag: &str) -> (Pki, String, (String, String)) {
    let pki = Pki::new(tag);
    let ca = pki.ca("ca");
    let server = pki.leaf("ca", "server", "DNS:localhost,IP:127.0.0.1", 2);
    (pki, ca, server)
}

/// A pod that must stay unavailable with a TLS fault, and say why in one log line containing `cause`.
fn assert_tls_fault(server: &Server, cause: &str) {
    let logged = || server.log_text().contains("msg=\"redis TLS failed\"") && server.log_text().contains(cause);
    assert!(eventually(Duration::from_secs(10), logged), "no TLS log naming {cause:?}: {}", server.log_text());
    println!("{}", server.log_text().lines().find(|l| l.contains("redis TLS failed")).unwrap_or_default());
    let r = get(server, "/status");
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    assert_eq!(get(server, "/ready").status, 503);
}

#[test]
fn redis_tls_three_pods_count_exactly_one_to_n_batched() {
    let (pki, ca, cert) = usual("three");
    let cli_tls = vec!["--cacert".to_string(), ca.clone()];
    let redis = TlsRedis::start(&cert, &ca, false, false, &cli_tls);
    assert_eq!(redis.cli(&["CONFIG", "GET", "port"]).lines().nth(1), Some("0"), "TLS only: no plain port");
    let url = format!("rediss://localhost:{}", redis.port);
    let pods: Vec<Server> = (0..3).map(|_| pod_at(&url, &["--workers", "2", "--redis-ca-file", &ca])).collect();
    pods.iter().for_each(wait_connected);
    let before = redis.script_calls();
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let addr = pods[i % 3].addr;
            std::thread::spawn(move || client(addr, 100, 1 + i % 4))
        })
        .collect();
    let results: Vec<(u16, Option<u64>)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let set = exactly_one_to_n(&results);
    let calls = redis.script_calls() - before;
    println!("tls batching: {} responses, {calls} script calls", results.len());
    assert!(calls < results.len() as u64, "batched: fewer script calls ({calls}) than requests ({})", results.len());
    // An IP literal in the URL is checked against the certificate's IP SAN.
    let by_ip = pod_at(&format!("rediss://127.0.0.1:{}", redis.port), &["--workers", "1", "--redis-ca-file", &ca]);
    assert!(next_value(&by_ip) > *set.last().unwrap());
    drop(pki);
}

#[test]
fn redis_tls_wrong_ca_is_503_and_logged_then_recovers_when_the_ca_file_is_fixed() {
    let (pki, ca, cert) = usual("wrongca");
    let redis = TlsRedis::start(&cert, &ca, false, true, &[]);
    let other = pki.ca("other");
    let mounted = pki.path("mounted-ca.crt");
    std::fs::copy(&other, &mounted).unwrap();
    let server =
        pod_at(&format!("rediss://localhost:{}", redis.port), &["--workers", "1", "--redis-ca-file", &mounted]);
    assert_tls_fault(&server, "check --redis-ca-file");
    assert!(server.log_text().contains("UnknownIssuer"), "{}", server.log_text());
    // The Secret is fixed (the file rewritten in place, as a kubelet update does): picked up on the next retry.
    std::fs::copy(&ca, &mounted).unwrap();
    assert_eq!(
        next_value(&server),
        counter::limits::REDIS_SKIP_GAP + 1,
        "recovered; failed attempts consumed no value"
    );
}

#[test]
fn redis_tls_expired_certificate_is_503_and_logged_then_recovers_when_renewed() {
    let (pki, ca, good) = usual("expired");
    let expired = pki.leaf("ca", "expired", "DNS:localhost,IP:127.0.0.1", -1);
    let redis = TlsRedis::start(&expired, &ca, false, true, &[]);
    let server = pod_at(&format!("rediss://localhost:{}", redis.port), &["--workers", "1", "--redis-ca-file", &ca]);
    assert_tls_fault(&server, "has expired");
    redis.set_cert(&good);
    assert_eq!(next_value(&server), counter::limits::REDIS_SKIP_GAP + 1);
}

#[test]
fn redis_tls_wrong_host_name_is_503_and_logged_then_recovers_when_the_certificate_names_it() {
    let (pki, ca, good) = usual("wronghost");
    let elsewhere = pki.leaf("ca", "elsewhere", "DNS:redis.elsewhere.invalid", 2);
    let redis = TlsRedis::start(&elsewhere, &ca, false, true, &[]);
    let server = pod_at(&format!("rediss://localhost:{}", redis.port), &["--workers", "1", "--redis-ca-file", &ca]);
    assert_tls_fault(&server, "does not name \\\"localhost\\\"");
    redis.set_cert(&good);
    assert_eq!(next_value(&server), counter::limits::REDIS_SKIP_GAP + 1);
}

#[test]
fn redis_tls_mutual_tls_with_client_certificate_and_refused_without() {
    let (pki, ca, cert) = usual("mtls");
    let (client_crt, client_key) = pki.leaf("ca", "client", "DNS:counter", 2);
    let redis = TlsRedis::start(&cert, &ca, true, true, &[]);
    let url = format!("rediss://localhost:{}", redis.port);
    let with = pod_at(
        &url,
        &["--workers", "2", "--redis-ca-file", &ca, "--redis-cert-file", &client_crt, "--redis-key-file", &client_key],
    );
    wait_connected(&with);
    let values: Vec<u64> =
        client(with.addr, 40, 4).into_iter().map(|(s, v)| (s == 200).then_some(v).flatten().unwrap()).collect();
    let gap = counter::limits::REDIS_SKIP_GAP;
    assert_eq!(values, (gap + 1..=gap + 40).collect::<Vec<_>>());
    let without = pod_at(&url, &["--workers", "1", "--redis-ca-file", &ca]);
    assert_tls_fault(&without, "refused our client certificate");
    drop(pki);
}

#[test]
fn redis_tls_to_a_plain_port_is_a_tls_fault_that_says_so() {
    let redis = crate::redis::Redis::start(&[]);
    let server = pod_at(&format!("rediss://127.0.0.1:{}", redis.port), &["--workers", "1"]);
    assert_tls_fault(&server, "speak TLS on this port");
    assert_eq!(get(&server, "/health").status, 200, "the worker lives on");
}

#[test]
fn redis_tls_bad_files_fail_at_start_with_a_clear_error() {
    let pki = Pki::new("badfiles");
    let missing = pki.path("missing.crt");
    let out = Command::new(crate::support::BIN)
        .args(["--port", "0", "--backend", "redis", "--redis-url", "rediss://localhost:1", "--redis-ca-file", &missing])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid TLS configuration for Redis") && stderr.contains("missing.crt"), "{stderr}");
}
