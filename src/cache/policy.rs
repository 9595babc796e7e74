//! The caching policy, every decision in one place:
//! - how long a fetched key set is used (the response's `Cache-Control: max-age` or
//!   `Expires`, clamped to the configured bounds, else the configured lifespan; minus random
//!   jitter so a fleet of processes does not refresh in the same second);
//! - what a set's age means for a lookup (`Rules::age`: fresh, refresh due, stale, too old)
//!   and when its background refresh is due (`refresh_due_at`);
//! - whether an unknown kid may refetch (`kid_refetch`).

use std::time::{Duration, SystemTime};

use crate::cache::Backoff;

/// A cached set (or issuer configuration) is refreshed in the background once 80% of its
/// lifespan has passed, so with traffic it never expires: with the default 300 s lifespan
/// that leaves 60 s — two default timeouts, or five backoff retries — before it would be
/// served stale. The per-set jitter (`refresh_jitter`, up to 10% of the lifespan taken off)
/// also moves this point, spreading a fleet's refreshes over 8% of the lifespan. Computed in
/// integers: every lookup asks.
fn refresh_point(lifespan: Duration) -> Duration {
    lifespan - lifespan / 5
}

/// When something fetched at `at` with this `lifespan` is due for its background refresh.
pub(crate) fn refresh_due_at(at: Duration, lifespan: Duration) -> Duration {
    at.saturating_add(refresh_point(lifespan))
}

/// The caching policy of a source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freshness {
    /// Used when the response says nothing (or headers are ignored).
    pub lifespan: Duration,
    /// Honour `Cache-Control` / `Expires`.
    pub honor_headers: bool,
    pub min: Duration,
    pub max: Duration,
    /// Up to this fraction of the lifespan is taken off at random.
    pub jitter: f64,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What the response's caching headers say, if anything: `max-age` wins over `Expires`
/// (RFC 9111 §5.3); `no-cache`/`no-store` mean "revalidate every time" (zero, then clamped).
pub(crate) fn advertised(headers: &[(String, String)], now: SystemTime) -> Option<Duration> {
    if let Some(cc) = header(headers, "cache-control") {
        let mut no_cache = false;
        for directive in cc.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = v.trim_matches('"').parse::<u64>() {
                    return Some(Duration::from_secs(secs));
                }
            }
            no_cache |= lower == "no-cache" || lower == "no-store";
        }
        if no_cache {
            return Some(Duration::ZERO);
        }
    }
    let expires = httpdate::parse_http_date(header(headers, "expires")?).ok()?;
    let date = header(headers, "date")
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or(now);
    // An invalid or past Expires means "already stale".
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

impl Freshness {
    /// The lifespan of a set fetched now with these response headers, before jitter.
    #[cfg(test)]
    pub fn lifespan_for(&self, headers: &[(String, String)]) -> Duration {
        self.lifespan_for_advertised(advertised(headers, SystemTime::now()))
    }

    /// The lifespan of a set whose server advertised `advertised` (see [`advertised`]): the
    /// same rule for a set fetched here and one another process fetched and stored.
    pub fn lifespan_for_advertised(&self, advertised: Option<Duration>) -> Duration {
        match advertised {
            Some(d) if self.honor_headers => d.clamp(self.min, self.max.max(self.min)),
            _ => self.lifespan,
        }
    }

    /// `lifespan` minus a random part of up to `jitter` of it.
    pub fn jittered(&self, lifespan: Duration) -> Duration {
        if self.jitter <= 0.0 {
            return lifespan;
        }
        let mut bytes = [0u8; 4];
        let unit = match aws_lc_rs::rand::fill(&mut bytes) {
            Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
            Err(_) => 0.5,
        };
        lifespan.mul_f64(1.0 - self.jitter.min(0.5) * unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_point_is_refresh_ahead_of_the_lifespan() {
        for secs in [1, 5, 60, 300, 86_400] {
            let lifespan = Duration::from_secs(secs);
            assert_eq!(refresh_point(lifespan), lifespan.mul_f64(0.8));
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    const F: Freshness = Freshness {
        lifespan: Duration::from_secs(300),
        honor_headers: true,
        min: Duration::from_secs(60),
        max: Duration::from_secs(3600),
        jitter: 0.0,
    };

    #[test]
    fn max_age_is_clamped() {
        let s = |v: &str| F.lifespan_for(&h(&[("Cache-Control", v)])).as_secs();
        assert_eq!(s("public, max-age=600"), 600);
        assert_eq!(s("max-age=5"), 60);
        assert_eq!(s("max-age=99999"), 3600);
        assert_eq!(s("no-cache"), 60);
        assert_eq!(s("public"), 300);
        assert_eq!(F.lifespan_for(&[]).as_secs(), 300);
    }

    #[test]
    fn expires_counts_from_the_date_header() {
        let headers = h(&[
            ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("Expires", "Sun, 06 Nov 1994 09:09:37 GMT"),
        ]);
        assert_eq!(F.lifespan_for(&headers).as_secs(), 1200);
        let past = h(&[("Expires", "Sun, 06 Nov 1994 09:09:37 GMT")]);
        assert_eq!(F.lifespan_for(&past).as_secs(), 60);
        let both = h(&[("Cache-Control", "max-age=120"), ("Expires", "garbage")]);
        assert_eq!(F.lifespan_for(&both).as_secs(), 120);
        let ignored = Freshness {
            honor_headers: false,
            ..F
        };
        assert_eq!(ignored.lifespan_for(&both).as_secs(), 300);
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let f = Freshness { jitter: 0.2, ..F };
        for _ in 0..100 {
            let j = f.jittered(Duration::from_secs(100));
            assert!(
                j <= Duration::from_secs(100) && j >= Duration::from_secs(80),
                "{j:?}"
            );
        }
    }
}

/// How long a source's set is used and how often an unknown kid may refetch it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub cache_jwk_set: bool,
    /// The configured lifespan (also the key LRU's), the caching-header policy and jitter.
    pub freshness: Freshness,
    pub min_refetch_interval: Duration,
    pub cache_keys: bool,
    pub max_cached_keys: usize,
    /// How long past its lifespan the last good set keeps serving while refreshes fail.
    pub max_stale: Duration,
    pub backoff: Backoff,
    /// Refresh in the background once 80% of a set's lifespan has passed (`refresh_point`).
    pub refresh_ahead: bool,
    /// Past its lifespan, a set answers at once while it is refreshed (on); off, the lookup
    /// refreshes it first and it serves stale only while refreshing fails.
    pub stale_while_revalidate: bool,
}

impl Rules {
    /// How long a set installed with `lifespan` answers fresh: zero when sets are not cached.
    pub fn lifespan(&self, lifespan: Duration) -> Duration {
        if self.cache_jwk_set {
            lifespan
        } else {
            Duration::ZERO
        }
    }

    /// How a cached thing of this `age` and `lifespan` may be used now.
    pub fn age(&self, age: Duration, lifespan: Duration) -> Age {
        if age < lifespan {
            let due = self.refresh_ahead && age >= refresh_point(lifespan);
            Age::Fresh { refresh_due: due }
        } else if age < lifespan.saturating_add(self.max_stale) {
            Age::Stale
        } else {
            Age::TooOld
        }
    }
}

/// What [`Rules::age`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Age {
    /// Within its lifespan; `refresh_due` once past the refresh-ahead point.
    Fresh { refresh_due: bool },
    /// Past its lifespan, within max-stale: serves (flagged stale) while being refreshed.
    Stale,
    /// Past max-stale: unusable.
    TooOld,
}

impl Age {
    /// Whether a background refresh should start.
    pub fn refresh_due(self) -> bool {
        matches!(self, Age::Fresh { refresh_due: true } | Age::Stale)
    }
}

/// The unknown-kid rule, for a set that lacks `kid` (backoff aside, which callers check
/// first): what the refetch slot allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KidRefetch {
    /// A claim for this kid is at work: share it (its refetch, or its wait for one).
    Share,
    /// No refetch within the interval: a new claim may be taken now.
    Claim,
    /// The interval has not passed since the last claim: "not found", rate-limited.
    RateLimited,
}

/// The unknown-kid rule: a claim at work for this kid (`claimant`) is shared; otherwise a
/// new refetch may be claimed once `interval` has passed since the last claim.
pub(crate) fn kid_refetch(
    claimant: Option<&str>,
    last_claim: Option<Duration>,
    kid: &str,
    now: Duration,
    interval: Duration,
) -> KidRefetch {
    if claimant == Some(kid) {
        KidRefetch::Share
    } else if last_claim.is_none_or(|t| now.saturating_sub(t) >= interval) {
        KidRefetch::Claim
    } else {
        KidRefetch::RateLimited
    }
}
