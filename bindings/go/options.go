package jwks

/*
#include <stdlib.h>
#include <jwks.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// Option configures a Client. Make one with the With* functions.
type Option struct {
	apply func(*C.jwks_options) error
}

func withError(set func(*C.jwks_options, **C.jwks_error) C.jwks_status) Option {
	return Option{apply: func(o *C.jwks_options) error {
		return call(func(e **C.jwks_error) C.jwks_status { return set(o, e) })
	}}
}

// each applies a setter to every value (WithAudience("a", "b"), ...).
func each(values []string, set func(*C.jwks_options, *C.char, C.size_t, **C.jwks_error) C.jwks_status) Option {
	return Option{apply: func(o *C.jwks_options) error {
		for _, v := range values {
			if err := strOption(v, set).apply(o); err != nil {
				return err
			}
		}
		return nil
	}}
}

// durationOption passes d in milliseconds; a negative d is refused, not wrapped around.
func durationOption(name string, d time.Duration, set func(*C.jwks_options, C.uint64_t, **C.jwks_error) C.jwks_status) Option {
	if d < 0 {
		return Option{apply: func(*C.jwks_options) error {
			return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("jwks: %s must not be negative (got %v)", name, d)}
		}}
	}
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		return set(o, C.uint64_t(d/time.Millisecond), e)
	})
}

func strOption(s string, set func(*C.jwks_options, *C.char, C.size_t, **C.jwks_error) C.jwks_status) Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		p, n := cstr(s)
		return set(o, p, n, e)
	})
}

// WithAudience accepts tokens whose aud holds any of these (call once or several times).
func WithAudience(audiences ...string) Option {
	return each(audiences, func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_add_audience(o, p, n, e)
	})
}

// WithIssuer requires this iss.
func WithIssuer(iss string) Option {
	return strOption(iss, func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_issuer(o, p, n, e)
	})
}

// WithAlgorithms restricts the allowed algorithms, e.g. "RS256", "ES256".
func WithAlgorithms(algs ...string) Option {
	return strOption(strings.Join(algs, ","), func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_algorithms(o, p, n, e)
	})
}

// WithHeader adds a request header for the JWKS server (only to configured origins).
func WithHeader(name, value string) Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		np, nn := cstr(name)
		vp, vn := cstr(value)
		return C.jwks_options_add_header(o, np, nn, vp, vn, e)
	})
}

// WithCA trusts these PEM CA certificates in addition to the system store.
func WithCA(pem []byte) Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		if len(pem) == 0 {
			return C.JWKS_OK
		}
		return C.jwks_options_add_ca_pem(o, (*C.uint8_t)(unsafe.Pointer(&pem[0])), C.size_t(len(pem)), e)
	})
}

// WithLeeway sets the allowed clock skew for exp and nbf (default 60 s).
func WithLeeway(d time.Duration) Option {
	return durationOption("leeway", d, func(o *C.jwks_options, v C.uint64_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_leeway_ms(o, v, e)
	})
}

// WithTimeout bounds each HTTP request (default 30 s).
func WithTimeout(d time.Duration) Option {
	return durationOption("timeout", d, func(o *C.jwks_options, v C.uint64_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_timeout_ms(o, v, e)
	})
}

// WithLifespan sets how long a fetched set is used when the server's caching headers say
// nothing (default 5 min).
func WithLifespan(d time.Duration) Option {
	return durationOption("lifespan", d, func(o *C.jwks_options, v C.uint64_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_lifespan_ms(o, v, e)
	})
}

// WithMinRefetchInterval limits refetches for unknown kids (default 1 min).
func WithMinRefetchInterval(d time.Duration) Option {
	return durationOption("min refetch interval", d, func(o *C.jwks_options, v C.uint64_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_min_refetch_interval_ms(o, v, e)
	})
}

// WithMaxStale sets how long past its lifespan the last good set serves while refreshing
// fails (default 24 h; 0 turns it off).
func WithMaxStale(d time.Duration) Option {
	return durationOption("max stale", d, func(o *C.jwks_options, v C.uint64_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_max_stale_ms(o, v, e)
	})
}

// WithVerifyExp switches the exp check (and its requirement) on or off (default on).
func WithVerifyExp(on bool) Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_verify_exp(o, C.bool(on), e)
	})
}

// WithRequiredClaims requires these claims.
func WithRequiredClaims(claims ...string) Option {
	return each(claims, func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_add_required_claim(o, p, n, e)
	})
}

// WithoutRefreshAhead turns off refreshing a cached set once 80% of its lifespan has passed:
// the background refresh then starts when a lookup finds the set expired (lookups still answer
// at once, flagged stale, within max-stale).
func WithoutRefreshAhead() Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_refresh_ahead(o, false, e)
	})
}

// WithBackgroundRefresh keeps cached sets fresh without traffic too: a library thread,
// started with the first cached set, starts each refresh at 80% of the set's lifespan.
func WithBackgroundRefresh() Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_background_refresh(o, true, e)
	})
}

// WithInsecureSkipVerify turns TLS certificate checks off. Tests only.
func WithInsecureSkipVerify() Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_danger_accept_invalid_certs(o, true, e)
	})
}

func boolOption(on bool, set func(*C.jwks_options, C.bool, **C.jwks_error) C.jwks_status) Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		return set(o, C.bool(on), e)
	})
}

// WithTyp accepts tokens whose typ header is one of these (e.g. "at+jwt").
func WithTyp(typs ...string) Option {
	return each(typs, func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_add_typ(o, p, n, e)
	})
}

// WithVerifyNbf, WithVerifyAud and WithVerifyIss switch those checks (default on).
func WithVerifyNbf(on bool) Option {
	return boolOption(on, func(o *C.jwks_options, v C.bool, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_verify_nbf(o, v, e)
	})
}

// WithVerifyIat rejects tokens issued in the future beyond the leeway (default off); a
// non-numeric iat is malformed either way.
func WithVerifyIat(on bool) Option {
	return boolOption(on, func(o *C.jwks_options, v C.bool, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_verify_iat(o, v, e)
	})
}

// WithVerifyAud: see WithVerifyNbf.
func WithVerifyAud(on bool) Option {
	return boolOption(on, func(o *C.jwks_options, v C.bool, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_verify_aud(o, v, e)
	})
}

// WithVerifyIss: see WithVerifyNbf.
func WithVerifyIss(on bool) Option {
	return boolOption(on, func(o *C.jwks_options, v C.bool, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_verify_iss(o, v, e)
	})
}

// WithAllowHTTP allows plain http to non-loopback hosts.
func WithAllowHTTP() Option {
	return boolOption(true, func(o *C.jwks_options, v C.bool, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_allow_http(o, v, e)
	})
}

// WithAllowMissingKid tries a kid-less token against the keys fitting its alg.
func WithAllowMissingKid() Option {
	return boolOption(true, func(o *C.jwks_options, v C.bool, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_allow_missing_kid(o, v, e)
	})
}

// WithCacheKeys keeps an LRU of kid -> key of this size.
func WithCacheKeys(max int) Option {
	if max < 0 {
		return Option{apply: func(*C.jwks_options) error {
			return &Error{Status: StatusInvalidArgument, Message: "jwks: max cached keys must not be negative"}
		}}
	}
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		if st := C.jwks_options_set_cache_keys(o, true, e); st != C.JWKS_OK {
			return st
		}
		return C.jwks_options_set_max_cached_keys(o, C.size_t(max), e)
	})
}

// WithPersistDir keeps last-known-good key sets in this directory (and, in discovery mode,
// the configuration documents of configured issuers), so a process started during an IdP
// outage verifies with them, within max-stale, without a request. The directory must not be
// writable by others (NewClient refuses it); a file that is not the user's own regular file,
// or that group or others can write, is ignored and counted in Stats.PersistRefused.
func WithPersistDir(dir string) Option {
	return strOption(dir, func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_persist_dir(o, p, n, e)
	})
}

// WithStaticIssuer (discovery clients) names an issuer's JWKS URL: no discovery request.
func WithStaticIssuer(issuer, jwksURL string) Option {
	return withError(func(o *C.jwks_options, e **C.jwks_error) C.jwks_status {
		ip, in := cstr(issuer)
		up, un := cstr(jwksURL)
		return C.jwks_options_add_static_issuer(o, ip, in, up, un, e)
	})
}

// WithDiscoveryConfigPath (discovery clients) sets the configuration document's path.
func WithDiscoveryConfigPath(path string) Option {
	return strOption(path, func(o *C.jwks_options, p *C.char, n C.size_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_discovery_config_path(o, p, n, e)
	})
}

// WithIssuerCache (discovery clients) sets how many issuers are cached and for how long.
func WithIssuerCache(max int, ttl time.Duration) Option {
	if max < 0 {
		return Option{apply: func(*C.jwks_options) error {
			return &Error{Status: StatusInvalidArgument, Message: "jwks: max issuers must not be negative"}
		}}
	}
	ttlOption := durationOption("issuer ttl", ttl, func(o *C.jwks_options, v C.uint64_t, e **C.jwks_error) C.jwks_status {
		return C.jwks_options_set_issuer_ttl_ms(o, v, e)
	})
	return Option{apply: func(o *C.jwks_options) error {
		if err := call(func(e **C.jwks_error) C.jwks_status {
			return C.jwks_options_set_max_issuers(o, C.size_t(max), e)
		}); err != nil {
			return err
		}
		return ttlOption.apply(o)
	}}
}
