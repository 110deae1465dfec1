//! Operability against real tools: a real Prometheus (Debian's `prometheus`, installed by install-deps.sh)
//! scraping the real binary on 127.0.0.1 with deploy/prometheus/rules.yaml loaded; `promtool check metrics` on
//! real scrapes in both modes; and the Grafana dashboard checked without Grafana: the JSON is what Grafana
//! imports, its PromQL parses (`promtool check rules`), and every metric it names is in a real scrape.
//! Tests that need a redis-server start with `redis_`, like those in redis.rs.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::redis::free_port;
use crate::support::{eventually, get, Server};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Scrape and rule evaluation interval: short so the test waits seconds, not minutes.
const INTERVAL: &str = "1s";
/// Generous: Prometheus starts, scrapes and evaluates within seconds, but the machine may be loaded (a wait
/// ends as soon as its condition holds).
const DEADLINE: Duration = Duration::from_secs(120);

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("counter-{what}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `curl URL…` (a real client, as in curl.rs): the body, or None for a failed or non-2xx request.
fn curl(args: &[&str]) -> Option<String> {
    let out = Command::new("curl").args(["-sSf", "--max-time", "5"]).args(args).output().expect("curl is installed");
    out.status.success().then(|| String::from_utf8(out.stdout).expect("UTF-8"))
}

/// A Prometheus child scraping `targets` as job `counter` with the repository's rules; killed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Prometheus {
    fn start(targets: &[SocketAddr]) -> Prometheus {
        let dir = temp_dir("prometheus");
        let rules = Path::new(ROOT).join("deploy/prometheus/rules.yaml");
        let targets: Vec<String> = targets.iter().map(|a| format!("'{a}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: {INTERVAL}\n  scrape_timeout: {INTERVAL}\n  evaluation_interval: {INTERVAL}\n\
             rule_files:\n  - '{}'\n\
             scrape_configs:\n  - job_name: counter\n    static_configs:\n      - targets: [{}]\n",
            rules.display(),
            targets.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus is installed (make test / scripts/install-deps.sh install it)");
        let prometheus = Prometheus { child, dir, base: format!("http://{listen}") };
        let ready = || curl(&[&format!("{}/-/ready", prometheus.base)]).is_some();
        assert!(eventually(DEADLINE, ready), "prometheus not ready:\n{}", prometheus.log());
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// GET /api/v1/`path` with URL-encoded `params`: the `data` of a "success" answer.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Option<Value> {
        let url = format!("{}/api/v1/{path}", self.base);
        let encoded: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["-G", url.as_str()];
        for p in &encoded {
            args.extend(["--data-urlencode", p.as_str()]);
        }
        let body: Value = serde_json::from_str(&curl(&args)?).ok()?;
        (body["status"] == "success").then(|| body["data"].clone())
    }

    /// An instant query's samples as (labels, value).
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let data = self.api("query", &[("query", promql)]).unwrap_or(Value::Null);
        let samples = data["result"].as_array().cloned().unwrap_or_default();
        samples.into_iter().filter_map(|s| Some((s["metric"].clone(), s["value"][1].as_str()?.parse().ok()?))).collect()
    }

    /// The one sample of `promql`, if there is exactly one.
    fn value(&self, promql: &str) -> Option<f64> {
        match self.query(promql).as_slice() {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// Every rule of every loaded group as (group, rule name, health, lastError).
    fn rules(&self) -> Vec<(String, String, String, String)> {
        let data = self.api("rules", &[]).unwrap_or(Value::Null);
        let mut out = Vec::new();
        for group in data["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                out.push((s(&group["name"]), s(&rule["name"]), s(&rule["health"]), s(&rule["lastError"])));
            }
        }
        out
    }

    fn firing(&self, alert: &str) -> Vec<Value> {
        let data = self.api("alerts", &[]).unwrap_or(Value::Null);
        let alerts = data["alerts"].as_array().cloned().unwrap_or_default();
        alerts.into_iter().filter(|a| a["labels"]["alertname"] == alert && a["state"] == "firing").collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Names of the recording and alerting rules in rules.yaml, read from its `- record:` / `- alert:` lines.
fn rule_names(kind: &str) -> Vec<String> {
    let rules = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/rules.yaml")).unwrap();
    let key = format!("- {kind}: ");
    rules.lines().filter_map(|l| Some(l.trim().strip_prefix(&key)?.trim().to_string())).collect()
}

#[test]
fn prometheus_scrapes_the_binary_evaluates_every_rule_and_records_the_requests_sent() {
    let server = Server::start_with(&["--workers", "2"], &[]);
    let prom = Prometheus::start(&[server.addr]);
    let up = || prom.value(r#"up{job="counter"}"#) == Some(1.0);
    assert!(eventually(DEADLINE, up), "target never up:\n{}", prom.log());

    // Every rule of every group evaluated, none with an error. A rule is "unknown" until its first evaluation.
    let loaded = prom.rules();
    let mut names: Vec<_> = loaded.iter().map(|r| r.1.clone()).collect();
    let mut expected = [rule_names("record"), rule_names("alert")].concat();
    names.sort();
    expected.sort();
    assert_eq!(names, expected, "Prometheus loaded rules.yaml's rules");
    let all_ok = || {
        let rules = prom.rules();
        !rules.is_empty() && rules.iter().all(|r| r.2 == "ok")
    };
    assert!(eventually(DEADLINE, all_ok), "rule health: {:?}", prom.rules());

    // The recording rule's /status count: present at 0 (the server exports the 200 of every endpoint from
    // start) before any request is sent, then exactly the requests sent once a scrape has seen them.
    let recorded = r#"job_endpoint_code:counter_http_requests_total:sum{job="counter",endpoint="/status",code="200"}"#;
    assert!(eventually(DEADLINE, || prom.value(recorded) == Some(0.0)), "{:?}", prom.query(recorded));
    const SENT: u64 = 25;
    for _ in 0..SENT {
        assert_eq!(get(&server, "/status").status, 200);
    }
    assert!(eventually(DEADLINE, || prom.value(recorded) == Some(SENT as f64)), "{:?}", prom.query(recorded));
    let rate = r#"job_endpoint_code:counter_http_requests:rate1m{job="counter",endpoint="/status",code="200"}"#;
    assert!(eventually(DEADLINE, || prom.value(rate).is_some_and(|r| r > 0.0)), "{:?}", prom.query(rate));
    // Nothing is wrong with this instance, and no alert says otherwise.
    let firing: Vec<String> = expected.iter().filter(|a| !prom.firing(a).is_empty()).cloned().collect();
    assert!(firing.is_empty(), "alerts firing for a healthy instance: {firing:?}");
}

/// The slowloris alert end to end: the real server's header-timeout closes reach Prometheus and fire it.
#[test]
fn prometheus_fires_the_header_timeout_alert_when_connections_send_no_request() {
    let server = Server::start_with(&["--workers", "1", "--header-timeout", "1"], &[]);
    let prom = Prometheus::start(&[server.addr]);
    // Set-up before the behaviour: a scrape must have seen the counter at 0, else the closes would be in the
    // series' first sample and `increase` would see none of them.
    let closes = r#"counter_connections_closed_total{job="counter",reason="header_timeout"}"#;
    assert!(eventually(DEADLINE, || prom.value(closes) == Some(0.0)), "{}", prom.log());
    assert!(prom.firing("CounterHeaderTimeoutBurst").is_empty());

    // More than the alert's 100 in 5 minutes: connections that never send a request head.
    let idle: Vec<_> = (0..150).map(|_| server.connect()).collect();
    // At least: Prometheus' own scrape connection sends its request at once, but on a loaded machine it could
    // be late too.
    let seen = || prom.value(closes).is_some_and(|n| n >= 150.0);
    assert!(eventually(DEADLINE, seen), "{:?}", prom.query(closes));
    drop(idle);
    let fired = || prom.firing("CounterHeaderTimeoutBurst").len() == 1;
    assert!(eventually(DEADLINE, fired), "{:?}", prom.api("alerts", &[]));
    let alert = &prom.firing("CounterHeaderTimeoutBurst")[0];
    assert_eq!(alert["labels"]["instance"], server.addr.to_string());
    assert_eq!(alert["labels"]["severity"], "warning");
}

/// `promtool check metrics` on one scrape: clean means exit 0 and nothing printed.
fn assert_promtool_clean(scrape: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/install-deps.sh)");
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");
}

fn scrape(server: &Server) -> String {
    let r = get(server, "/metrics");
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

/// A redis-server child on a free port, no persistence; killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (make test / scripts/install-deps.sh install it)");
        let pong = || {
            let out = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port.to_string(), "PING"]).output();
            out.is_ok_and(|o| o.stdout.starts_with(b"PONG"))
        };
        assert!(eventually(Duration::from_secs(10), pong), "redis on {port}");
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scrape after some traffic, from memory mode or (with `redis`) a pod whose links are all up.
fn busy_scrape(redis: Option<&Redis>) -> String {
    let url = redis.map(|r| format!("redis://127.0.0.1:{}", r.port));
    let mut args = vec!["--workers", "2"];
    if let Some(url) = &url {
        args.extend(["--backend", "redis", "--redis-url", url]);
    }
    let server = Server::start_with(&args, &[]);
    if redis.is_some() {
        let links = || scrape(&server).contains("\ncounter_redis_links_up 2\n");
        assert!(eventually(DEADLINE, links), "links never up:\n{}", server.log_text());
    }
    for path in ["/status", "/status", "/statusV2", "/health", "/ready", "/nope"] {
        get(&server, path);
    }
    scrape(&server)
}

/// A scrape after some traffic with `--state-file` (in a fresh directory, removed after).
fn durable_scrape() -> String {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prom-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("counter.state");
    let server = Server::start_with(&["--workers", "2", "--state-file", file.to_str().unwrap()], &[]);
    for path in ["/status", "/status", "/statusV2", "/health", "/ready", "/nope"] {
        get(&server, path);
    }
    let page = scrape(&server);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    page
}

#[test]
fn promtool_check_metrics_is_clean_in_memory_mode() {
    assert_promtool_clean(&busy_scrape(None));
}

#[test]
fn promtool_check_metrics_is_clean_with_a_state_file() {
    let page = durable_scrape();
    assert!(page.contains("counter_state_reservations_total 2\n"), "{page}");
    assert_promtool_clean(&page);
}

#[test]
fn redis_promtool_check_metrics_is_clean_in_redis_mode() {
    let redis = Redis::start();
    assert_promtool_clean(&busy_scrape(Some(&redis)));
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join("deploy/grafana/counter.json")).unwrap();
    serde_json::from_str(&text).expect("deploy/grafana/counter.json is JSON")
}

/// Every panel (rows hold none when expanded) with its targets' expressions, and the template queries.
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in d["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let id = format!("panel {} {:?} target {}", panel["id"], panel["title"], target["refId"]);
            out.push((id, target["expr"].as_str().expect("every target has an expr").to_string()));
        }
    }
    for var in d["templating"]["list"].as_array().expect("templating") {
        if var["type"] == "query" {
            // `label_values(SELECTOR, label)`: Grafana's, not PromQL; the selector is the PromQL part.
            let query = var["query"]["query"].as_str().expect("variable query");
            let inner = query.strip_prefix("label_values(").and_then(|q| q.rsplit_once(',')).map(|(s, _)| s);
            out.push((format!("variable {}", var["name"]), inner.expect("label_values(…, label)").to_string()));
        }
    }
    out
}

/// The dashboard's template variables replaced by values they take, so promtool can parse the PromQL.
fn substitute(expr: &str) -> String {
    let e = expr.replace("$__rate_interval", "1m").replace("$job", "counter").replace("$instance", ".*");
    assert!(!e.contains('$'), "an unknown Grafana variable in {expr}");
    e
}

#[test]
fn dashboard_is_a_grafana_import_with_a_datasource_variable() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion (Grafana 9+) {}", d["schemaVersion"]);
    for key in ["uid", "title"] {
        assert!(d[key].as_str().is_some_and(|s| !s.is_empty()), "dashboard {key}");
    }
    assert!(d["id"].is_null(), "no database id: Grafana assigns one on import");
    let vars = d["templating"]["list"].as_array().unwrap();
    let ds: Vec<_> = vars.iter().filter(|v| v["type"] == "datasource").collect();
    assert_eq!(ds.len(), 1, "one datasource variable");
    assert_eq!((&ds[0]["name"], &ds[0]["query"]), (&Value::from("datasource"), &Value::from("prometheus")));
    let mut ids = BTreeSet::new();
    for panel in d["panels"].as_array().unwrap() {
        assert!(ids.insert(panel["id"].as_u64().expect("panel id")), "duplicate panel id {}", panel["id"]);
        let grid = &panel["gridPos"];
        assert!(["h", "w", "x", "y"].iter().all(|k| grid[k].is_u64()), "gridPos of {}", panel["title"]);
        if panel["type"] == "row" {
            continue;
        }
        // The datasource is the variable, never a uid of someone's Grafana.
        let uses_variable = |v: &Value| v["type"] == "prometheus" && v["uid"] == "${datasource}";
        assert!(uses_variable(&panel["datasource"]), "panel {} datasource {}", panel["title"], panel["datasource"]);
        for target in panel["targets"].as_array().expect("targets") {
            assert!(uses_variable(&target["datasource"]), "target of {}", panel["title"]);
        }
    }
    for var in vars.iter().filter(|v| v["type"] == "query") {
        assert_eq!(var["datasource"]["uid"], "${datasource}", "variable {}", var["name"]);
    }

    // Every expression parses: wrapped as recording rules, checked by promtool.
    let queries = dashboard_queries(&d);
    assert!(queries.len() >= 15, "{} queries", queries.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        let quoted = serde_json::to_string(&substitute(expr)).unwrap(); // a JSON string is a YAML string
        rules.push_str(&format!("      - record: dashboard:query_{i}\n        expr: {quoted}\n"));
    }
    let dir = temp_dir("dashboard");
    let file = dir.join("dashboard-rules.yaml");
    std::fs::write(&file, &rules).unwrap();
    let out = Command::new("promtool").args(["check", "rules"]).arg(&file).output().expect("promtool");
    let _ = std::fs::remove_dir_all(&dir);
    let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check rules on the dashboard's PromQL:\n{said}\n{rules}");
    assert!(said.contains(&format!("SUCCESS: {} rules found", queries.len())), "{said}");
}

/// Metric names in a PromQL expression: identifiers outside strings, label matchers, `by (…)` lists and
/// ranges that are not function names.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth = 0; // inside {…}, […] or "…"
    let mut quoted = false;
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' if !quoted => depth += 1,
            '}' | ']' if !quoted => depth -= 1,
            _ if quoted || depth > 0 => {}
            _ => plain.push(c),
        }
        if quoted || depth > 0 {
            plain.push(' ');
        }
    }
    let keywords = ["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"];
    let mut names = BTreeSet::new();
    let mut rest = plain.as_str();
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':') {
        let tail = &rest[start..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(tail.len());
        let word = &tail[..end];
        let after = tail[end..].trim_start();
        let preceded_by_digit = rest[..start].ends_with(|c: char| c.is_ascii_digit() || c == '.');
        if keywords.contains(&word) {
            // `by (job, le)`: skip the label list.
            rest = after.strip_prefix('(').map_or(after, |a| a.split_once(')').map_or("", |(_, r)| r));
            continue;
        }
        // `sum by (…) (…)`: an aggregation, not a metric.
        let aggregation = ["by ", "by(", "without ", "without("].iter().any(|k| after.starts_with(k));
        if !after.starts_with('(') && !aggregation && !preceded_by_digit {
            names.insert(word.to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// Sample names in a text exposition (with `_bucket`, `_sum`, `_count`).
fn sample_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[test]
fn dashboard_metric_name_extraction_finds_exactly_the_metrics() {
    let e = r#"histogram_quantile(0.99, sum by (le, instance) (rate(counter_x_bucket{job="$job",a=~"b{c}"}[1m])))
               / sum without (x) (counter_workers{job="a"} * 16384) and on (instance) up"#;
    let expected: BTreeSet<String> = ["counter_x_bucket", "counter_workers", "up"].map(String::from).into();
    assert_eq!(metric_names(e), expected);
}

#[test]
fn redis_dashboard_names_only_metrics_the_binary_exports_in_both_modes() {
    let redis = Redis::start();
    let memory = sample_names(&busy_scrape(None));
    let shared = sample_names(&busy_scrape(Some(&redis)));
    let durable = sample_names(&durable_scrape());
    assert!(memory.contains("counter_http_requests_total") && shared.contains("counter_redis_links_up"));
    let mut used = BTreeSet::new();
    for (query, expr) in dashboard_queries(&dashboard()) {
        for name in metric_names(&expr) {
            // `up` is Prometheus' own series for every target.
            let exported = name == "up"
                || (shared.contains(&name) && (name.starts_with("counter_redis_") || memory.contains(&name)))
                || (name.starts_with("counter_state_") && durable.contains(&name));
            assert!(exported, "{query} uses {name}, which a real scrape does not have (memory {memory:?})");
            used.insert(name);
        }
    }
    // What the issue asks the dashboard to show is there.
    for name in [
        "counter_http_requests_total",
        "counter_connections_open",
        "counter_connections_closed_total",
        "counter_http_requests_per_read_sum",
        "counter_redis_round_trip_seconds_bucket",
        "counter_redis_requests_per_round_trip_sum",
        "counter_redis_links_up",
        "counter_state_sync_seconds_bucket",
        "counter_state_ceiling",
        "counter_state_sync_errors_total",
    ] {
        assert!(used.contains(name), "the dashboard shows no {name}");
    }
}
