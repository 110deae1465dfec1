//! Configuration from flags, environment and defaults, all described by one table that also prints `--help`.
//! A flag beats its environment variable, which beats the default. Every numeric value has a range in the table
//! (limits in `limits.rs`); a value outside it is refused, and main exits with code 2.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::limits::{
    CLIENT_TIMEOUT_SECS_MAX, DRAIN_SECONDS_MAX, HEADER_TIMEOUT_SECS, IDLE_TIMEOUT_SECS, REDIS_DB_MAX, REDIS_SKIP_GAP,
    REDIS_SKIP_GAP_MAX, REDIS_START_ABOVE_MAX, REDIS_WAIT_REPLICAS_MAX, SENTINELS_MAX, WORKERS_MAX,
};
use crate::log::Format;

/// One option: its id, flag, environment variable, default, range (numeric options) and meaning.
pub struct Opt {
    pub key: Key,
    pub flag: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    /// Numeric options: the inclusive range a value must be in (`number` refuses anything else).
    pub range: Option<(u64, u64)>,
    pub help: &'static str,
}

/// Declares `Key` (one variant per option) and `OPTIONS` in the same order, so an option is looked up by a
/// variant (`value(Key::Port)`) that a typo cannot name: no string lookup that could fail at start.
macro_rules! options {
    ($($key:ident: $flag:literal, $env:literal, $default:literal, $range:expr, $help:literal;)+) => {
        /// An option's id: its index in `OPTIONS`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Key {
            $($key,)+
        }

        pub const OPTIONS: &[Opt] = &[
            $(Opt { key: Key::$key, flag: $flag, env: $env, default: $default, range: $range, help: $help },)+
        ];
    };
}

options! {
    Port: "--port", "PORT", "8080", Some((0, u16::MAX as u64)), "TCP port to listen on (0 picks a free one)";
    Bind: "--bind", "BIND", "0.0.0.0", None, "address to listen on (:: for IPv4 and IPv6)";
    Workers: "--workers", "WORKERS", "auto", Some((1, WORKERS_MAX as u64)),
        "worker threads; auto = cgroup CPU quota rounded down, capped by the CPU affinity mask";
    DrainSeconds: "--drain-seconds", "DRAIN_SECONDS", "0", Some((0, DRAIN_SECONDS_MAX)),
        "after SIGTERM, keep serving (with /ready = 503) this long before closing listeners";
    IdleTimeout: "--idle-timeout", "IDLE_TIMEOUT_SECS", "120", Some((1, CLIENT_TIMEOUT_SECS_MAX)),
        "seconds a keep-alive connection may stay idle; keep it above the proxy's (Traefik: 90)";
    HeaderTimeout: "--header-timeout", "HEADER_TIMEOUT_SECS", "10", Some((1, CLIENT_TIMEOUT_SECS_MAX)),
        "seconds a client has to send a whole request head once it connected or began one";
    Backend: "--backend", "BACKEND", "memory", None,
        "memory (one process) or redis (/status shared by all replicas through Redis)";
    RedisUrl: "--redis-url", "REDIS_URL", "redis://127.0.0.1:6379", None,
        "redis[s]://[[user]:password@]host:port[/db] (rediss = TLS); password also from REDIS_PASSWORD or REDIS_PASSWORD_FILE";
    RedisCaFile: "--redis-ca-file", "REDIS_CA_FILE", "", None,
        "rediss: PEM CA bundle to verify Redis against instead of the built-in Mozilla roots";
    RedisCertFile: "--redis-cert-file", "REDIS_CERT_FILE", "", None,
        "rediss: PEM client certificate chain for mutual TLS (with --redis-key-file)";
    RedisKeyFile: "--redis-key-file", "REDIS_KEY_FILE", "", None, "rediss: PEM private key of --redis-cert-file";
    RedisSentinels: "--redis-sentinels", "REDIS_SENTINELS", "", None,
        "host:port,host:port,...: find the primary through these Sentinels (the URL then gives only user, password and db); their own password from REDIS_SENTINEL_PASSWORD or REDIS_SENTINEL_PASSWORD_FILE";
    RedisMasterName: "--redis-master-name", "REDIS_MASTER_NAME", "counter", None,
        "the name the Sentinels monitor the primary under";
    RedisWaitReplicas: "--redis-wait-replicas", "REDIS_WAIT_REPLICAS", "auto", Some((0, REDIS_WAIT_REPLICAS_MAX as u64)),
        "hand out a batch's values only once this many replicas acknowledged it (WAIT); auto = 1 with Sentinels, 0 without";
    RedisSkipGap: "--redis-skip-gap", "REDIS_SKIP_GAP", "100000000", Some((0, REDIS_SKIP_GAP_MAX)),
        "how far the counter skips ahead the first time it is served by a new Redis process (restart, failover), and past a worker's last value when Redis answers below it; must exceed the increments Redis can lose (docs/redis-ha.md); 0 turns skipping off";
    RedisStartAbove: "--redis-start-above", "REDIS_START_ABOVE", "0", Some((0, REDIS_START_ABOVE_MAX)),
        "hand out only values above this one: a shared counter below it is raised past it (plus the gap) at the first call, never moved back (moving from the memory backend or another service)";
    StateFile: "--state-file", "STATE_FILE", "", None,
        "memory backend: keep both counters in this file, so a restart continues (docs/state-file.md); unset: in memory only";
    LogFormat: "--log-format", "LOG_FORMAT", "logfmt", None, "logfmt or json";
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub addr: SocketAddr,
    /// None: derive from the CPUs (see `cpu.rs`).
    pub workers: Option<usize>,
    pub drain_seconds: u64,
    pub timeouts: Timeouts,
    pub log_format: Format,
    /// None: the in-memory counter.
    pub redis: Option<RedisTarget>,
    /// Memory backend: the file both counters are kept in. None: in memory only.
    pub state_file: Option<PathBuf>,
}

/// Where the shared counter lives in redis mode.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// The primary's address with a plain URL; unused with Sentinels, which name the primary.
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `rediss://`: TLS, verified against these files (or the built-in roots). None: plain TCP.
    pub tls: Option<TlsFiles>,
    /// Sentinel mode: who to ask for the primary. Empty: talk to `host:port`.
    pub sentinels: Vec<SentinelAddr>,
    pub master_name: String,
    /// The Sentinels' own password (`requirepass` in sentinel.conf), not the data nodes'.
    pub sentinel_password: Option<String>,
    /// Replicas that must acknowledge a batch (WAIT) before its values are handed out; 0: no WAIT.
    pub wait_replicas: u32,
    /// How far the counter skips ahead on a new Redis process, and past a worker's mark when lifted.
    pub skip_gap: u64,
    /// Every worker starts with this mark: no value at or below it is handed out, and the first call lifts a
    /// counter below it.
    pub start_above: u64,
}

/// The PEM files a `rediss://` link reads when it connects. Read again after a TLS failure, so a rotated
/// Secret or CA bundle is picked up without a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// None: the Mozilla roots compiled in (webpki-roots), since the image has no system CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS: both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// One Sentinel's address as configured (resolved at each discovery, so a Sentinel pod that moved is found).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for SentinelAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for RedisTarget {
    // Never print the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.sentinels.is_empty() {
            let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
            write!(f, "{scheme}://{}:{}/{}", self.host, self.port, self.db)?;
        } else {
            write!(f, "sentinel://")?;
            for (i, s) in self.sentinels.iter().enumerate() {
                write!(f, "{}{s}", if i == 0 { "" } else { "," })?;
            }
            write!(f, "/{}/{}", self.master_name, self.db)?;
        }
        if self.wait_replicas > 0 {
            write!(f, "?wait={}", self.wait_replicas)?;
        }
        Ok(())
    }
}

/// Splits `host[:port]` or `[v6][:port]` (the port defaults to `default_port`) and checks the port is one a
/// client can connect to (1 to 65535). The one place such an address is parsed: Sentinels and the Redis URL.
fn host_port(item: &str, default_port: u16) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(v6) = item.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or("unclosed [")?;
        match p {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(|| format!("{p:?} after ]"))?)),
        }
    } else {
        match item.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (item, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(format!("bad port {p:?}: 1 to 65535")),
        },
    };
    Ok((host, port))
}

/// Parses `host:port,host:port,...` (IPv6 hosts in brackets, port default 26379). Hosts are kept to letters,
/// digits, `.`, `-`, `_` and `:` so they can be printed in logs and metric labels as they are.
pub fn parse_sentinels(list: &str) -> Result<Vec<SentinelAddr>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (host, port) = host_port(item, 26379).map_err(|e| format!("sentinel {item:?}: {e}"))?;
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if host.is_empty() || !host.chars().all(valid) {
            return Err(format!("sentinel {item:?}: bad host"));
        }
        out.push(SentinelAddr { host: host.to_string(), port });
    }
    if out.len() > SENTINELS_MAX {
        return Err(format!("{} sentinels, at most {SENTINELS_MAX}", out.len()));
    }
    Ok(out)
}

impl std::fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Parses `redis[s]://[[user]:password@]host:port[/db]` (IPv6 hosts in brackets); `rediss` is TLS with the
/// built-in roots until `parse` adds the files. Percent-escapes are not decoded: put a password with special
/// characters in REDIS_PASSWORD or REDIS_PASSWORD_FILE instead.
pub fn parse_redis_url(url: &str) -> Result<RedisTarget, String> {
    let (rest, tls) = match (url.strip_prefix("redis://"), url.strip_prefix("rediss://")) {
        (Some(rest), _) => (rest, None),
        (_, Some(rest)) => (rest, Some(TlsFiles::default())),
        _ => return Err(format!("redis url {url:?} must start with redis:// or rediss://")),
    };
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (username, password) = match auth {
        None => (None, None),
        Some(a) => match a.split_once(':') {
            Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
            None => (None, Some(a.to_string())),
        },
    };
    let (hostport, db) = match rest.split_once('/') {
        Some((hp, "")) => (hp, 0),
        Some((hp, db)) => match db.parse::<u32>() {
            Ok(n) if n <= REDIS_DB_MAX => (hp, n),
            _ => return Err(format!("redis url: bad database {db:?}: 0 to {REDIS_DB_MAX}")),
        },
        None => (rest, 0),
    };
    let (host, port) = host_port(hostport, 6379).map_err(|e| format!("redis url: {e}"))?;
    if host.is_empty() {
        return Err(format!("redis url {url:?} has no host"));
    }
    Ok(RedisTarget {
        host: host.to_string(),
        port,
        db,
        username,
        password,
        sentinels: Vec::new(),
        master_name: String::new(),
        sentinel_password: None,
        wait_replicas: 0,
        skip_gap: REDIS_SKIP_GAP,
        start_above: 0,
        tls,
    })
}

/// Adds the PEM file flags to a `rediss://` target; they make no sense without TLS, so they are refused there.
fn tls_files(tls: Option<TlsFiles>, values: &Values) -> Result<Option<TlsFiles>, String> {
    let path = |key| Some(values.get(key)).filter(|v| !v.is_empty()).map(PathBuf::from);
    let (ca_file, cert_file, key_file) = (path(Key::RedisCaFile), path(Key::RedisCertFile), path(Key::RedisKeyFile));
    let Some(_) = tls else {
        if ca_file.is_some() || cert_file.is_some() || key_file.is_some() {
            return Err("--redis-ca-file, --redis-cert-file and --redis-key-file need a rediss:// URL".to_string());
        }
        return Ok(None);
    };
    if cert_file.is_some() != key_file.is_some() {
        return Err("mutual TLS needs both --redis-cert-file and --redis-key-file".to_string());
    }
    Ok(Some(TlsFiles { ca_file, cert_file, key_file }))
}

/// Connection timeouts in seconds; defaults in `limits.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub idle_secs: u64,
    pub header_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts { idle_secs: IDLE_TIMEOUT_SECS, header_secs: HEADER_TIMEOUT_SECS }
    }
}

// Parsed once at start and moved into main: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Config),
    Help,
    Version,
}

pub fn help() -> String {
    let mut s = String::from("counter: a tiny HTTP counter service\n\nUsage: counter [OPTIONS]\n\nOptions:\n");
    for o in OPTIONS {
        let default = if o.default.is_empty() { String::new() } else { format!(", default {}", o.default) };
        let range = o.range.map_or(String::new(), |(lo, hi)| format!(", {lo} to {hi}"));
        s.push_str(&format!("  {:<22} {} (env {}{default}{range})\n", format!("{} <v>", o.flag), o.help, o.env));
    }
    s.push_str("  -h, --help             print this help\n  -V, --version          print the version\n");
    s
}

/// Every option's value as given (flag, else environment), indexed by `Key`.
struct Values(Vec<Option<String>>);

impl Values {
    /// The value given, or the default.
    fn get(&self, key: Key) -> &str {
        self.0[key as usize].as_deref().unwrap_or(OPTIONS[key as usize].default)
    }

    /// A numeric option, refused outside its documented range.
    fn number(&self, key: Key) -> Result<u64, String> {
        let (o, v) = (&OPTIONS[key as usize], self.get(key));
        let (lo, hi) = o.range.unwrap_or((0, u64::MAX));
        match v.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(format!("invalid {} {v:?} (env {}): a whole number from {lo} to {hi}", o.flag, o.env)),
        }
    }

    /// A numeric option that may also be `auto` (None).
    fn number_or_auto(&self, key: Key) -> Result<Option<u64>, String> {
        match self.get(key) {
            "auto" => Ok(None),
            _ => self.number(key).map(Some).map_err(|e| format!("{e}, or auto")),
        }
    }
}

/// Parses `args` (without the program name), reading unset options from `env`.
pub fn parse<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut values = Values(OPTIONS.iter().map(|o| env(o.env).filter(|v| !v.is_empty())).collect());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            _ => {}
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let o = OPTIONS.iter().find(|o| o.flag == flag).ok_or_else(|| format!("unknown option {arg}"))?;
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        values.0[o.key as usize] = Some(value);
    }
    let port = values.number(Key::Port)? as u16;
    let bind = values.get(Key::Bind);
    let ip: IpAddr = bind.parse().map_err(|_| format!("invalid bind address {bind:?}"))?;
    let workers = values.number_or_auto(Key::Workers)?.map(|n| n as usize);
    let drain_seconds = values.number(Key::DrainSeconds)?;
    let timeouts =
        Timeouts { idle_secs: values.number(Key::IdleTimeout)?, header_secs: values.number(Key::HeaderTimeout)? };
    let log_format = match values.get(Key::LogFormat) {
        "logfmt" => Format::Logfmt,
        "json" => Format::Json,
        f => return Err(format!("invalid log format {f:?}: logfmt or json")),
    };
    let redis = match values.get(Key::Backend) {
        "memory" => None,
        "redis" => Some(redis_target(&values, &env)?),
        b => return Err(format!("invalid backend {b:?}: memory or redis")),
    };
    let state_file = Some(values.get(Key::StateFile)).filter(|p| !p.is_empty()).map(PathBuf::from);
    if redis.is_some() && state_file.is_some() {
        // Redis already keeps /status; /statusV2 stays per process there, and a file per replica would still
        // repeat its values across replicas. Refused rather than half-honoured (docs/state-file.md).
        return Err("--state-file is for the memory backend; with --backend redis, Redis keeps the count".to_string());
    }
    let addr = SocketAddr::new(ip, port);
    Ok(Command::Run(Config { redis, addr, workers, drain_seconds, timeouts, log_format, state_file }))
}

/// Redis mode's target: the URL, the passwords (env beats URL; a file beats env), the Sentinels, WAIT.
fn redis_target(values: &Values, env: &dyn Fn(&str) -> Option<String>) -> Result<RedisTarget, String> {
    let secret = |var: &str| -> Result<Option<String>, String> {
        let mut value = env(var).filter(|p| !p.is_empty());
        let file = format!("{var}_FILE");
        if let Some(path) = env(&file).filter(|p| !p.is_empty()) {
            let p = std::fs::read_to_string(&path).map_err(|e| format!("{file} {path}: {e}"))?;
            value = Some(p.trim_end_matches(['\r', '\n']).to_string());
        }
        Ok(value)
    };
    let mut target = parse_redis_url(values.get(Key::RedisUrl))?;
    if let Some(p) = secret("REDIS_PASSWORD")? {
        target.password = Some(p);
    }
    target.sentinels = parse_sentinels(values.get(Key::RedisSentinels))?;
    target.master_name = values.get(Key::RedisMasterName).to_string();
    if !target.sentinels.is_empty() && target.master_name.is_empty() {
        return Err("--redis-sentinels needs --redis-master-name".to_string());
    }
    target.sentinel_password = secret("REDIS_SENTINEL_PASSWORD")?;
    // auto: with Sentinels a failover is expected, and only a replica's acknowledgement keeps a promoted
    // replica from handing out values again; a single Redis has no replica to wait for.
    target.wait_replicas = match values.number_or_auto(Key::RedisWaitReplicas)? {
        None => u32::from(!target.sentinels.is_empty()),
        Some(n) => n as u32,
    };
    // TLS to the data nodes; the Sentinels themselves are asked over plain TCP.
    target.tls = tls_files(target.tls.take(), values)?;
    target.skip_gap = values.number(Key::RedisSkipGap)?;
    target.start_above = values.number(Key::RedisStartAbove)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(args.iter().map(|s| s.to_string()), move |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_env_and_flags() {
        let Ok(Command::Run(c)) = run(&[], &[]) else { panic!() };
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!((c.workers, c.drain_seconds, c.log_format), (None, 0, Format::Logfmt));
        let Ok(Command::Run(c)) = run(&["--port", "9000"], &[("PORT", "7000"), ("WORKERS", "3")]) else { panic!() };
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.workers, Some(3));
        let Ok(Command::Run(c)) = run(&["--bind=::1", "--log-format", "json"], &[("DRAIN_SECONDS", "5")]) else {
            panic!()
        };
        assert_eq!(c.addr, "[::1]:8080".parse().unwrap());
        assert_eq!((c.drain_seconds, c.log_format), (5, Format::Json));
    }

    #[test]
    fn redis_urls_and_passwords() {
        let t = parse_redis_url("redis://redis:6380/2").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db, t.password), ("redis", 6380, 2, None));
        let t = parse_redis_url("redis://:s3cret@10.0.0.1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.username, t.password.as_deref()),
            ("10.0.0.1", 6379, None, Some("s3cret"))
        );
        let t = parse_redis_url("redis://app:pw@[::1]:7000/").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.username.as_deref()), ("::1", 7000, Some("app")));
        assert!(parse_redis_url("http://x").is_err());
        assert!(parse_redis_url("redis://:6379").is_err());
        assert!(!format!("{t:?}").contains("pw"), "Debug never shows the password");
        let Ok(Command::Run(c)) =
            run(&["--backend", "redis"], &[("REDIS_URL", "redis://:a@h:1"), ("REDIS_PASSWORD", "b")])
        else {
            panic!()
        };
        assert_eq!(c.redis.unwrap().password.as_deref(), Some("b"));
        let Ok(Command::Run(c)) = run(&[], &[]) else { panic!() };
        assert!(c.redis.is_none());
        assert!(run(&["--backend", "etcd"], &[]).is_err());
    }

    #[test]
    fn state_file_memory_only() {
        let Ok(Command::Run(c)) = run(&[], &[]) else { panic!() };
        assert_eq!(c.state_file, None);
        let Ok(Command::Run(c)) = run(&[], &[("STATE_FILE", "/data/counter.state")]) else { panic!() };
        assert_eq!(c.state_file, Some(PathBuf::from("/data/counter.state")));
        let err = run(&["--backend", "redis", "--state-file", "/x"], &[]).unwrap_err();
        assert!(err.contains("--state-file") && err.contains("redis"), "{err}");
    }

    #[test]
    fn rediss_urls_and_tls_files() {
        let t = parse_redis_url("rediss://:pw@cache.example:6380").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("cache.example", 6380, Some(TlsFiles::default())));
        assert!(parse_redis_url("redis://h").unwrap().tls.is_none());
        assert_eq!(format!("{:?}", parse_redis_url("rediss://h").unwrap()), "rediss://h:6379/0");
        let args = ["--backend", "redis", "--redis-url", "rediss://h", "--redis-ca-file", "/ca.pem"];
        let Ok(Command::Run(c)) = run(&args, &[("REDIS_CERT_FILE", "/c.pem"), ("REDIS_KEY_FILE", "/k.pem")]) else {
            panic!()
        };
        let tls = c.redis.unwrap().tls.unwrap();
        assert_eq!(tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!((tls.cert_file.unwrap(), tls.key_file.unwrap()), (PathBuf::from("/c.pem"), PathBuf::from("/k.pem")));
        let plain = ["--backend", "redis", "--redis-url", "redis://h", "--redis-ca-file", "/ca.pem"];
        assert!(run(&plain, &[]).unwrap_err().contains("rediss://"));
        let half = ["--backend", "redis", "--redis-url", "rediss://h", "--redis-cert-file", "/c.pem"];
        assert!(run(&half, &[]).unwrap_err().contains("both"));
    }

    #[test]
    fn sentinels_and_wait() {
        let Ok(Command::Run(c)) = run(
            &["--backend", "redis", "--redis-sentinels", "s1:26379, [::1]:26380,s3"],
            &[("REDIS_MASTER_NAME", "m"), ("REDIS_SENTINEL_PASSWORD", "sp"), ("REDIS_PASSWORD", "dp")],
        ) else {
            panic!()
        };
        let t = c.redis.unwrap();
        let addrs: Vec<String> = t.sentinels.iter().map(|s| s.to_string()).collect();
        assert_eq!(addrs, ["s1:26379", "[::1]:26380", "s3:26379"]);
        assert_eq!((t.master_name.as_str(), t.wait_replicas), ("m", 1), "auto waits for 1 replica with Sentinels");
        assert_eq!((t.sentinel_password.as_deref(), t.password.as_deref()), (Some("sp"), Some("dp")));
        assert_eq!(format!("{t:?}"), "sentinel://s1:26379,[::1]:26380,s3:26379/m/0?wait=1");
        let Ok(Command::Run(c)) = run(&["--backend", "redis"], &[]) else { panic!() };
        assert_eq!(c.redis.unwrap().wait_replicas, 0, "auto is 0 with a plain URL");
        let Ok(Command::Run(c)) = run(&["--backend", "redis", "--redis-wait-replicas", "2"], &[]) else { panic!() };
        assert_eq!(c.redis.unwrap().wait_replicas, 2);
        assert!(run(&["--backend", "redis", "--redis-wait-replicas", "x"], &[]).is_err());
        assert!(run(&["--backend", "redis", "--redis-sentinels", "a\"b:1"], &[]).is_err());
        assert!(run(&["--backend", "redis", "--redis-sentinels", "a:x"], &[]).is_err());
    }

    #[test]
    fn skip_gap_and_start_above() {
        let default = OPTIONS[Key::RedisSkipGap as usize].default;
        assert_eq!(default, REDIS_SKIP_GAP.to_string(), "the table's default is the limit's");
        let Ok(Command::Run(c)) = run(&["--backend", "redis"], &[]) else { panic!() };
        let t = c.redis.unwrap();
        assert_eq!((t.skip_gap, t.start_above), (REDIS_SKIP_GAP, 0));
        let env = [("REDIS_SKIP_GAP", "5000"), ("REDIS_START_ABOVE", "123456789")];
        let Ok(Command::Run(c)) = run(&["--backend", "redis", "--redis-skip-gap", "0"], &env) else { panic!() };
        let t = c.redis.unwrap();
        assert_eq!((t.skip_gap, t.start_above), (0, 123_456_789), "the flag beats the env");
        for (flag, bad) in [
            ("--redis-skip-gap", "-1"),
            ("--redis-skip-gap", "1000000000001"),
            ("--redis-skip-gap", "1e6"),
            ("--redis-start-above", "4611686018427387904"),
            ("--redis-start-above", "x"),
        ] {
            let err = run(&["--backend", "redis", flag, bad], &[]).unwrap_err();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn numbers_outside_their_range_are_refused() {
        for (flag, bad) in [
            ("--drain-seconds", "18446744073709551615"),
            ("--drain-seconds", "3601"),
            ("--drain-seconds", "-1"),
            ("--idle-timeout", "0"),
            ("--header-timeout", "3601"),
            ("--workers", "1025"),
            ("--port", "65536"),
            ("--redis-wait-replicas", "65"),
        ] {
            let e = run(&["--backend", "redis", flag, bad], &[]).unwrap_err();
            assert!(e.contains(flag) && e.contains(" to "), "{flag} {bad}: {e}");
        }
        let e = run(&[], &[("DRAIN_SECONDS", "99999999999")]).unwrap_err();
        assert!(e.contains("DRAIN_SECONDS"), "{e}");
        let Ok(Command::Run(c)) = run(&["--drain-seconds", "3600", "--header-timeout", "1"], &[]) else { panic!() };
        assert_eq!((c.drain_seconds, c.timeouts.header_secs), (3600, 1));
        assert!(parse_redis_url("redis://h:0").is_err(), "port 0 cannot be connected to");
        assert!(parse_redis_url("redis://[::1]x").is_err());
        assert!(parse_redis_url("redis://h/2147483648").is_err());
        assert_eq!(parse_redis_url("redis://[::1]").unwrap().port, 6379);
        assert!(parse_sentinels("s:0").is_err());
        for o in OPTIONS {
            assert_eq!(OPTIONS[o.key as usize].flag, o.flag, "Key indexes OPTIONS");
            if let Some((lo, hi)) = o.range {
                assert!(help().contains(&format!("{lo} to {hi}")), "{} documents its range", o.flag);
            }
        }
    }

    #[test]
    fn errors_and_help() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert!(run(&["--port", "99999"], &[]).is_err());
        assert!(run(&["--workers", "0"], &[]).is_err());
        assert!(run(&["--nope"], &[]).is_err());
        assert!(run(&["--port"], &[]).is_err());
        for o in OPTIONS {
            assert!(help().contains(o.flag) && help().contains(o.env) && help().contains(o.default));
        }
    }
}
