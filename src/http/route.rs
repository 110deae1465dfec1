//! Maps a parsed request to what answers it. Pure; the table of endpoints lives here and nowhere else.
//!
//! A path is looked up as it came first (the hot path: one comparison per endpoint). Only a path that matches
//! none and is not in normal form pays for normalizing it (RFC 3986 §6.2.2, as Traefik v3 and nginx do before
//! they route): percent-encoded unreserved characters decoded (`/%73tatus`), dot segments removed (`/./status`,
//! `/x/../status`), repeated slashes merged (`//status`). So the proxy in front and this server agree on which
//! endpoint a path names. docs/http.md has the table.

use super::request::Method;
use crate::limits::TARGET_BYTES_MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/status`: the atomic counter.
    Status,
    /// `/statusV2`: the mutex counter.
    StatusV2,
    /// `/health`: liveness.
    Health,
    /// `/ready`: readiness; 503 once shutdown began.
    Ready,
    /// `/metrics`: Prometheus text exposition of every worker's counters.
    Metrics,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// GET (`head_only == false`) or HEAD (`true`) on an endpoint. HEAD is safe: it never increments.
    Endpoint { endpoint: Endpoint, head_only: bool },
    /// A known path with another method: 405 with `Allow: GET, HEAD`.
    MethodNotAllowed { endpoint: Endpoint, head_only: bool },
    /// Any other path: 404.
    NotFound { head_only: bool },
    /// `OPTIONS *`: what the server as a whole supports (RFC 9110 §9.3.7): 200 with `Allow`.
    ServerOptions,
    /// A method the server does not recognise, on any path: 501 (RFC 9110 §15.6.2).
    NotImplemented,
}

const ENDPOINTS: [(&[u8], Endpoint); 5] = [
    (b"/status", Endpoint::Status),
    (b"/statusV2", Endpoint::StatusV2),
    (b"/health", Endpoint::Health),
    (b"/ready", Endpoint::Ready),
    (b"/metrics", Endpoint::Metrics),
];

#[inline(always)] // the hot path is a few comparisons; the rare path is out of line
pub fn route(method: Method, path: &[u8]) -> Route {
    let head_only = method == Method::Head;
    // The hot path: GET or HEAD on an endpoint's path as written.
    let Some(&(_, endpoint)) = ENDPOINTS.iter().find(|(p, _)| *p == path) else {
        return route_rare(method, path);
    };
    if let Method::Get | Method::Head = method {
        return Route::Endpoint { endpoint, head_only };
    }
    route_rare(method, path)
}

/// Every other request: another method, a path that needs normalizing, or no endpoint at all.
#[cold]
#[inline(never)]
fn route_rare(method: Method, path: &[u8]) -> Route {
    let head_only = method == Method::Head;
    let found = ENDPOINTS.iter().find(|(p, _)| *p == path).map(|&(_, endpoint)| endpoint);
    let Some(endpoint) = found.or_else(|| normalized_endpoint(path)) else {
        return match (method, path) {
            (Method::Unknown, _) => Route::NotImplemented,
            (Method::Options, b"*") => Route::ServerOptions,
            _ => Route::NotFound { head_only },
        };
    };
    match method {
        Method::Get | Method::Head => Route::Endpoint { endpoint, head_only },
        Method::Options | Method::Other => Route::MethodNotAllowed { endpoint, head_only },
        Method::Unknown => Route::NotImplemented,
    }
}

/// The endpoint a path not in normal form names once normalized, if any. The rare path: a normal path (no
/// `%`, no `//`, no `/.`) returns at once.
#[cold]
fn normalized_endpoint(path: &[u8]) -> Option<Endpoint> {
    let unusual = path.contains(&b'%') || path.windows(2).any(|w| w == b"//" || w == b"/.");
    if !unusual || path.len() > TARGET_BYTES_MAX {
        return None;
    }
    let mut buf = [0u8; TARGET_BYTES_MAX];
    let normal = normalize(path, &mut buf)?;
    ENDPOINTS.iter().find(|(p, _)| *p == normal).map(|&(_, endpoint)| endpoint)
}

/// RFC 3986 §6.2.2 on an origin-form path, into `out` (never longer than `path`): percent-encoded unreserved
/// characters decoded (§2.3; reserved ones such as `%2F` stay encoded, so they never become a separator), then
/// dot segments removed (§5.2.4; `..` never climbs above the root) and repeated slashes merged (Traefik's
/// sanitizing, nginx's `merge_slashes`). None for a path that is not absolute or has a malformed escape.
fn normalize<'o>(path: &[u8], out: &'o mut [u8; TARGET_BYTES_MAX]) -> Option<&'o [u8]> {
    if path.first() != Some(&b'/') {
        return None;
    }
    let mut decoded = [0u8; TARGET_BYTES_MAX];
    let mut n = 0;
    let mut i = 0;
    while i < path.len() {
        let mut b = path[i];
        if b == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (hi, lo) = (hex(*path.get(i + 1)?)?, hex(*path.get(i + 2)?)?);
            let c = (hi * 16 + lo) as u8;
            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                b = c;
                i += 2;
            }
        }
        decoded[n] = b;
        n += 1;
        i += 1;
    }
    // Segment by segment: empty and "." segments vanish, ".." drops the last kept one.
    let mut len = 0;
    for segment in decoded[..n].split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => len = out[..len].iter().rposition(|&b| b == b'/').unwrap_or(0),
            _ => {
                out[len] = b'/';
                out[len + 1..len + 1 + segment.len()].copy_from_slice(segment);
                len += 1 + segment.len();
            }
        }
    }
    // A path whose last segment was removed or empty ends in a slash ("/status/." is "/status/").
    let last = decoded[..n].rsplit(|&b| b == b'/').next().unwrap_or_default();
    if matches!(last, b"" | b"." | b"..") {
        out[len] = b'/';
        len += 1;
    }
    Some(&out[..len.max(1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(endpoint: Endpoint, head_only: bool) -> Route {
        Route::Endpoint { endpoint, head_only }
    }

    #[test]
    fn table() {
        assert_eq!(route(Method::Get, b"/status"), ep(Endpoint::Status, false));
        assert_eq!(route(Method::Head, b"/statusV2"), ep(Endpoint::StatusV2, true));
        assert_eq!(route(Method::Get, b"/health"), ep(Endpoint::Health, false));
        assert_eq!(route(Method::Get, b"/ready"), ep(Endpoint::Ready, false));
        assert_eq!(route(Method::Get, b"/metrics"), ep(Endpoint::Metrics, false));
        assert_eq!(route(Method::Head, b"/metrics"), ep(Endpoint::Metrics, true));
        let not_allowed = |endpoint| Route::MethodNotAllowed { endpoint, head_only: false };
        assert_eq!(route(Method::Other, b"/status"), not_allowed(Endpoint::Status));
        assert_eq!(route(Method::Other, b"/metrics"), not_allowed(Endpoint::Metrics));
        assert_eq!(route(Method::Get, b"/Status"), Route::NotFound { head_only: false });
        assert_eq!(route(Method::Other, b"/nope"), Route::NotFound { head_only: false });
        assert_eq!(route(Method::Get, b"/status/"), Route::NotFound { head_only: false });
        assert_eq!(route(Method::Unknown, b"/status"), Route::NotImplemented);
        assert_eq!(route(Method::Unknown, b"/nope"), Route::NotImplemented);
        assert_eq!(route(Method::Options, b"*"), Route::ServerOptions);
        assert_eq!(route(Method::Get, b"*"), Route::NotFound { head_only: false });
        assert_eq!(route(Method::Options, b"/status"), not_allowed(Endpoint::Status));
    }

    #[test]
    fn paths_are_normalized_before_they_are_refused() {
        let status = ep(Endpoint::Status, false);
        for path in [
            &b"/%73tatus"[..],
            b"/%73%74atus",
            b"//status",
            b"///status",
            b"/./status",
            b"/x/../status",
            b"/../status",
            b"/a/b/../../status",
            b"/%2e/status",
            b"/x/%2E%2E/status",
            b"/status/.",
        ] {
            let expected = if path.ends_with(b".") { Route::NotFound { head_only: false } } else { status };
            assert_eq!(route(Method::Get, path), expected, "{}", String::from_utf8_lossy(path));
        }
        for path in [&b"/status%2F"[..], b"/%2Fstatus", b"/%zzstatus", b"/status%", b"/x/..status", b"/.status"] {
            assert_eq!(route(Method::Get, path), Route::NotFound { head_only: false }, "{path:?}");
        }
        assert_eq!(route(Method::Get, b"/x/../metrics"), ep(Endpoint::Metrics, false));
        let mut out = [0u8; TARGET_BYTES_MAX];
        assert_eq!(normalize(b"/a/./b/../c/", &mut out), Some(&b"/a/c/"[..]));
        assert_eq!(normalize(b"/..", &mut out), Some(&b"/"[..]));
        assert_eq!(normalize(b"/a/%41%2f", &mut out), Some(&b"/a/A%2f"[..]));
    }
}
