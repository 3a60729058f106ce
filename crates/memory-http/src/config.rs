//! The HTTP adapter's configuration: API keys, the rate limit, trusted proxies, CORS origins,
//! the timeout.
//!
//! The binary reads `MEMORY_*` variables and hands the raw strings to [`ApiKeys::parse`],
//! [`RateLimit::parse`] and [`TrustedProxies::parse`]; everything here is validated once, at
//! startup.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;
use memory_core::access::TenantAccess;
use memory_core::domain::TenantId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the HTTP adapter needs to serve.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `MEMORY_API_KEYS`; empty means no authentication.
    pub api_keys: ApiKeys,
    /// `MEMORY_ALLOWED_ORIGINS`: origins that get CORS headers (`*` allows any).
    pub allowed_origins: Vec<String>,
    /// `MEMORY_GLOBAL_RATE_LIMIT`: per client IP, and per API key when one is sent.
    pub rate_limit: RateLimit,
    /// `MEMORY_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client IP that is
    /// rate limited. Empty: the client IP is the TCP peer.
    pub trusted_proxies: TrustedProxies,
    /// `MEMORY_REQUEST_TIMEOUT_SECONDS`: every request is answered within this (504 after).
    pub request_timeout: Duration,
    /// `MEMORY_MAX_IN_FLIGHT`: API requests served at once; one more is answered 503
    /// `overloaded` with Retry-After at once (health and metrics are not counted).
    pub max_in_flight: usize,
    /// Reported by the health endpoint (`local`, `production`, ...).
    pub environment: String,
    /// Reported by the health endpoint.
    pub version: String,
    /// `MEMORY_CONSOLE`: serve the browser console at `/console` (docs/console.md).
    pub console: bool,
}

/// A configuration value that cannot be used. Messages name the position of a bad API key,
/// never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `MEMORY_API_KEYS` is malformed.
    #[error("MEMORY_API_KEYS: {0}")]
    ApiKeys(String),
    /// `MEMORY_GLOBAL_RATE_LIMIT` is malformed.
    #[error("MEMORY_GLOBAL_RATE_LIMIT: {0}")]
    RateLimit(String),
    /// `MEMORY_TRUSTED_PROXIES` is malformed.
    #[error("MEMORY_TRUSTED_PROXIES: {0}")]
    TrustedProxies(String),
}

/// A SHA-256 hash of an API key. Only hashes are kept after parsing.
pub(crate) type KeyHash = [u8; 32];

pub(crate) fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// One configured key: its hash and the tenants it may act on.
#[derive(Clone)]
struct ApiKey {
    hash: KeyHash,
    access: TenantAccess,
}

/// The configured API keys, as hashes. `Debug` shows how many there are, nothing else.
///
/// Format: comma-separated keys, each optionally bound to tenants with `:` and `|`:
/// `key1,key2` or `key1:acme|globex,key2`.
///
/// ```
/// use memory_http::ApiKeys;
/// let keys = ApiKeys::parse("s3cret:acme|globex, other").unwrap();
/// assert!(!keys.is_empty());
/// assert!(format!("{keys:?}").contains("2 keys") && !format!("{keys:?}").contains("s3cret"));
/// assert!(ApiKeys::parse("").unwrap().is_empty());
/// assert!(ApiKeys::parse("a,,b").is_err());
/// ```
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// Parses `MEMORY_API_KEYS`. An empty (or blank) string means no keys: auth is off.
    pub fn parse(s: &str) -> Result<ApiKeys, ConfigError> {
        if s.trim().is_empty() {
            return Ok(ApiKeys::default());
        }
        let mut keys = Vec::new();
        for (i, entry) in s.split(',').enumerate() {
            let n = i + 1;
            let (key, tenants) = match entry.split_once(':') {
                Some((k, t)) => (k.trim(), Some(t)),
                None => (entry.trim(), None),
            };
            if key.is_empty() {
                return Err(ConfigError::ApiKeys(format!("key #{n} is empty")));
            }
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::ApiKeys(format!(
                    "key #{n} contains white space or control characters"
                )));
            }
            let access = match tenants {
                None => TenantAccess::All,
                Some(t) => {
                    let mut set = BTreeSet::new();
                    for tenant in t.split('|') {
                        let tenant = TenantId::parse(tenant.trim()).map_err(|e| {
                            ConfigError::ApiKeys(format!("key #{n}: tenant {}", e.rule))
                        })?;
                        set.insert(tenant);
                    }
                    TenantAccess::Only(set)
                }
            };
            let hash = hash_key(key);
            if keys.iter().any(|k: &ApiKey| k.hash == hash) {
                return Err(ConfigError::ApiKeys(format!(
                    "key #{n} is a duplicate of an earlier key"
                )));
            }
            keys.push(ApiKey { hash, access });
        }
        Ok(ApiKeys { keys })
    }

    /// True when no key is configured (authentication is off).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The access granted to a presented key hash, comparing against every configured key in
    /// constant time (no early exit, so timing does not reveal which key nor how much matched).
    pub(crate) fn authenticate(&self, presented: &KeyHash) -> Option<TenantAccess> {
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.hash.ct_eq(presented)) {
                found = Some(k.access.clone());
            }
        }
        found
    }
}

/// A request rate: `N/second`, `N/minute` or `N/hour` (`200/minute` by default). Each client
/// may burst up to N requests; capacity refills evenly over the period.
///
/// ```
/// use memory_http::RateLimit;
/// assert_eq!(RateLimit::parse("200/minute").unwrap().to_string(), "200/minute");
/// assert!(RateLimit::parse("0/minute").is_err());
/// assert!(RateLimit::parse("5 per day").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per period (the burst size).
    pub requests: NonZeroU32,
    /// The period.
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests: NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN),
            per: Duration::from_secs(60),
        }
    }
}

impl RateLimit {
    /// Parses `N/second`, `N/minute` or `N/hour` (also `s`, `sec`, `min`, `m`, `h`).
    pub fn parse(s: &str) -> Result<RateLimit, ConfigError> {
        let err = || {
            ConfigError::RateLimit(format!(
                "expected N/second, N/minute or N/hour with N >= 1, got {s:?}"
            ))
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(err)?;
        let requests: u32 = n.trim().parse().map_err(|_| err())?;
        let requests = NonZeroU32::new(requests).ok_or_else(err)?;
        let per = match unit.trim().to_ascii_lowercase().as_str() {
            "second" | "seconds" | "sec" | "s" => Duration::from_secs(1),
            "minute" | "minutes" | "min" | "m" => Duration::from_secs(60),
            "hour" | "hours" | "h" => Duration::from_secs(3600),
            _ => return Err(err()),
        };
        Ok(RateLimit { requests, per })
    }

    /// One replica's share of a fleet-wide limit enforced by `replicas` servers, each on its
    /// own: the same average rate divided by `replicas`, and the burst too (rounded up, at
    /// least 1). A client spread evenly over the fleet gets the whole limit.
    pub fn shared_by(&self, replicas: NonZeroU32) -> RateLimit {
        let (r, n) = (self.requests.get(), replicas.get());
        let share = r.div_ceil(n);
        // Refill one request every per·n/r, as the fleet refills r per period.
        let per = self
            .per
            .mul_f64(f64::from(share) * f64::from(n) / f64::from(r));
        RateLimit {
            requests: NonZeroU32::new(share).unwrap_or(NonZeroU32::MIN),
            per,
        }
    }

    pub(crate) fn quota(&self) -> governor::Quota {
        // Replenish one request every per/N, with a burst of N: N per period on average.
        let interval = self.per / self.requests.get();
        governor::Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| governor::Quota::per_second(self.requests))
            .allow_burst(self.requests)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => return write!(f, "{}/{}s", self.requests, self.per.as_secs_f64()),
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// The reverse proxies and load balancers whose forwarding headers are believed: IP addresses
/// and CIDR ranges. Empty by default: nobody is trusted and the client IP is the TCP peer.
///
/// Format: comma-separated addresses and ranges, IPv4 or IPv6:
/// `10.0.0.0/8,127.0.0.1,::1`. A range with host bits set (`10.0.0.1/8`) is refused, as a
/// likely typo.
///
/// ```
/// use memory_http::TrustedProxies;
/// let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1, ::1").unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(proxies.contains("::1".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.7".parse().unwrap()));
/// assert_eq!(proxies.to_string(), "10.0.0.0/8,127.0.0.1/32,::1/128");
/// assert!(TrustedProxies::parse("").unwrap().is_empty());
/// let err = TrustedProxies::parse("10.0.0.0/8,10.0.0/8").unwrap_err().to_string();
/// assert!(err.contains("\"10.0.0/8\""), "{err}");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses `MEMORY_TRUSTED_PROXIES`. An empty (or blank) string trusts no one. Errors name
    /// the offending entry.
    pub fn parse(s: &str) -> Result<TrustedProxies, ConfigError> {
        if s.trim().is_empty() {
            return Ok(TrustedProxies::default());
        }
        let mut nets = Vec::new();
        for (i, entry) in s.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(ConfigError::TrustedProxies(format!(
                    "entry #{} is empty",
                    i + 1
                )));
            }
            let net = if entry.contains('/') {
                let net: IpNet = entry.parse().map_err(|_| {
                    ConfigError::TrustedProxies(format!(
                        "{entry:?} is not a CIDR range like 10.0.0.0/8 or fd00::/8"
                    ))
                })?;
                if net.trunc() != net {
                    return Err(ConfigError::TrustedProxies(format!(
                        "{entry:?} has host bits set; did you mean {}?",
                        net.trunc()
                    )));
                }
                net
            } else {
                let ip: IpAddr = entry.parse().map_err(|_| {
                    ConfigError::TrustedProxies(format!(
                        "{entry:?} is not an IP address (like 127.0.0.1 or ::1) or a CIDR range"
                    ))
                })?;
                IpNet::from(ip)
            };
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(TrustedProxies { nets })
    }

    /// True when no proxy is trusted (forwarding headers are ignored).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// True when `ip` is a trusted proxy. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as
    /// a dual-stack listener reports IPv4 peers) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.nets
            .iter()
            .any(|n| n.contains(&ip) || n.contains(&canonical))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_bind_tenants_and_authenticate_by_hash() {
        let keys = ApiKeys::parse("k1:acme|globex,k2").expect("valid");
        let acme = TenantId::parse("acme").expect("valid");
        let initech = TenantId::parse("initech").expect("valid");
        let a1 = keys.authenticate(&hash_key("k1")).expect("known key");
        assert!(a1.allows(&acme) && !a1.allows(&initech));
        assert_eq!(keys.authenticate(&hash_key("k2")), Some(TenantAccess::All));
        assert_eq!(keys.authenticate(&hash_key("k3")), None);
        assert_eq!(keys.authenticate(&hash_key("k1:acme")), None);
    }

    #[test]
    fn bad_keys_are_reported_without_the_key() {
        for bad in ["a,,b", "sec ret", "k:", "k:acme|", "k,k"] {
            let e = ApiKeys::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("key #"), "{e}");
            assert!(!e.contains("sec") || bad != "sec ret", "{e}");
        }
    }

    #[test]
    fn rate_limits() {
        let r = RateLimit::parse(" 10 / Second ").expect("valid");
        assert_eq!((r.requests.get(), r.per), (10, Duration::from_secs(1)));
        assert_eq!(
            RateLimit::parse("3/hour").expect("valid").to_string(),
            "3/hour"
        );
        for bad in ["", "10", "x/minute", "-1/minute", "0/second", "10/day"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RateLimit::default().to_string(), "200/minute");
    }

    #[test]
    fn a_replicas_share_keeps_the_fleets_rate() {
        let n = |v| NonZeroU32::new(v).expect("non-zero");
        let fleet = RateLimit::parse("200/minute").expect("valid");
        assert_eq!(fleet.shared_by(n(1)), fleet);
        for replicas in [2, 3, 7, 200, 1000] {
            let share = fleet.shared_by(n(replicas));
            // Every replica refills at 1/replicas of the fleet's rate ...
            let fleet_interval = fleet.per.as_secs_f64() / 200.0;
            let interval = share.per.as_secs_f64() / f64::from(share.requests.get());
            assert!((interval - fleet_interval * f64::from(replicas)).abs() < 1e-9);
            // ... with its share of the burst, at least one request.
            assert_eq!(share.requests.get(), 200_u32.div_ceil(replicas));
        }
        assert_eq!(fleet.shared_by(n(3)).requests.get(), 67);
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_ranges() {
        let t =
            TrustedProxies::parse(" 10.0.0.0/8 ,127.0.0.1,::1, fd00::/8,127.0.0.1").expect("valid");
        assert_eq!(t.to_string(), "10.0.0.0/8,127.0.0.1/32,::1/128,fd00::/8");
        for ip in [
            "10.0.0.1",
            "10.255.255.255",
            "127.0.0.1",
            "::1",
            "fd12::3",
            "::ffff:10.9.9.9",
        ] {
            assert!(t.contains(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["11.0.0.1", "127.0.0.2", "::2", "fe80::1", "192.0.2.1"] {
            assert!(!t.contains(ip.parse().expect("ip")), "{ip}");
        }
        assert!(TrustedProxies::parse("  ").expect("blank").is_empty());
        assert!(!TrustedProxies::default().contains("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn bad_trusted_proxies_name_the_entry() {
        for (bad, named) in [
            ("10.0.0.0/8,10.0.0/8", "\"10.0.0/8\""),
            ("localhost", "\"localhost\""),
            ("10.0.0.0/33", "\"10.0.0.0/33\""),
            ("127.0.0.1,,::1", "entry #2 is empty"),
            ("127.0.0.1,", "entry #2 is empty"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("1.2.3.4:80", "\"1.2.3.4:80\""),
            ("[::1]", "\"[::1]\""),
        ] {
            let e = TrustedProxies::parse(bad).expect_err(bad).to_string();
            assert!(e.starts_with("MEMORY_TRUSTED_PROXIES: "), "{e}");
            assert!(e.contains(named), "{bad}: {e}");
        }
    }
}
