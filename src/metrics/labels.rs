//! The label sets of the service's metrics, each an enum generated together with its label values by
//! `labels!`, so a variant and its name cannot drift apart; and the bucket bounds of the histograms.
//! Callers above (`app.rs`, `server/`, `redis/`) map their own types onto these where they record.

/// Declares a label enum whose discriminants index `NAMES`, the label values in the same order.
macro_rules! labels {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $label:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Label values, in the variants' order.
            pub const NAMES: &'static [&'static str] = &[$($label),+];
            /// How many values the label takes: the length of an array indexed by this enum.
            pub const COUNT: usize = Self::NAMES.len();

            /// The label value.
            pub fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }
    };
}

labels! {
    /// The `endpoint` label of a response.
    pub enum Endpoint {
        Status = "/status",
        StatusV2 = "/statusV2",
        Health = "/health",
        Ready = "/ready",
        Metrics = "/metrics",
        /// Every path not in the route table (404) and every unparsable request.
        Other = "other",
    }
}

labels! {
    /// The `code` label of a response: every status the server can send (response.rs), then a catch-all that
    /// stays at zero.
    pub enum Code {
        Ok = "200",
        BadRequest = "400",
        NotFound = "404",
        MethodNotAllowed = "405",
        PayloadTooLarge = "413",
        UriTooLong = "414",
        HeadersTooLarge = "431",
        NotImplemented = "501",
        Unavailable = "503",
        VersionNotSupported = "505",
        Other = "other",
    }
}

impl Code {
    pub fn of(status: u16) -> Code {
        if status == 200 {
            return Code::Ok; // nearly every response: one comparison
        }
        match status {
            200 => Code::Ok,
            400 => Code::BadRequest,
            404 => Code::NotFound,
            405 => Code::MethodNotAllowed,
            413 => Code::PayloadTooLarge,
            414 => Code::UriTooLong,
            431 => Code::HeadersTooLarge,
            501 => Code::NotImplemented,
            503 => Code::Unavailable,
            505 => Code::VersionNotSupported,
            _ => Code::Other,
        }
    }
}

labels! {
    /// The `reason` label of a closed connection.
    pub enum Close {
        ClientClose = "client_close",
        CloseRequested = "close_requested",
        BadRequest = "bad_request",
        IdleTimeout = "idle_timeout",
        HeaderTimeout = "header_timeout",
        SendTimeout = "send_timeout",
        Shutdown = "shutdown",
        Error = "error",
        /// Accepted by the kernel, then closed at once: the worker's connection table was full (or registration
        /// failed).
        Refused = "refused",
    }
}

labels! {
    /// The `kind` label of a Redis link fault.
    pub enum RedisFault {
        Resolve = "resolve",
        Connect = "connect",
        Io = "io",
        Timeout = "timeout",
        Protocol = "protocol",
        Auth = "auth",
        Loading = "loading",
        Busy = "busy",
        ReadOnly = "readonly",
        Closed = "closed",
        NotPrimary = "not_primary",
        NoReplicas = "noreplicas",
        MasterDown = "masterdown",
        NoSentinel = "no_sentinel",
        SentinelAuth = "sentinel_auth",
        UnknownMaster = "unknown_master",
        Tls = "tls",
        Cluster = "cluster",
        /// NOSCRIPT: that batch answered 503, the link stays (SCRIPT LOAD follows).
        NoScript = "noscript",
        /// A batch's reply refused, the link staying: a script error, a value that cannot be a counter, a
        /// TIME outside 1970-9999.
        Reply = "reply",
    }
}

labels! {
    /// The `kind` label of one Sentinel's failure to name the primary.
    pub enum SentinelFault {
        Connect = "connect",
        Timeout = "timeout",
        Auth = "auth",
        UnknownMaster = "unknown_master",
        Other = "other",
    }
}

/// Requests answered per read(2): powers of two up to 64, then +Inf (a 64 KiB read holds hundreds).
pub const PER_READ_LE: [&str; 8] = ["1", "2", "4", "8", "16", "32", "64", "+Inf"];
/// Requests per Redis script call: a batch holds every /status a worker had in one loop turn.
pub const PER_CALL_LE: [&str; 12] = ["1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "+Inf"];
/// Redis round-trip latency, 100 µs to the 1 s timeout (`REDIS_TIMEOUT_MILLIS`).
pub const LATENCY_MICROS: [u64; 13] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000];
pub const LATENCY_LE: [&str; 14] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "+Inf",
];

/// The bucket of `n` among the powers of two 1, 2, 4, …, with everything past the last finite one in `last`.
pub fn power_of_two_bucket(n: usize, last: usize) -> usize {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).min(last as u32) as usize
}

/// The bucket of a latency in microseconds among `LATENCY_MICROS`, past the last one in +Inf.
pub fn latency_bucket(micros: u64) -> usize {
    LATENCY_MICROS.iter().position(|&bound| micros <= bound).unwrap_or(LATENCY_MICROS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        let b = |n| power_of_two_bucket(n, 7);
        assert_eq!(
            [b(1), b(2), b(3), b(4), b(5), b(16), b(17), b(64), b(65), b(10_000)],
            [0, 1, 2, 2, 3, 4, 5, 6, 7, 7]
        );
        for (i, le) in PER_READ_LE[..7].iter().enumerate() {
            assert_eq!(le.parse::<usize>().unwrap(), 1 << i);
        }
        for (i, le) in PER_CALL_LE[..11].iter().enumerate() {
            assert_eq!(le.parse::<usize>().unwrap(), 1 << i);
        }
        for (micros, le) in LATENCY_MICROS.iter().zip(LATENCY_LE) {
            assert_eq!(*micros as f64 / 1e6, le.parse::<f64>().unwrap());
        }
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1_000_001), LATENCY_LE.len() - 1);
    }

    #[test]
    fn labels_and_codes() {
        assert_eq!((Endpoint::StatusV2.name(), Endpoint::COUNT), ("/statusV2", 6));
        assert_eq!((Close::Refused.name(), RedisFault::Cluster.name()), ("refused", "cluster"));
        assert_eq!(SentinelFault::Other as usize, SentinelFault::COUNT - 1);
        for (i, name) in Code::NAMES.iter().enumerate().take(Code::COUNT - 1) {
            assert_eq!(Code::of(name.parse().unwrap()) as usize, i, "{name}");
        }
        assert_eq!(Code::of(302), Code::Other);
    }
}
