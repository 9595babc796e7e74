// jwks.hpp: a header-only C++17 wrapper over libjwks's C API (include/jwks.h).
//
//   jwks::Client client(jwks::Options().uri(url).audience("my-api"));
//   jwks::Verified v = client.verify(token);        // throws jwks::Error
//   std::cout << v.claims << "\n";
//
// Handles are move-only and own their C objects; no logic lives here.
#ifndef JWKS_HPP
#define JWKS_HPP

#include <jwks.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace jwks {

/// A libjwks failure: its status and the library's message.
class Error : public std::runtime_error {
public:
    Error(jwks_status status, std::string message)
        : std::runtime_error(std::string(jwks_status_str(static_cast<int>(status))) +
                             (message.empty() ? "" : ": " + message)),
          status_(status), message_(std::move(message)) {}
    jwks_status status() const noexcept { return status_; }
    const std::string &message() const noexcept { return message_; }

private:
    jwks_status status_;
    std::string message_;
};

namespace detail {
struct ErrorDeleter { void operator()(jwks_error *e) const noexcept { jwks_error_free(e); } };
struct OptionsDeleter { void operator()(jwks_options *o) const noexcept { jwks_options_free(o); } };
struct ClientDeleter { void operator()(jwks_client *c) const noexcept { jwks_client_free(c); } };
struct TokenDeleter { void operator()(jwks_token *t) const noexcept { jwks_token_free(t); } };
struct KeyDeleter { void operator()(jwks_key *k) const noexcept { jwks_key_free(k); } };

/// Turns a failed status and its error object into an Error (and frees the object).
inline Error take(jwks_status status, jwks_error *raw) {
    std::unique_ptr<jwks_error, ErrorDeleter> e(raw);
    return Error(status, e ? jwks_error_message(e.get()) : "");
}

inline std::string str(const char *p, size_t n) { return p ? std::string(p, n) : std::string(); }
}  // namespace detail

/// The result of the non-throwing calls: a value or an Error.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}
    Result(Error error) : error_(std::move(error)) {}
    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    T &value() { return *value_; }
    const Error &error() const { return *error_; }

private:
    std::optional<T> value_;
    std::optional<Error> error_;
};

/// A verified token.
struct Verified {
    std::string claims;  ///< the decoded JSON payload
    std::string kid, alg, typ;
    bool stale = false;  ///< verified with a set kept past its lifespan (refresh failing)
};

/// A signing key.
struct Key {
    std::string kid, alg, kty, use, jwk_json, pem, algorithms;
    std::vector<uint8_t> der;  ///< SubjectPublicKeyInfo
};

/// Receives the result of an asynchronous verification, on a library thread. It must not
/// block for long; exceptions it throws are swallowed (they cannot cross into C).
using VerifyCallback = std::function<void(Result<Verified>)>;

namespace detail {
inline Verified convert(jwks_token *raw) {
    std::unique_ptr<jwks_token, TokenDeleter> tok(raw);
    Verified v;
    size_t n = 0;
    const char *p = jwks_token_claims(tok.get(), &n);
    v.claims = str(p, n);
    p = jwks_token_kid(tok.get(), &n);
    v.kid = str(p, n);
    p = jwks_token_alg(tok.get(), &n);
    v.alg = str(p, n);
    p = jwks_token_typ(tok.get(), &n);
    v.typ = str(p, n);
    v.stale = jwks_token_stale(tok.get());
    return v;
}

/// What travels through C as the callback's user data.
struct AsyncBox {
    VerifyCallback callback;
};

inline void on_verified(void *user_data, jwks_status status, jwks_token *token, jwks_error *error) {
    auto *box = static_cast<AsyncBox *>(user_data);
    try {
        if (status == JWKS_OK) {
            box->callback(Result<Verified>(convert(token)));
        } else {
            box->callback(Result<Verified>(take(status, error)));
        }
    } catch (...) {
    }
}
}  // namespace detail

/// A pending asynchronous verification. Move-only; destroying it cancels: after the destructor
/// returns the callback will not run (if it is running on another thread, the destructor waits
/// for it). Do not destroy a Request from inside its own callback (the callback's state lives
/// in the Request).
class Request {
public:
    Request(jwks_request *r, detail::AsyncBox *box) noexcept : r_(r), box_(box) {}
    Request(Request &&o) noexcept : r_(std::exchange(o.r_, nullptr)), box_(std::exchange(o.box_, nullptr)) {}
    Request &operator=(Request &&o) noexcept {
        if (this != &o) {
            reset();
            r_ = std::exchange(o.r_, nullptr);
            box_ = std::exchange(o.box_, nullptr);
        }
        return *this;
    }
    Request(const Request &) = delete;
    Request &operator=(const Request &) = delete;
    ~Request() { reset(); }

private:
    void reset() noexcept {
        if (r_) jwks_request_free(r_);  // no callback runs after this returns
        delete box_;
        r_ = nullptr;
        box_ = nullptr;
    }
    jwks_request *r_ = nullptr;
    detail::AsyncBox *box_ = nullptr;
};

/// Options for Client, mirroring the C builder. Setters throw Error on a malformed value.
class Options {
public:
    Options() : o_(jwks_options_new()) {}
    Options &uri(std::string_view v) { return check(jwks_options_set_uri(o_.get(), v.data(), v.size(), &e_)); }
    Options &audience(std::string_view v) { return check(jwks_options_add_audience(o_.get(), v.data(), v.size(), &e_)); }
    Options &issuer(std::string_view v) { return check(jwks_options_set_issuer(o_.get(), v.data(), v.size(), &e_)); }
    Options &allowed_issuer(std::string_view v) { return check(jwks_options_add_allowed_issuer(o_.get(), v.data(), v.size(), &e_)); }
    Options &algorithms(std::string_view v) { return check(jwks_options_set_algorithms(o_.get(), v.data(), v.size(), &e_)); }
    Options &typ(std::string_view v) { return check(jwks_options_add_typ(o_.get(), v.data(), v.size(), &e_)); }
    Options &required_claim(std::string_view v) { return check(jwks_options_add_required_claim(o_.get(), v.data(), v.size(), &e_)); }
    Options &header(std::string_view name, std::string_view value) {
        return check(jwks_options_add_header(o_.get(), name.data(), name.size(), value.data(), value.size(), &e_));
    }
    Options &leeway_ms(uint64_t v) { return check(jwks_options_set_leeway_ms(o_.get(), v, &e_)); }
    Options &timeout_ms(uint64_t v) { return check(jwks_options_set_timeout_ms(o_.get(), v, &e_)); }
    Options &lifespan_ms(uint64_t v) { return check(jwks_options_set_lifespan_ms(o_.get(), v, &e_)); }
    Options &min_refetch_interval_ms(uint64_t v) { return check(jwks_options_set_min_refetch_interval_ms(o_.get(), v, &e_)); }
    Options &verify_exp(bool v) { return check(jwks_options_set_verify_exp(o_.get(), v, &e_)); }
    Options &background_refresh(bool v) { return check(jwks_options_set_background_refresh(o_.get(), v, &e_)); }
    const jwks_options *get() const noexcept { return o_.get(); }

private:
    Options &check(jwks_status s) {
        if (s != JWKS_OK) throw detail::take(s, std::exchange(e_, nullptr));
        return *this;
    }
    std::unique_ptr<jwks_options, detail::OptionsDeleter> o_;
    jwks_error *e_ = nullptr;
};

/// A JWKS client: share one between threads (its methods are thread-safe). Move-only.
class Client {
public:
    /// Throws Error when the options are invalid.
    explicit Client(const Options &options) {
        jwks_client *raw = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_new(options.get(), &raw, &e);
        if (s != JWKS_OK) throw detail::take(s, e);
        c_.reset(raw);
    }

    /// Verifies a token (may block on a fetch when the cache cannot answer). Throws Error.
    Verified verify(std::string_view token) const {
        auto r = try_verify(token);
        if (!r) throw r.error();
        return std::move(r.value());
    }

    /// The non-throwing verify.
    Result<Verified> try_verify(std::string_view token) const noexcept {
        jwks_token *t = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_verify(c_.get(), token.data(), token.size(), nullptr, &t, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return detail::convert(t);
    }

    /// Verifies without blocking: the Verified value when the cache answers (the callback is
    /// not called), or a Request when keys must be fetched (the callback then runs exactly once
    /// on a library thread, unless the Request is destroyed first). Throws Error for failures
    /// decided at once. The token is copied.
    std::variant<Verified, Request> verify_async(std::string_view token, VerifyCallback callback) const {
        auto box = std::make_unique<detail::AsyncBox>();
        box->callback = std::move(callback);
        jwks_token *t = nullptr;
        jwks_request *r = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_verify_async(c_.get(), token.data(), token.size(), nullptr,
                                                 detail::on_verified, box.get(), &t, &r, &e);
        if (s == JWKS_OK) return detail::convert(t);
        if (s == JWKS_PENDING) return Request(r, box.release());
        throw detail::take(s, e);
    }

    /// The signing key with this kid (fixed-URL clients). Throws Error.
    Key signing_key(std::string_view kid) const {
        jwks_key *k = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_get_signing_key(c_.get(), kid.data(), kid.size(), &k, &e);
        if (s != JWKS_OK) throw detail::take(s, e);
        std::unique_ptr<jwks_key, detail::KeyDeleter> key(k);
        return convert(key.get());
    }

    /// The client's counters.
    jwks_stats stats() const {
        jwks_stats st{};
        st.size = sizeof st;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_stats(c_.get(), &st, &e);
        if (s != JWKS_OK) throw detail::take(s, e);
        return st;
    }

    const jwks_client *get() const noexcept { return c_.get(); }

private:
    static Key convert(const jwks_key *k) {
        Key out;
        size_t n = 0;
        const char *p = jwks_key_kid(k, &n);
        out.kid = detail::str(p, n);
        p = jwks_key_alg(k, &n);
        out.alg = detail::str(p, n);
        p = jwks_key_kty(k, &n);
        out.kty = detail::str(p, n);
        p = jwks_key_use(k, &n);
        out.use = detail::str(p, n);
        p = jwks_key_jwk_json(k, &n);
        out.jwk_json = detail::str(p, n);
        p = jwks_key_pem(k, &n);
        out.pem = detail::str(p, n);
        p = jwks_key_algorithms(k, &n);
        out.algorithms = detail::str(p, n);
        const uint8_t *der = jwks_key_der(k, &n);
        if (der) out.der.assign(der, der + n);
        return out;
    }

    std::unique_ptr<jwks_client, detail::ClientDeleter> c_;
};

}  // namespace jwks

#endif  // JWKS_HPP
