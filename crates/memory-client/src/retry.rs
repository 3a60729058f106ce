//! When to send a request again, and how long to wait first. Pure, so it is tested without a
//! server; the Python client follows the same rules (docs/clients.md).

use std::time::Duration;

/// How a client retries.
///
/// - Retried: 429 and 503 (after their `Retry-After`), 502 and 504, and failures to get an
///   answer at all (connection refused or reset, the client's timeout). Never: other 4xx,
///   500, 501.
/// - Every request is safe to repeat: writes carry an `Idempotency-Key` (the caller's, or
///   one made per call and reused by its retries), reads and deletes are idempotent.
/// - Wait: `Retry-After` plus up to 10% jitter; a `Retry-After` longer than
///   [`RetryPolicy::max_wait`] is not waited for, the error is returned at once (it carries
///   the delay). Without one: exponential backoff from [`RetryPolicy::base_delay`], full
///   jitter, capped at `max_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The longest single wait.
    pub max_wait: Duration,
    /// The first backoff step when the server gives no `Retry-After`.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_wait: Duration::from_secs(30),
            base_delay: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Whether an answer with this status is worth another attempt.
    pub fn retries_status(status: u16) -> bool {
        matches!(status, 429 | 502 | 503 | 504)
    }

    /// How long to wait before retry number `retry` (0 for the first), given the server's
    /// `Retry-After`; `None` when no retry should be made. `unit` is a random number in
    /// [0, 1) (the jitter).
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        let unit = unit.clamp(0.0, 1.0);
        match retry_after {
            Some(ra) if ra > self.max_wait => None,
            Some(ra) => {
                let spread = (ra / 10).max(Duration::from_millis(50));
                Some(ra + spread.mul_f64(unit))
            }
            None => {
                let step = self
                    .base_delay
                    .saturating_mul(1u32 << retry.min(16))
                    .min(self.max_wait);
                Some(step.mul_f64(unit))
            }
        }
    }
}

/// Reads `Retry-After` in seconds (the form this server sends; an HTTP date is ignored).
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn retry_after_is_honoured_with_a_little_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.wait(0, Some(S(2)), 0.0), Some(S(2)));
        let most = p.wait(0, Some(S(2)), 0.999).expect("retry");
        assert!(
            most > S(2) && most <= Duration::from_millis(2200),
            "{most:?}"
        );
        // Sub-second hints still get some spread.
        let w = p.wait(0, Some(Duration::ZERO), 0.5).expect("retry");
        assert_eq!(w, Duration::from_millis(25));
    }

    #[test]
    fn a_retry_after_beyond_the_cap_is_not_waited_for() {
        let p = RetryPolicy {
            max_wait: S(10),
            ..RetryPolicy::default()
        };
        assert_eq!(p.wait(0, Some(S(11)), 0.5), None);
        assert!(p.wait(0, Some(S(10)), 0.5).is_some());
    }

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_the_cap() {
        let p = RetryPolicy {
            max_retries: 10,
            max_wait: S(1),
            base_delay: Duration::from_millis(100),
        };
        assert_eq!(p.wait(0, None, 0.999_999).map(|d| d.as_millis()), Some(99));
        assert_eq!(p.wait(2, None, 0.999_999).map(|d| d.as_millis()), Some(399));
        assert_eq!(p.wait(9, None, 0.999_999).map(|d| d.as_millis()), Some(999));
        assert_eq!(p.wait(3, None, 0.0), Some(Duration::ZERO));
    }

    #[test]
    fn retries_stop_after_the_budget() {
        let p = RetryPolicy::default();
        assert!(p.wait(2, None, 0.5).is_some());
        assert_eq!(p.wait(3, None, 0.5), None);
        assert_eq!(RetryPolicy::none().wait(0, Some(S(1)), 0.5), None);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for s in [429, 502, 503, 504] {
            assert!(RetryPolicy::retries_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413, 415, 422, 500, 501] {
            assert!(!RetryPolicy::retries_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(parse_retry_after(Some("5")), Some(S(5)));
        assert_eq!(
            parse_retry_after(Some(" 1.5 ")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }
}
