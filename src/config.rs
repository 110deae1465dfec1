//! Configuration from flags, environment and defaults, all described by one table that also prints `--help`.
//! A flag beats its environment variable, which beats the default.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::limits::{HEADER_TIMEOUT_SECS, IDLE_TIMEOUT_SECS, REDIS_SKIP_GAP, REDIS_SKIP_GAP_MAX, SENTINELS_MAX};
use crate::log::Format;

/// One option: its flag, environment variable, default and meaning.
pub struct Opt {
    pub flag: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const OPTIONS: &[Opt] = &[
    Opt { flag: "--port", env: "PORT", default: "8080", help: "TCP port to listen on (0 picks a free one)" },
    Opt { flag: "--bind", env: "BIND", default: "0.0.0.0", help: "address to listen on (:: for IPv4 and IPv6)" },
    Opt {
        flag: "--workers",
        env: "WORKERS",
        default: "auto",
        help: "worker threads; auto = cgroup CPU quota rounded down, capped by the CPU affinity mask",
    },
    Opt {
        flag: "--drain-seconds",
        env: "DRAIN_SECONDS",
        default: "0",
        help: "after SIGTERM, keep serving (with /ready = 503) this long before closing listeners",
    },
    Opt {
        flag: "--idle-timeout",
        env: "IDLE_TIMEOUT_SECS",
        default: "120",
        help: "seconds a keep-alive connection may stay idle; keep it above the proxy's (Traefik: 90)",
    },
    Opt {
        flag: "--header-timeout",
        env: "HEADER_TIMEOUT_SECS",
        default: "10",
        help: "seconds a client has to send a whole request head once it connected or began one",
    },
    Opt {
        flag: "--backend",
        env: "BACKEND",
        default: "memory",
        help: "memory (one process) or redis (/status shared by all replicas through Redis)",
    },
    Opt {
        flag: "--redis-url",
        env: "REDIS_URL",
        default: "redis://127.0.0.1:6379",
        help: "redis[s]://[[user]:password@]host:port[/db] (rediss = TLS); password also from REDIS_PASSWORD or REDIS_PASSWORD_FILE",
    },
    Opt {
        flag: "--redis-ca-file",
        env: "REDIS_CA_FILE",
        default: "",
        help: "rediss: PEM CA bundle to verify Redis against instead of the built-in Mozilla roots",
    },
    Opt {
        flag: "--redis-cert-file",
        env: "REDIS_CERT_FILE",
        default: "",
        help: "rediss: PEM client certificate chain for mutual TLS (with --redis-key-file)",
    },
    Opt {
        flag: "--redis-key-file",
        env: "REDIS_KEY_FILE",
        default: "",
        help: "rediss: PEM private key of --redis-cert-file",
    },
    Opt {
        flag: "--redis-sentinels",
        env: "REDIS_SENTINELS",
        default: "",
        help: "host:port,host:port,...: find the primary through these Sentinels (the URL then gives only user, password and db); their own password from REDIS_SENTINEL_PASSWORD or REDIS_SENTINEL_PASSWORD_FILE",
    },
    Opt {
        flag: "--redis-master-name",
        env: "REDIS_MASTER_NAME",
        default: "counter",
        help: "the name the Sentinels monitor the primary under",
    },
    Opt {
        flag: "--redis-wait-replicas",
        env: "REDIS_WAIT_REPLICAS",
        default: "auto",
        help: "hand out a batch's values only once this many replicas acknowledged it (WAIT); auto = 1 with Sentinels, 0 without",
    },
    Opt {
        flag: "--redis-skip-gap",
        env: "REDIS_SKIP_GAP",
        default: "100000000",
        help: "how far the counter skips ahead the first time it is served by a new Redis process (restart, failover), and past a worker's last value when Redis answers below it; must exceed the increments Redis can lose (docs/redis-ha.md); 0 turns skipping off",
    },
    Opt {
        flag: "--redis-start-above",
        env: "REDIS_START_ABOVE",
        default: "0",
        help: "hand out only values above this one: a counter below it is raised past it (plus the gap) at the first call, never moved back (moving from the memory backend or another service)",
    },
    Opt { flag: "--log-format", env: "LOG_FORMAT", default: "logfmt", help: "logfmt or json" },
];

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

/// Parses `host:port,host:port,...` (IPv6 hosts in brackets, port default 26379). Hosts are kept to letters,
/// digits, `.`, `-`, `_` and `:` so they can be printed in logs and metric labels as they are.
pub fn parse_sentinels(list: &str) -> Result<Vec<SentinelAddr>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (host, port) = if let Some(v6) = item.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(|| format!("sentinel {item:?}: unclosed ["))?;
            (h, p.strip_prefix(':').unwrap_or("26379"))
        } else {
            match item.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (item, "26379"),
            }
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
        if host.is_empty() || !host.chars().all(valid) {
            return Err(format!("sentinel {item:?}: bad host"));
        }
        let port = port.parse().map_err(|_| format!("sentinel {item:?}: bad port {port:?}"))?;
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
        Some((hp, db)) => (hp, db.parse().map_err(|_| format!("redis url: bad database {db:?}"))?),
        None => (rest, 0),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or("redis url: unclosed [")?;
        (h, p.strip_prefix(':').unwrap_or("6379"))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (hostport, "6379"),
        }
    };
    if host.is_empty() {
        return Err(format!("redis url {url:?} has no host"));
    }
    let port = port.parse().map_err(|_| format!("redis url: bad port {port:?}"))?;
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
fn tls_files(tls: Option<TlsFiles>, get: &dyn Fn(&str) -> String) -> Result<Option<TlsFiles>, String> {
    let path = |flag: &str| Some(get(flag)).filter(|v| !v.is_empty()).map(PathBuf::from);
    let (ca_file, cert_file, key_file) = (path("--redis-ca-file"), path("--redis-cert-file"), path("--redis-key-file"));
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
        s.push_str(&format!("  {:<22} {} (env {}{default})\n", format!("{} <v>", o.flag), o.help, o.env));
    }
    s.push_str("  -h, --help             print this help\n  -V, --version          print the version\n");
    s
}

/// Parses `args` (without the program name), reading unset options from `env`.
pub fn parse<I, E>(args: I, env: E) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    E: Fn(&str) -> Option<String>,
{
    let mut values: Vec<Option<String>> = OPTIONS.iter().map(|o| env(o.env).filter(|v| !v.is_empty())).collect();
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
        let i = OPTIONS.iter().position(|o| o.flag == flag).ok_or_else(|| format!("unknown option {arg}"))?;
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        values[i] = Some(value);
    }
    let get = |flag: &str| -> String {
        match OPTIONS.iter().position(|o| o.flag == flag) {
            Some(i) => values[i].clone().unwrap_or_else(|| OPTIONS[i].default.to_string()),
            None => unreachable!("{flag} is not in OPTIONS"),
        }
    };
    let port: u16 = get("--port").parse().map_err(|_| format!("invalid port {:?}", get("--port")))?;
    let ip: IpAddr = get("--bind").parse().map_err(|_| format!("invalid bind address {:?}", get("--bind")))?;
    let workers = match get("--workers").as_str() {
        "auto" => None,
        w => match w.parse::<usize>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(format!("invalid workers {w:?}: a number >= 1 or auto")),
        },
    };
    let secs = |flag: &str| -> Result<u64, String> {
        let v = get(flag);
        v.parse().map_err(|_| format!("invalid {flag} {v:?}: whole seconds"))
    };
    let drain_seconds = secs("--drain-seconds")?;
    let timeouts = Timeouts { idle_secs: secs("--idle-timeout")?, header_secs: secs("--header-timeout")? };
    if timeouts.idle_secs == 0 || timeouts.header_secs == 0 {
        return Err("timeouts must be at least 1 second".to_string());
    }
    let log_format = match get("--log-format").as_str() {
        "logfmt" => Format::Logfmt,
        "json" => Format::Json,
        f => return Err(format!("invalid log format {f:?}: logfmt or json")),
    };
    let redis = match get("--backend").as_str() {
        "memory" => None,
        "redis" => Some(redis_target(&get, &env)?),
        b => return Err(format!("invalid backend {b:?}: memory or redis")),
    };
    Ok(Command::Run(Config { redis, addr: SocketAddr::new(ip, port), workers, drain_seconds, timeouts, log_format }))
}

/// Redis mode's target: the URL, the passwords (env beats URL; a file beats env), the Sentinels, WAIT.
fn redis_target(get: &dyn Fn(&str) -> String, env: &dyn Fn(&str) -> Option<String>) -> Result<RedisTarget, String> {
    let secret = |var: &str| -> Result<Option<String>, String> {
        let mut value = env(var).filter(|p| !p.is_empty());
        let file = format!("{var}_FILE");
        if let Some(path) = env(&file).filter(|p| !p.is_empty()) {
            let p = std::fs::read_to_string(&path).map_err(|e| format!("{file} {path}: {e}"))?;
            value = Some(p.trim_end_matches(['\r', '\n']).to_string());
        }
        Ok(value)
    };
    let mut target = parse_redis_url(&get("--redis-url"))?;
    if let Some(p) = secret("REDIS_PASSWORD")? {
        target.password = Some(p);
    }
    target.sentinels = parse_sentinels(&get("--redis-sentinels"))?;
    target.master_name = get("--redis-master-name");
    if !target.sentinels.is_empty() && target.master_name.is_empty() {
        return Err("--redis-sentinels needs --redis-master-name".to_string());
    }
    target.sentinel_password = secret("REDIS_SENTINEL_PASSWORD")?;
    // auto: with Sentinels a failover is expected, and only a replica's acknowledgement keeps a promoted
    // replica from handing out values again; a single Redis has no replica to wait for.
    target.wait_replicas = match get("--redis-wait-replicas").as_str() {
        "auto" => u32::from(!target.sentinels.is_empty()),
        n => n.parse().map_err(|_| format!("invalid --redis-wait-replicas {n:?}: a number or auto"))?,
    };
    // TLS to the data nodes; the Sentinels themselves are asked over plain TCP.
    target.tls = tls_files(target.tls.take(), get)?;
    (target.skip_gap, target.start_above) = skip_ahead(get)?;
    Ok(target)
}

/// `--redis-skip-gap` and `--redis-start-above`: the counter is a Redis integer, so the mark plus a batch plus
/// the gap must stay below `i64::MAX`; a start that leaves no room for one gap is refused.
fn skip_ahead(get: &dyn Fn(&str) -> String) -> Result<(u64, u64), String> {
    let number = |flag: &str, max: u64| -> Result<u64, String> {
        let v = get(flag);
        v.parse().ok().filter(|&n| n <= max).ok_or_else(|| format!("invalid {flag} {v:?}: a whole number up to {max}"))
    };
    let gap = number("--redis-skip-gap", REDIS_SKIP_GAP_MAX)?;
    let start_above = number("--redis-start-above", i64::MAX as u64 / 2)?;
    Ok((gap, start_above))
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
        let default = OPTIONS.iter().find(|o| o.flag == "--redis-skip-gap").map(|o| o.default);
        assert_eq!(default, Some(REDIS_SKIP_GAP.to_string().as_str()), "the table's default is the limit's");
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
