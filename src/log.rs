//! Lifecycle logs on stderr: one line per event, logfmt (default) or JSON lines, each with an RFC 3339
//! timestamp and a level. Nothing here runs per request.

use std::fmt::{Display, Write as _};
use std::io::Write as _;

use crate::calendar::rfc3339;
use crate::sync::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Logfmt,
    Json,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

pub fn set_format(format: Format) {
    // ORDERING: Relaxed: set once in main before any thread that logs is started (spawn synchronises).
    FORMAT.store(format as u8, Ordering::Relaxed);
}

fn format() -> Format {
    // ORDERING: Relaxed, see set_format.
    if FORMAT.load(Ordering::Relaxed) == Format::Json as u8 {
        Format::Json
    } else {
        Format::Logfmt
    }
}

pub fn info(msg: &str, fields: &[(&str, &dyn Display)]) {
    emit("info", msg, fields);
}

pub fn warn(msg: &str, fields: &[(&str, &dyn Display)]) {
    emit("warn", msg, fields);
}

pub fn error(msg: &str, fields: &[(&str, &dyn Display)]) {
    emit("error", msg, fields);
}

fn emit(level: &str, msg: &str, fields: &[(&str, &dyn Display)]) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ts = rfc3339(now);
    let ts = std::str::from_utf8(&ts).unwrap_or("1970-01-01T00:00:00Z");
    let line = render(format(), ts, level, msg, fields);
    // One write per line so lines from different threads never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Formats one log line (with its newline).
pub fn render(format: Format, ts: &str, level: &str, msg: &str, fields: &[(&str, &dyn Display)]) -> String {
    let mut line = String::with_capacity(128);
    let pairs = [("ts", &ts as &dyn Display), ("level", &level), ("msg", &msg)];
    let all = pairs.iter().chain(fields.iter());
    match format {
        Format::Logfmt => {
            for (i, (k, v)) in all.enumerate() {
                let v = v.to_string();
                let sep = if i == 0 { "" } else { " " };
                if v.is_empty() || v.contains([' ', '"', '=', '\\']) || v.chars().any(char::is_control) {
                    let _ = write!(line, "{sep}{k}={}", json_string(&v));
                } else {
                    let _ = write!(line, "{sep}{k}={v}");
                }
            }
        }
        Format::Json => {
            line.push('{');
            for (i, (k, v)) in all.enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(line, "{sep}{}:{}", json_string(k), json_string(&v.to_string()));
            }
            line.push('}');
        }
    }
    line.push('\n');
    line
}

/// A JSON string literal (also valid as a quoted logfmt value).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_and_json() {
        let line = render(Format::Logfmt, "2026-01-01T00:00:00Z", "info", "listening", &[("addr", &"0.0.0.0:8080")]);
        assert_eq!(line, "ts=2026-01-01T00:00:00Z level=info msg=listening addr=0.0.0.0:8080\n");
        let line = render(Format::Logfmt, "t", "warn", "cpu limit", &[("limit", &"1.50 cores")]);
        assert_eq!(line, "ts=t level=warn msg=\"cpu limit\" limit=\"1.50 cores\"\n");
        let line = render(Format::Json, "t", "info", "a \"b\"", &[("n", &3)]);
        assert_eq!(line, "{\"ts\":\"t\",\"level\":\"info\",\"msg\":\"a \\\"b\\\"\",\"n\":\"3\"}\n");
    }
}
