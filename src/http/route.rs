//! Maps a parsed request to what answers it. Pure; the table of endpoints lives here and nowhere else.

use super::request::Method;

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
}

const ENDPOINTS: [(&[u8], Endpoint); 5] = [
    (b"/status", Endpoint::Status),
    (b"/statusV2", Endpoint::StatusV2),
    (b"/health", Endpoint::Health),
    (b"/ready", Endpoint::Ready),
    (b"/metrics", Endpoint::Metrics),
];

pub fn route(method: Method, path: &[u8]) -> Route {
    let head_only = method == Method::Head;
    let Some(&(_, endpoint)) = ENDPOINTS.iter().find(|(p, _)| *p == path) else {
        return Route::NotFound { head_only };
    };
    match method {
        Method::Get | Method::Head => Route::Endpoint { endpoint, head_only },
        Method::Other => Route::MethodNotAllowed { endpoint, head_only },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ep = |endpoint, head_only| Route::Endpoint { endpoint, head_only };
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
    }
}
