// jwks.hpp: a header-only C++17 wrapper over libjwks's C API (include/jwks.h).
//
//   jwks::Client client(jwks::Options().uri(url).audience("my-api"));
//   jwks::Verified v = client.verify(token);        // throws jwks::Error
//   std::cout << v.claims << "\n";
//
// Every call that can fail has a throwing form (exceptions on) and a `try_` form returning a
// jwks::Result (never throws jwks::Error; only std::bad_alloc). Built without exceptions
// (-fno-exceptions), only the `try_` forms exist, Options records its first error instead of
// throwing, and a client is made with Client::create.
//
// Handles (Client, Key, KeySet, Options, VerifyOptions, Request) are move-only and own their C
// objects; no logic lives here. Thread safety is the C API's: a Client may be shared by all
// threads; Key, KeySet and Verified are immutable; Options and VerifyOptions are builders
// (do not change one from two threads; a finished VerifyOptions may be shared).
#ifndef JWKS_HPP
#define JWKS_HPP

#include <jwks.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define JWKS_HPP_EXCEPTIONS 1
#else
#define JWKS_HPP_EXCEPTIONS 0
#endif

namespace jwks {
// Code built with and without exceptions differs (raise, check, the throwing forms): an inline
// namespace per mode keeps the two from being merged by the linker (ODR).
#if JWKS_HPP_EXCEPTIONS
inline namespace with_exceptions {
#else
inline namespace without_exceptions {
#endif

/// A libjwks failure: its status and the library's message. Thrown by the throwing forms,
/// carried by Result otherwise.
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
struct VerifyOptionsDeleter { void operator()(jwks_verify_options *o) const noexcept { jwks_verify_options_free(o); } };
struct ClientDeleter { void operator()(jwks_client *c) const noexcept { jwks_client_free(c); } };
struct TokenDeleter { void operator()(jwks_token *t) const noexcept { jwks_token_free(t); } };
struct KeyDeleter { void operator()(jwks_key *k) const noexcept { jwks_key_free(k); } };
struct KeySetDeleter { void operator()(jwks_key_set *s) const noexcept { jwks_key_set_free(s); } };
struct RequestDeleter { void operator()(jwks_request *r) const noexcept { jwks_request_free(r); } };

/// Turns a failed status and its error object into an Error (and frees the object).
inline Error take(jwks_status status, jwks_error *raw) {
    std::unique_ptr<jwks_error, ErrorDeleter> e(raw);
    return Error(status, e ? jwks_error_message(e.get()) : "");
}

/// What error() of a success returns: status JWKS_OK.
inline const Error &no_error() {
    static const Error none(JWKS_OK, "");
    return none;
}

[[noreturn]] inline void raise(const Error &e) {
#if JWKS_HPP_EXCEPTIONS
    throw e;
#else
    (void)e;
    std::abort();  // value() of a failed Result without exceptions: check ok() first
#endif
}

inline std::string_view view(const char *p, size_t n) noexcept { return p ? std::string_view(p, n) : std::string_view(); }
}  // namespace detail

/// A value or an Error. `value()` of a failed Result throws its Error (aborts when built
/// without exceptions): check ok() first.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}
    Result(Error error) : error_(std::move(error)) {}
    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    /// A non-blocking call could not answer from the cache and started a fetch: ask again later.
    bool pending() const noexcept { return error_ && error_->status() == JWKS_PENDING; }
    T &value() & { return check(), *value_; }
    const T &value() const & { return check(), *value_; }
    T value() && { return check(), std::move(*value_); }
    /// The failure; of a success, an Error with status JWKS_OK.
    const Error &error() const { return error_ ? *error_ : detail::no_error(); }

private:
    void check() const {
        if (!value_) detail::raise(*error_);
    }
    std::optional<T> value_;
    std::optional<Error> error_;
};

/// Success or an Error, for calls with no value.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}
    bool ok() const noexcept { return !error_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    void value() const {
        if (error_) detail::raise(*error_);
    }
    /// The failure; of a success, an Error with status JWKS_OK.
    const Error &error() const { return error_ ? *error_ : detail::no_error(); }

private:
    std::optional<Error> error_;
};

namespace detail {
/// The accessors shared by Key (owning) and KeyView (lent): D::get() gives the jwks_key.
template <typename D>
class KeyAccess {
public:
    std::string_view kid() const noexcept { return text(jwks_key_kid); }
    std::string_view alg() const noexcept { return text(jwks_key_alg); }
    std::string_view kty() const noexcept { return text(jwks_key_kty); }
    std::string_view use() const noexcept { return text(jwks_key_use); }
    /// The key as a JWK (public members only).
    std::string_view jwk_json() const noexcept { return text(jwks_key_jwk_json); }
    /// SubjectPublicKeyInfo in PEM ("" for keys with no SPKI form, e.g. oct).
    std::string_view pem() const noexcept { return text(jwks_key_pem); }
    /// The algorithms this key may verify, comma-separated.
    std::string_view algorithms() const noexcept { return text(jwks_key_algorithms); }
    /// SubjectPublicKeyInfo in DER (empty when the key has none).
    std::vector<uint8_t> der() const {
        size_t n = 0;
        const uint8_t *p = jwks_key_der(key(), &n);
        return p ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>();
    }

private:
    const jwks_key *key() const noexcept { return static_cast<const D *>(this)->get(); }
    std::string_view text(const char *(*f)(const jwks_key *, size_t *)) const noexcept {
        size_t n = 0;
        const char *p = f(key(), &n);
        return view(p, n);
    }
};
}  // namespace detail

/// A key lent by a KeySet: valid while the set lives.
class KeyView : public detail::KeyAccess<KeyView> {
public:
    explicit KeyView(const jwks_key *k) noexcept : k_(k) {}
    const jwks_key *get() const noexcept { return k_; }

private:
    const jwks_key *k_;
};

/// A signing key. Move-only; owns its jwks_key (which outlives the client that made it). The
/// string_views it returns live as long as the Key.
class Key : public detail::KeyAccess<Key> {
public:
    explicit Key(jwks_key *k) noexcept : k_(k) {}
    const jwks_key *get() const noexcept { return k_.get(); }
    KeyView view() const noexcept { return KeyView(k_.get()); }

private:
    std::unique_ptr<jwks_key, detail::KeyDeleter> k_;
};

/// A JWK Set: its usable signing keys, how many were skipped, and its JSON text. Move-only;
/// owns its jwks_key_set. Iterate it for KeyViews valid while the set lives.
class KeySet {
public:
    explicit KeySet(jwks_key_set *s) noexcept : s_(s) {}
    size_t size() const noexcept { return jwks_key_set_len(s_.get()); }
    bool empty() const noexcept { return size() == 0; }
    /// Keys left out of the set (unsupported, malformed or not for signing).
    size_t skipped() const noexcept { return jwks_key_set_skipped(s_.get()); }
    KeyView operator[](size_t i) const noexcept { return KeyView(jwks_key_set_get(s_.get(), i)); }
    std::optional<KeyView> find(std::string_view kid) const noexcept {
        const jwks_key *k = jwks_key_set_find(s_.get(), kid.data(), kid.size());
        return k ? std::optional<KeyView>(KeyView(k)) : std::nullopt;
    }
    /// The JSON text of the set as served.
    std::string_view json() const noexcept {
        size_t n = 0;
        const char *p = jwks_key_set_json(s_.get(), &n);
        return detail::view(p, n);
    }
    const jwks_key_set *get() const noexcept { return s_.get(); }

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;  // yields KeyView values
        using value_type = KeyView;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = KeyView;
        iterator(const KeySet *set, size_t i) noexcept : set_(set), i_(i) {}
        KeyView operator*() const noexcept { return (*set_)[i_]; }
        iterator &operator++() noexcept { return ++i_, *this; }
        iterator operator++(int) noexcept { iterator old = *this; ++i_; return old; }
        bool operator==(const iterator &o) const noexcept { return i_ == o.i_ && set_ == o.set_; }
        bool operator!=(const iterator &o) const noexcept { return !(*this == o); }

    private:
        const KeySet *set_;
        size_t i_;
    };
    iterator begin() const noexcept { return iterator(this, 0); }
    iterator end() const noexcept { return iterator(this, size()); }

private:
    std::unique_ptr<jwks_key_set, detail::KeySetDeleter> s_;
};

namespace detail {
/// Runs a C call that writes a text of unknown length into a caller's buffer: once with 128
/// bytes, and again with the length it told when that was too small.
template <typename F>
Result<std::string> sized(F call) {
    std::string out(128, '\0');
    for (;;) {
        size_t n = 0;
        jwks_error *e = nullptr;
        jwks_status s = call(&out[0], out.size(), &n, &e);
        if (s != JWKS_OK) return take(s, e);
        if (n <= out.size()) {
            out.resize(n);
            return out;
        }
        out.assign(n, '\0');
    }
}
}  // namespace detail

/// A verified token.
///
/// Claims are data that users choose in part (names, emails): their text may hold any Unicode
/// character, CR, LF and NUL included. Never put a claim, kid or typ into a header, a log line
/// or any protocol as it is: header_value and escape_header_value escape it.
struct Verified {
    std::string claims;  ///< the decoded JSON payload, byte for byte
    std::string kid, alg, typ;
    bool stale = false;  ///< verified with a set kept past its lifespan (refresh failing)

    /// The claim at `pointer` (RFC 6901: "/sub", "/org/name"; "" for the whole payload)
    /// rendered safe for an HTTP header value by libjwks's one rule (jwks_token_header_value
    /// in jwks.h, which the nginx and Envoy modules use too): control bytes (0x00-0x1F but
    /// HTAB, and 0x7F) and the backslash in text become `\xHH`, every other byte (UTF-8
    /// included) stays; JSON (objects, the whole payload) stays compact, valid JSON with those
    /// bytes as `\u00XX`. JWKS_ERR_MISSING_CLAIM when the claim is absent or null.
    Result<std::string> try_header_value(std::string_view pointer) const {
        return detail::sized([&](char *buf, size_t cap, size_t *n, jwks_error **e) {
            return jwks_claims_header_value(claims.data(), claims.size(), pointer.data(),
                                            pointer.size(), buf, cap, n, e);
        });
    }
#if JWKS_HPP_EXCEPTIONS
    /// try_header_value, throwing Error.
    std::string header_value(std::string_view pointer) const { return try_header_value(pointer).value(); }
#endif
};

/// Any text (a kid, a typ, text of your own) escaped by Verified::header_value's rule for
/// text. JWKS_ERR_INVALID_ARGUMENT when it is not UTF-8.
inline Result<std::string> try_escape_header_value(std::string_view text) {
    return detail::sized([&](char *buf, size_t cap, size_t *n, jwks_error **e) {
        return jwks_header_value_escape(text.data(), text.size(), buf, cap, n, e);
    });
}
#if JWKS_HPP_EXCEPTIONS
/// try_escape_header_value, throwing Error.
inline std::string escape_header_value(std::string_view text) { return try_escape_header_value(text).value(); }
#endif

/// One finished verification handed out by Client::poll.
struct Completion {
    uint64_t tag;  ///< the tag given to verify_async_queued
    Result<Verified> result;
};

namespace detail {
inline std::string copy(const char *(*f)(const jwks_token *, size_t *), const jwks_token *t) {
    size_t n = 0;
    const char *p = f(t, &n);
    return std::string(view(p, n));
}

inline Verified wrap(jwks_token *raw) {
    std::unique_ptr<jwks_token, TokenDeleter> tok(raw);
    Verified v;
    v.claims = copy(jwks_token_claims, tok.get());
    v.kid = copy(jwks_token_kid, tok.get());
    v.alg = copy(jwks_token_alg, tok.get());
    v.typ = copy(jwks_token_typ, tok.get());
    v.stale = jwks_token_stale(tok.get());
    return v;
}
inline Key wrap(jwks_key *raw) noexcept { return Key(raw); }
inline KeySet wrap(jwks_key_set *raw) noexcept { return KeySet(raw); }

/// The callable of an asynchronous call, owned by its Request.
struct BoxBase {
    virtual ~BoxBase() = default;
};
template <typename F>
struct Box : BoxBase {
    explicit Box(F &&f) : fn(std::move(f)) {}
    explicit Box(const F &f) : fn(f) {}
    F fn;
};

/// The C callback: hands the result to the callable. Nothing may unwind into C, so an
/// exception the callable throws is swallowed.
template <typename T, typename Raw, typename F>
void trampoline(void *user_data, jwks_status status, Raw *raw, jwks_error *error) {
    auto *box = static_cast<Box<F> *>(user_data);
#if JWKS_HPP_EXCEPTIONS
    try {
#endif
        if (status == JWKS_OK) {
            box->fn(Result<T>(wrap(raw)));
        } else {
            box->fn(Result<T>(take(status, error)));
        }
#if JWKS_HPP_EXCEPTIONS
    } catch (...) {
    }
#endif
}
}  // namespace detail

/// A pending asynchronous call. Move-only; destroying it cancels: after the destructor returns
/// the callback will not run (if it is running on another thread, the destructor waits for
/// it). Do not destroy a Request from inside its own callback (the callable lives in it).
class Request {
public:
    Request(jwks_request *r, std::unique_ptr<detail::BoxBase> box) noexcept : r_(r), box_(std::move(box)) {}
    Request(Request &&o) noexcept = default;
    Request &operator=(Request &&o) noexcept {
        if (this != &o) {
            r_ = std::move(o.r_);  // frees (cancels) our request before our callable goes
            box_ = std::move(o.box_);
        }
        return *this;
    }
    ~Request() { r_.reset(); }  // cancel first, then the callable (box_) is destroyed

private:
    std::unique_ptr<jwks_request, detail::RequestDeleter> r_;
    std::unique_ptr<detail::BoxBase> box_;
};

/// What an asynchronous call started: the value at once (a cache hit: the callback will not
/// run), a pending Request (the callback runs exactly once later, on a library thread, unless
/// the Request is destroyed first), or an Error decided at once (no callback).
template <typename T>
class [[nodiscard]] Async {
public:
    Async(T value) : v_(std::move(value)) {}
    Async(Request request) : v_(std::move(request)) {}
    Async(Error error) : v_(std::move(error)) {}
    bool ok() const noexcept { return v_.index() == 0; }
    bool pending() const noexcept { return v_.index() == 1; }
    bool failed() const noexcept { return v_.index() == 2; }
    T &value() { return std::get<0>(v_); }
    /// Moves the pending Request out (keep it alive until the callback has run).
    Request take_request() { return std::move(std::get<1>(v_)); }
    /// The failure decided at once; otherwise an Error with status JWKS_OK.
    const Error &error() const { return failed() ? std::get<2>(v_) : detail::no_error(); }

private:
    std::variant<T, Request, Error> v_;
};

/// A request header handed to a fetch callback.
struct HttpHeader {
    std::string_view name, value;
};

/// The response a fetch callback fills in (valid only during the callback; setters copy).
class HttpResponse {
public:
    explicit HttpResponse(jwks_http_response *r) noexcept : r_(r) {}
    /// JWKS_ERR_INVALID_ARGUMENT for a status outside 100..=999.
    jwks_status status(uint16_t code) noexcept { return jwks_http_response_set_status(r_, code, nullptr); }
    /// JWKS_ERR_RESPONSE_TOO_LARGE past max_response_bytes.
    jwks_status body(std::string_view b) noexcept {
        return jwks_http_response_set_body(r_, reinterpret_cast<const uint8_t *>(b.data()), b.size(), nullptr);
    }
    jwks_status header(std::string_view name, std::string_view value) noexcept {
        return jwks_http_response_add_header(r_, name.data(), name.size(), value.data(), value.size(), nullptr);
    }

private:
    jwks_http_response *r_;
};

/// A custom HTTP GET: (url, request headers, response to fill). Return true when the response
/// holds the server's answer (any HTTP status), false for a transport failure. Called from any
/// thread, possibly concurrently; must not call into the client. An exception counts as a
/// transport failure.
using FetchFunction = std::function<bool(std::string_view url, const std::vector<HttpHeader> &headers, HttpResponse &response)>;

/// The level of a log event (the C header's 1 to 4).
enum class LogLevel : int { error = 1, warning = 2, info = 3, debug = 4 };

/// Receives log events. Called from any thread, with no library lock held; must return
/// quickly and not call into the client.
using LogFunction = std::function<void(LogLevel level, std::string_view message)>;

/// The former form of LogFunction, with the level as an int (1 error ... 4 debug).
using IntLogFunction = std::function<void(int level, std::string_view message)>;

namespace detail {
template <typename F>
void release(void *user_data) {
    delete static_cast<F *>(user_data);
}

inline int fetch_trampoline(void *user_data, const char *url, size_t url_len, const jwks_http_header *headers,
                            size_t header_count, jwks_http_response *response) {
#if JWKS_HPP_EXCEPTIONS
    try {
#endif
        std::vector<HttpHeader> list;
        list.reserve(header_count);
        for (size_t i = 0; i < header_count; i++) {
            list.push_back({view(headers[i].name, headers[i].name_len), view(headers[i].value, headers[i].value_len)});
        }
        HttpResponse r(response);
        return (*static_cast<FetchFunction *>(user_data))(view(url, url_len), list, r) ? 0 : -1;
#if JWKS_HPP_EXCEPTIONS
    } catch (...) {
        return -1;
    }
#endif
}

inline void log_trampoline(void *user_data, int level, const char *message, size_t len) {
#if JWKS_HPP_EXCEPTIONS
    try {
#endif
        (*static_cast<LogFunction *>(user_data))(static_cast<LogLevel>(level), view(message, len));
#if JWKS_HPP_EXCEPTIONS
    } catch (...) {
    }
#endif
}

/// What Options and VerifyOptions share: a setter's failure throws, or without exceptions is
/// recorded (the first one) for Client::create or error().
class Builder {
public:
    /// The first failed setter's error (only without exceptions; with them, setters throw).
    const std::optional<Error> &error() const noexcept { return error_; }

protected:
    void check(jwks_status s) {
        if (s == JWKS_OK) return;
        fail(take(s, std::exchange(e_, nullptr)));
    }
    void fail(Error e) {
#if JWKS_HPP_EXCEPTIONS
        throw e;
#else
        if (!error_) error_ = std::move(e);
#endif
    }
    /// Calls `set` with `v` in milliseconds; a negative duration is refused (JWKS_ERR_INVALID_ARGUMENT),
    /// never wrapped around into a huge unsigned one.
    template <typename Set>
    void duration(std::chrono::milliseconds v, const char *what, Set set) {
        if (v.count() < 0) return fail(Error(JWKS_ERR_INVALID_ARGUMENT, std::string(what) + " must not be negative"));
        check(set(static_cast<uint64_t>(v.count())));
    }
    jwks_error *e_ = nullptr;
    std::optional<Error> error_;
};
}  // namespace detail

/// Options for Client, mirroring the C builder (each setter's meaning and default are in
/// jwks.h). A setter throws Error on a malformed value (without exceptions: see error()).
class Options : public detail::Builder {
public:
    Options() : o_(jwks_options_new()) {}

    // Source
    Options &uri(std::string_view v) & { return check(jwks_options_set_uri(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options uri(std::string_view v) && { uri(v); return std::move(*this); }
    Options &header(std::string_view name, std::string_view value) & {
        return check(jwks_options_add_header(o_.get(), name.data(), name.size(), value.data(), value.size(), &e_)), *this;
    }
    Options header(std::string_view name, std::string_view value) && { header(name, value); return std::move(*this); }
    Options &timeout(std::chrono::milliseconds v) & {
        return duration(v, "timeout", [&](uint64_t ms) { return jwks_options_set_timeout_ms(o_.get(), ms, &e_); }), *this;
    }
    Options timeout(std::chrono::milliseconds v) && { timeout(v); return std::move(*this); }
    [[deprecated("use timeout(std::chrono::milliseconds)")]] Options &timeout_ms(uint64_t v) & { return check(jwks_options_set_timeout_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use timeout(std::chrono::milliseconds)")]] Options timeout_ms(uint64_t v) && { timeout(std::chrono::milliseconds(v)); return std::move(*this); }
    Options &ca_pem(std::string_view pem) & {
        return check(jwks_options_add_ca_pem(o_.get(), reinterpret_cast<const uint8_t *>(pem.data()), pem.size(), &e_)), *this;
    }
    Options ca_pem(std::string_view pem) && { ca_pem(pem); return std::move(*this); }
    Options &ca_file(std::string_view path) & { return check(jwks_options_add_ca_file(o_.get(), path.data(), path.size(), &e_)), *this; }
    Options ca_file(std::string_view path) && { ca_file(path); return std::move(*this); }
    /// DANGER, tests only: no TLS certificate verification.
    Options &danger_accept_invalid_certs(bool v) & { return check(jwks_options_set_danger_accept_invalid_certs(o_.get(), v, &e_)), *this; }
    Options danger_accept_invalid_certs(bool v) && { danger_accept_invalid_certs(v); return std::move(*this); }
    Options &allow_http(bool v) & { return check(jwks_options_set_allow_http(o_.get(), v, &e_)), *this; }
    Options allow_http(bool v) && { allow_http(v); return std::move(*this); }
    Options &proxy(std::string_view v) & { return check(jwks_options_set_proxy(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options proxy(std::string_view v) && { proxy(v); return std::move(*this); }
    Options &max_response_bytes(size_t v) & { return check(jwks_options_set_max_response_bytes(o_.get(), v, &e_)), *this; }
    Options max_response_bytes(size_t v) && { max_response_bytes(v); return std::move(*this); }
    Options &max_keys(size_t v) & { return check(jwks_options_set_max_keys(o_.get(), v, &e_)), *this; }
    Options max_keys(size_t v) && { max_keys(v); return std::move(*this); }
    Options &max_redirects(uint32_t v) & { return check(jwks_options_set_max_redirects(o_.get(), v, &e_)), *this; }
    Options max_redirects(uint32_t v) && { max_redirects(v); return std::move(*this); }
    Options &allow_symmetric_keys(bool v) & { return check(jwks_options_set_allow_symmetric_keys(o_.get(), v, &e_)), *this; }
    Options allow_symmetric_keys(bool v) && { allow_symmetric_keys(v); return std::move(*this); }
    /// Uses `function` for every HTTP request instead of the built-in client (which then opens
    /// no socket); an empty function restores the built-in client. The library keeps the
    /// function until no call can come any more, then destroys it (on whichever thread lets go
    /// last; its captures must not own jwks handles).
    Options &fetch(FetchFunction function) & {
        if (!function) return check(jwks_options_set_fetch_callback(o_.get(), nullptr, nullptr, &e_)), *this;
        auto *f = new FetchFunction(std::move(function));
        jwks_status s = jwks_options_set_fetch_callback_with_release(o_.get(), detail::fetch_trampoline, f,
                                                                     detail::release<FetchFunction>, &e_);
        if (s != JWKS_OK) delete f;  // not taken
        return check(s), *this;
    }
    Options fetch(FetchFunction function) && { fetch(std::move(function)); return std::move(*this); }
    /// Reports fetch failures, recoveries and fetches up to `max_level` (1..=4); an empty
    /// function turns logging off. Kept and destroyed as for fetch().
    Options &log(LogFunction function, LogLevel max_level = LogLevel::info) & {
        int max = static_cast<int>(max_level);
        if (!function) return check(jwks_options_set_log_callback(o_.get(), nullptr, nullptr, max, &e_)), *this;
        auto *f = new LogFunction(std::move(function));
        jwks_status s = jwks_options_set_log_callback_with_release(o_.get(), detail::log_trampoline, f,
                                                                   detail::release<LogFunction>, max, &e_);
        if (s != JWKS_OK) delete f;  // refused: the library did not take it
        return check(s), *this;
    }
    Options log(LogFunction function, LogLevel max_level = LogLevel::info) && { log(std::move(function), max_level); return std::move(*this); }
    /// Turns logging off.
    Options &log(std::nullptr_t) & { return log(LogFunction(), LogLevel::info); }
    Options log(std::nullptr_t) && { log(nullptr); return std::move(*this); }
    [[deprecated("take a jwks::LogLevel: log(LogFunction, LogLevel)")]]
    Options &log(IntLogFunction function, int max_level = 3) & {
        if (!function) return log(nullptr);
        if (max_level < 1 || max_level > 4) {
            // The C library's own check, with its message.
            return check(jwks_options_set_log_callback(o_.get(), nullptr, nullptr, max_level, &e_)), *this;
        }
        return log(LogFunction([f = std::move(function)](LogLevel level, std::string_view m) { f(static_cast<int>(level), m); }),
                   static_cast<LogLevel>(max_level));
    }
    [[deprecated("take a jwks::LogLevel: log(LogFunction, LogLevel)")]]
    Options log(IntLogFunction function, int max_level = 3) && {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        log(std::move(function), max_level);
#pragma GCC diagnostic pop
        return std::move(*this);
    }

    // Caching and outages
    Options &cache_jwk_set(bool v) & { return check(jwks_options_set_cache_jwk_set(o_.get(), v, &e_)), *this; }
    Options cache_jwk_set(bool v) && { cache_jwk_set(v); return std::move(*this); }
    Options &lifespan(std::chrono::milliseconds v) & {
        return duration(v, "lifespan", [&](uint64_t ms) { return jwks_options_set_lifespan_ms(o_.get(), ms, &e_); }), *this;
    }
    Options lifespan(std::chrono::milliseconds v) && { lifespan(v); return std::move(*this); }
    [[deprecated("use lifespan(std::chrono::milliseconds)")]] Options &lifespan_ms(uint64_t v) & { return check(jwks_options_set_lifespan_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use lifespan(std::chrono::milliseconds)")]] Options lifespan_ms(uint64_t v) && { lifespan(std::chrono::milliseconds(v)); return std::move(*this); }
    Options &cache_keys(bool v) & { return check(jwks_options_set_cache_keys(o_.get(), v, &e_)), *this; }
    Options cache_keys(bool v) && { cache_keys(v); return std::move(*this); }
    Options &max_cached_keys(size_t v) & { return check(jwks_options_set_max_cached_keys(o_.get(), v, &e_)), *this; }
    Options max_cached_keys(size_t v) && { max_cached_keys(v); return std::move(*this); }
    Options &min_refetch_interval(std::chrono::milliseconds v) & {
        return duration(v, "min_refetch_interval", [&](uint64_t ms) { return jwks_options_set_min_refetch_interval_ms(o_.get(), ms, &e_); }), *this;
    }
    Options min_refetch_interval(std::chrono::milliseconds v) && { min_refetch_interval(v); return std::move(*this); }
    [[deprecated("use min_refetch_interval(std::chrono::milliseconds)")]] Options &min_refetch_interval_ms(uint64_t v) & { return check(jwks_options_set_min_refetch_interval_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use min_refetch_interval(std::chrono::milliseconds)")]] Options min_refetch_interval_ms(uint64_t v) && { min_refetch_interval(std::chrono::milliseconds(v)); return std::move(*this); }
    Options &max_stale(std::chrono::milliseconds v) & {
        return duration(v, "max_stale", [&](uint64_t ms) { return jwks_options_set_max_stale_ms(o_.get(), ms, &e_); }), *this;
    }
    Options max_stale(std::chrono::milliseconds v) && { max_stale(v); return std::move(*this); }
    [[deprecated("use max_stale(std::chrono::milliseconds)")]] Options &max_stale_ms(uint64_t v) & { return check(jwks_options_set_max_stale_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use max_stale(std::chrono::milliseconds)")]] Options max_stale_ms(uint64_t v) && { max_stale(std::chrono::milliseconds(v)); return std::move(*this); }
    Options &failure_backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max) & {
        if (initial.count() < 0 || max.count() < 0) return fail(Error(JWKS_ERR_INVALID_ARGUMENT, "failure_backoff must not be negative")), *this;
        return check(jwks_options_set_failure_backoff_ms(o_.get(), static_cast<uint64_t>(initial.count()), static_cast<uint64_t>(max.count()), &e_)), *this;
    }
    Options failure_backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max) && { failure_backoff(initial, max); return std::move(*this); }
    [[deprecated("use failure_backoff(std::chrono::milliseconds, std::chrono::milliseconds)")]] Options &failure_backoff_ms(uint64_t initial, uint64_t max) & {
        return check(jwks_options_set_failure_backoff_ms(o_.get(), initial, max, &e_)), *this;
    }
    [[deprecated("use failure_backoff(std::chrono::milliseconds, std::chrono::milliseconds)")]] Options failure_backoff_ms(uint64_t initial, uint64_t max) && { failure_backoff(std::chrono::milliseconds(initial), std::chrono::milliseconds(max)); return std::move(*this); }
    Options &honor_cache_headers(bool v) & { return check(jwks_options_set_honor_cache_headers(o_.get(), v, &e_)), *this; }
    Options honor_cache_headers(bool v) && { honor_cache_headers(v); return std::move(*this); }
    Options &lifespan_bounds(std::chrono::milliseconds min, std::chrono::milliseconds max) & {
        if (min.count() < 0 || max.count() < 0) return fail(Error(JWKS_ERR_INVALID_ARGUMENT, "lifespan_bounds must not be negative")), *this;
        return check(jwks_options_set_lifespan_bounds_ms(o_.get(), static_cast<uint64_t>(min.count()), static_cast<uint64_t>(max.count()), &e_)), *this;
    }
    Options lifespan_bounds(std::chrono::milliseconds min, std::chrono::milliseconds max) && { lifespan_bounds(min, max); return std::move(*this); }
    [[deprecated("use lifespan_bounds(std::chrono::milliseconds, std::chrono::milliseconds)")]] Options &lifespan_bounds_ms(uint64_t min, uint64_t max) & { return check(jwks_options_set_lifespan_bounds_ms(o_.get(), min, max, &e_)), *this; }
    [[deprecated("use lifespan_bounds(std::chrono::milliseconds, std::chrono::milliseconds)")]] Options lifespan_bounds_ms(uint64_t min, uint64_t max) && { lifespan_bounds(std::chrono::milliseconds(min), std::chrono::milliseconds(max)); return std::move(*this); }
    Options &refresh_jitter(double fraction) & { return check(jwks_options_set_refresh_jitter(o_.get(), fraction, &e_)), *this; }
    Options refresh_jitter(double fraction) && { refresh_jitter(fraction); return std::move(*this); }
    /// A key set held instead of fetched (jwt_authn's local_jwks): the JWK Set's JSON, parsed
    /// when the client is made, never refreshed; a kid it lacks is KEY_NOT_FOUND at once.
    /// Excludes uri() and discovery.
    Options &local_jwks(std::string_view json) & { return check(jwks_options_set_local_jwks(o_.get(), json.data(), json.size(), &e_)), *this; }
    Options local_jwks(std::string_view json) && { local_jwks(json); return std::move(*this); }
    /// local_jwks() read from a file when the client is made (NGINX Plus's auth_jwt_key_file):
    /// a regular file of root or this process's user, not writable by group or others.
    Options &local_jwks_file(std::string_view path) & { return check(jwks_options_set_local_jwks_file(o_.get(), path.data(), path.size(), &e_)), *this; }
    Options local_jwks_file(std::string_view path) && { local_jwks_file(path); return std::move(*this); }
    Options &persist_dir(std::string_view v) & { return check(jwks_options_set_persist_dir(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options persist_dir(std::string_view v) && { persist_dir(v); return std::move(*this); }
    Options &refresh_ahead(bool v) & { return check(jwks_options_set_refresh_ahead(o_.get(), v, &e_)), *this; }
    Options refresh_ahead(bool v) && { refresh_ahead(v); return std::move(*this); }
    Options &background_refresh(bool v) & { return check(jwks_options_set_background_refresh(o_.get(), v, &e_)), *this; }
    Options background_refresh(bool v) && { background_refresh(v); return std::move(*this); }

    // Tokens
    Options &max_token_bytes(size_t v) & { return check(jwks_options_set_max_token_bytes(o_.get(), v, &e_)), *this; }
    Options max_token_bytes(size_t v) && { max_token_bytes(v); return std::move(*this); }
    Options &allow_missing_kid(bool v) & { return check(jwks_options_set_allow_missing_kid(o_.get(), v, &e_)), *this; }
    Options allow_missing_kid(bool v) && { allow_missing_kid(v); return std::move(*this); }
    Options &leeway(std::chrono::milliseconds v) & {
        return duration(v, "leeway", [&](uint64_t ms) { return jwks_options_set_leeway_ms(o_.get(), ms, &e_); }), *this;
    }
    Options leeway(std::chrono::milliseconds v) && { leeway(v); return std::move(*this); }
    [[deprecated("use leeway(std::chrono::milliseconds)")]] Options &leeway_ms(uint64_t v) & { return check(jwks_options_set_leeway_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use leeway(std::chrono::milliseconds)")]] Options leeway_ms(uint64_t v) && { leeway(std::chrono::milliseconds(v)); return std::move(*this); }
    Options &verify_exp(bool v) & { return check(jwks_options_set_verify_exp(o_.get(), v, &e_)), *this; }
    Options verify_exp(bool v) && { verify_exp(v); return std::move(*this); }
    Options &verify_nbf(bool v) & { return check(jwks_options_set_verify_nbf(o_.get(), v, &e_)), *this; }
    Options verify_nbf(bool v) && { verify_nbf(v); return std::move(*this); }
    Options &verify_iat(bool v) & { return check(jwks_options_set_verify_iat(o_.get(), v, &e_)), *this; }
    Options verify_iat(bool v) && { verify_iat(v); return std::move(*this); }
    Options &verify_aud(bool v) & { return check(jwks_options_set_verify_aud(o_.get(), v, &e_)), *this; }
    Options verify_aud(bool v) && { verify_aud(v); return std::move(*this); }
    Options &verify_iss(bool v) & { return check(jwks_options_set_verify_iss(o_.get(), v, &e_)), *this; }
    Options verify_iss(bool v) && { verify_iss(v); return std::move(*this); }
    Options &audience(std::string_view v) & { return check(jwks_options_add_audience(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options audience(std::string_view v) && { audience(v); return std::move(*this); }
    Options &issuer(std::string_view v) & { return check(jwks_options_set_issuer(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options issuer(std::string_view v) && { issuer(v); return std::move(*this); }
    /// Comma- or space-separated, e.g. "RS256,ES256".
    Options &algorithms(std::string_view v) & { return check(jwks_options_set_algorithms(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options algorithms(std::string_view v) && { algorithms(v); return std::move(*this); }
    Options &typ(std::string_view v) & { return check(jwks_options_add_typ(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options typ(std::string_view v) && { typ(v); return std::move(*this); }
    Options &required_claim(std::string_view v) & { return check(jwks_options_add_required_claim(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options required_claim(std::string_view v) && { required_claim(v); return std::move(*this); }

    // Discovery (a client without uri())
    Options &allowed_issuer(std::string_view v) & { return check(jwks_options_add_allowed_issuer(o_.get(), v.data(), v.size(), &e_)), *this; }
    Options allowed_issuer(std::string_view v) && { allowed_issuer(v); return std::move(*this); }
    /// DANGER: any issuer named by a token is fetched from (SSRF); see jwks.h.
    Options &allow_any_issuer(bool v) & { return check(jwks_options_set_allow_any_issuer(o_.get(), v, &e_)), *this; }
    Options allow_any_issuer(bool v) && { allow_any_issuer(v); return std::move(*this); }
    Options &discovery_config_path(std::string_view v) & {
        return check(jwks_options_set_discovery_config_path(o_.get(), v.data(), v.size(), &e_)), *this;
    }
    Options discovery_config_path(std::string_view v) && { discovery_config_path(v); return std::move(*this); }
    Options &static_issuer(std::string_view issuer, std::string_view jwks_uri) & {
        return check(jwks_options_add_static_issuer(o_.get(), issuer.data(), issuer.size(), jwks_uri.data(), jwks_uri.size(), &e_)), *this;
    }
    Options static_issuer(std::string_view issuer, std::string_view jwks_uri) && { static_issuer(issuer, jwks_uri); return std::move(*this); }
    Options &max_issuers(size_t v) & { return check(jwks_options_set_max_issuers(o_.get(), v, &e_)), *this; }
    Options max_issuers(size_t v) && { max_issuers(v); return std::move(*this); }
    Options &issuer_ttl(std::chrono::milliseconds v) & {
        return duration(v, "issuer_ttl", [&](uint64_t ms) { return jwks_options_set_issuer_ttl_ms(o_.get(), ms, &e_); }), *this;
    }
    Options issuer_ttl(std::chrono::milliseconds v) && { issuer_ttl(v); return std::move(*this); }
    [[deprecated("use issuer_ttl(std::chrono::milliseconds)")]] Options &issuer_ttl_ms(uint64_t v) & { return check(jwks_options_set_issuer_ttl_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use issuer_ttl(std::chrono::milliseconds)")]] Options issuer_ttl_ms(uint64_t v) && { issuer_ttl(std::chrono::milliseconds(v)); return std::move(*this); }
    Options &issuer_min_refetch_interval(std::chrono::milliseconds v) & {
        return duration(v, "issuer_min_refetch_interval", [&](uint64_t ms) { return jwks_options_set_issuer_min_refetch_interval_ms(o_.get(), ms, &e_); }), *this;
    }
    Options issuer_min_refetch_interval(std::chrono::milliseconds v) && { issuer_min_refetch_interval(v); return std::move(*this); }
    [[deprecated("use issuer_min_refetch_interval(std::chrono::milliseconds)")]] Options &issuer_min_refetch_interval_ms(uint64_t v) & {
        return check(jwks_options_set_issuer_min_refetch_interval_ms(o_.get(), v, &e_)), *this;
    }
    [[deprecated("use issuer_min_refetch_interval(std::chrono::milliseconds)")]] Options issuer_min_refetch_interval_ms(uint64_t v) && { issuer_min_refetch_interval(std::chrono::milliseconds(v)); return std::move(*this); }

    const jwks_options *get() const noexcept { return o_.get(); }

private:
    std::unique_ptr<jwks_options, detail::OptionsDeleter> o_;
};

/// Per-call settings for verify: each one set replaces the client's; algorithms can only
/// narrow the client's list. May be shared by concurrent verifications once finished.
class VerifyOptions : public detail::Builder {
public:
    VerifyOptions() : o_(jwks_verify_options_new()) {}
    VerifyOptions &leeway(std::chrono::milliseconds v) & {
        return duration(v, "leeway", [&](uint64_t ms) { return jwks_verify_options_set_leeway_ms(o_.get(), ms, &e_); }), *this;
    }
    VerifyOptions leeway(std::chrono::milliseconds v) && { leeway(v); return std::move(*this); }
    [[deprecated("use leeway(std::chrono::milliseconds)")]] VerifyOptions &leeway_ms(uint64_t v) & { return check(jwks_verify_options_set_leeway_ms(o_.get(), v, &e_)), *this; }
    [[deprecated("use leeway(std::chrono::milliseconds)")]] VerifyOptions leeway_ms(uint64_t v) && { leeway(std::chrono::milliseconds(v)); return std::move(*this); }
    VerifyOptions &verify_exp(bool v) & { return check(jwks_verify_options_set_verify_exp(o_.get(), v, &e_)), *this; }
    VerifyOptions verify_exp(bool v) && { verify_exp(v); return std::move(*this); }
    VerifyOptions &verify_nbf(bool v) & { return check(jwks_verify_options_set_verify_nbf(o_.get(), v, &e_)), *this; }
    VerifyOptions verify_nbf(bool v) && { verify_nbf(v); return std::move(*this); }
    VerifyOptions &verify_iat(bool v) & { return check(jwks_verify_options_set_verify_iat(o_.get(), v, &e_)), *this; }
    VerifyOptions verify_iat(bool v) && { verify_iat(v); return std::move(*this); }
    VerifyOptions &verify_aud(bool v) & { return check(jwks_verify_options_set_verify_aud(o_.get(), v, &e_)), *this; }
    VerifyOptions verify_aud(bool v) && { verify_aud(v); return std::move(*this); }
    VerifyOptions &verify_iss(bool v) & { return check(jwks_verify_options_set_verify_iss(o_.get(), v, &e_)), *this; }
    VerifyOptions verify_iss(bool v) && { verify_iss(v); return std::move(*this); }
    VerifyOptions &audience(std::string_view v) & { return check(jwks_verify_options_add_audience(o_.get(), v.data(), v.size(), &e_)), *this; }
    VerifyOptions audience(std::string_view v) && { audience(v); return std::move(*this); }
    VerifyOptions &issuer(std::string_view v) & { return check(jwks_verify_options_set_issuer(o_.get(), v.data(), v.size(), &e_)), *this; }
    VerifyOptions issuer(std::string_view v) && { issuer(v); return std::move(*this); }
    VerifyOptions &algorithms(std::string_view v) & { return check(jwks_verify_options_set_algorithms(o_.get(), v.data(), v.size(), &e_)), *this; }
    VerifyOptions algorithms(std::string_view v) && { algorithms(v); return std::move(*this); }
    VerifyOptions &typ(std::string_view v) & { return check(jwks_verify_options_add_typ(o_.get(), v.data(), v.size(), &e_)), *this; }
    VerifyOptions typ(std::string_view v) && { typ(v); return std::move(*this); }
    VerifyOptions &required_claim(std::string_view v) & {
        return check(jwks_verify_options_add_required_claim(o_.get(), v.data(), v.size(), &e_)), *this;
    }
    VerifyOptions required_claim(std::string_view v) && { required_claim(v); return std::move(*this); }
    const jwks_verify_options *get() const noexcept { return o_.get(); }

private:
    std::unique_ptr<jwks_verify_options, detail::VerifyOptionsDeleter> o_;
};

/// A JWKS client with a fixed JWKS URL or in discovery mode. Share one between threads (every
/// method is thread-safe). Move-only. "Blocking" calls may wait on an HTTP fetch when the cache
/// cannot answer; the non-blocking and async calls never do. After fork() (without exec) a
/// client inherited by the child answers JWKS_ERR_FORKED there, and its destructor touches
/// nothing of the parent's threads (jwks_client_free leaks it deliberately): make clients in
/// the child after forking.
class Client {
public:
#if JWKS_HPP_EXCEPTIONS
    /// Throws Error when the options are invalid.
    explicit Client(const Options &options) : Client(create(options).value()) {}
#endif

    /// Makes a client, or the options' (or jwks_client_new's) error.
    static Result<Client> create(const Options &options) {
        if (options.error()) return *options.error();
        jwks_client *raw = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_new(options.get(), &raw, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return Client(raw);
    }

    // --- The non-throwing forms ---

    /// Verifies a token (blocking). `options` overrides the client's settings for this call.
    Result<Verified> try_verify(std::string_view token, const VerifyOptions *options = nullptr) const {
        return token_call(options, [&](jwks_token **t, jwks_error **e) {
            return jwks_client_verify(c_.get(), token.data(), token.size(), raw(options), t, e);
        });
    }
    /// Verifies from the cache only: the Verified value, or an Error whose pending() is true
    /// after a fetch was started in the background (ask again later). Never blocks.
    Result<Verified> verify_nonblocking(std::string_view token, const VerifyOptions *options = nullptr) const {
        return token_call(options, [&](jwks_token **t, jwks_error **e) {
            return jwks_client_verify_nonblocking(c_.get(), token.data(), token.size(), raw(options), t, e);
        });
    }
    /// The signing key with this kid (fixed-URL clients; blocking).
    Result<Key> try_signing_key(std::string_view kid) const {
        return key_call([&](jwks_key **k, jwks_error **e) {
            return jwks_client_get_signing_key(c_.get(), kid.data(), kid.size(), k, e);
        });
    }
    /// The key named by a token's kid (and iss in discovery mode). The token is NOT verified.
    Result<Key> try_signing_key_from_jwt(std::string_view token) const {
        return key_call([&](jwks_key **k, jwks_error **e) {
            return jwks_client_get_signing_key_from_jwt(c_.get(), token.data(), token.size(), k, e);
        });
    }
    /// Discovery mode: an allowed issuer's key with this kid (blocking).
    Result<Key> try_signing_key_for_issuer(std::string_view issuer, std::string_view kid) const {
        return key_call([&](jwks_key **k, jwks_error **e) {
            return jwks_client_get_signing_key_for_issuer(c_.get(), issuer.data(), issuer.size(), kid.data(), kid.size(), k, e);
        });
    }
    /// The signing key from the cache only; pending() after starting a fetch. Never blocks.
    Result<Key> signing_key_nonblocking(std::string_view kid) const {
        return key_call([&](jwks_key **k, jwks_error **e) {
            return jwks_client_get_signing_key_nonblocking(c_.get(), kid.data(), kid.size(), k, e);
        });
    }
    /// The usable signing keys (fixed-URL clients; blocking); NO_SIGNING_KEYS when none.
    Result<KeySet> try_signing_keys(bool refresh = false) const {
        return set_call([&](jwks_key_set **s, jwks_error **e) { return jwks_client_get_signing_keys(c_.get(), refresh, s, e); });
    }
    /// The JWK Set, from the cache unless stale or `refresh` (fixed-URL clients; blocking).
    Result<KeySet> try_jwk_set(bool refresh = false) const {
        return set_call([&](jwks_key_set **s, jwks_error **e) { return jwks_client_get_jwk_set(c_.get(), refresh, s, e); });
    }
    /// Discovery mode: an allowed issuer's JWK Set (blocking).
    Result<KeySet> try_jwk_set_for_issuer(std::string_view issuer, bool refresh = false) const {
        return set_call([&](jwks_key_set **s, jwks_error **e) {
            return jwks_client_get_jwk_set_for_issuer(c_.get(), issuer.data(), issuer.size(), refresh, s, e);
        });
    }
    /// Fetches the JWKS now (one request, shared with concurrent fetches); KeySet::json() is
    /// the raw text (blocking).
    Result<KeySet> try_fetch_data() const {
        return set_call([&](jwks_key_set **s, jwks_error **e) { return jwks_client_fetch_data(c_.get(), s, e); });
    }
    /// Fetches every configured source now; the first failure after trying all (blocking).
    Result<void> try_warm_up() const {
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_warm_up(c_.get(), &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return {};
    }
    /// The client's counters.
    Result<jwks_stats> try_stats() const {
        jwks_stats st{};
        st.size = sizeof st;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_stats(c_.get(), &st, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return st;
    }
    /// The descriptor that is readable while poll() has completions (owned by the client).
    Result<int> try_completion_fd() const {
        int fd = -1;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_completion_fd(c_.get(), &fd, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return fd;
    }

    // --- Asynchronous calls (never block, never throw jwks::Error) ---
    //
    // `callback` is any callable taking Result<T> (move-only ones too). It runs on a library
    // thread, at most once, and must not block for long; exceptions it throws are swallowed
    // (they cannot cross into C). Keep the returned Request alive until it has run: destroying
    // the Request cancels.

    template <typename F>
    Async<Verified> verify_async(std::string_view token, F &&callback, const VerifyOptions *options = nullptr) const {
        if (options && options->error()) return *options->error();
        return start<Verified, jwks_token>(std::forward<F>(callback), [&](auto cb, void *ud, jwks_token **out, jwks_request **r, jwks_error **e) {
            return jwks_client_verify_async(c_.get(), token.data(), token.size(), raw(options), cb, ud, out, r, e);
        });
    }
    template <typename F>
    Async<Key> signing_key_async(std::string_view kid, F &&callback) const {
        return start<Key, jwks_key>(std::forward<F>(callback), [&](auto cb, void *ud, jwks_key **out, jwks_request **r, jwks_error **e) {
            return jwks_client_get_signing_key_async(c_.get(), kid.data(), kid.size(), cb, ud, out, r, e);
        });
    }
    template <typename F>
    Async<Key> signing_key_from_jwt_async(std::string_view token, F &&callback) const {
        return start<Key, jwks_key>(std::forward<F>(callback), [&](auto cb, void *ud, jwks_key **out, jwks_request **r, jwks_error **e) {
            return jwks_client_get_signing_key_from_jwt_async(c_.get(), token.data(), token.size(), cb, ud, out, r, e);
        });
    }
    template <typename F>
    Async<KeySet> jwk_set_async(bool refresh, F &&callback) const {
        return start<KeySet, jwks_key_set>(std::forward<F>(callback), [&](auto cb, void *ud, jwks_key_set **out, jwks_request **r, jwks_error **e) {
            return jwks_client_get_jwk_set_async(c_.get(), refresh, cb, ud, out, r, e);
        });
    }

    /// For event loops that want results on their own thread: a pending verification's result
    /// is queued with `tag` and completion_fd() becomes readable; collect it with poll().
    Async<Verified> verify_async_queued(std::string_view token, uint64_t tag, const VerifyOptions *options = nullptr) const {
        if (options && options->error()) return *options->error();
        jwks_token *t = nullptr;
        jwks_request *r = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = jwks_client_verify_async_queued(c_.get(), token.data(), token.size(), raw(options), tag, &t, &r, &e);
        if (s == JWKS_OK) return detail::wrap(t);
        if (s == JWKS_PENDING) return Request(r, nullptr);
        return detail::take(s, e);
    }
    /// One finished queued verification, or nullopt when none is waiting. Never blocks.
    std::optional<Completion> poll() const {
        uint64_t tag = 0;
        jwks_status status = JWKS_OK;
        jwks_token *t = nullptr;
        jwks_error *e = nullptr;
        if (jwks_client_poll(c_.get(), &tag, &status, &t, &e) != JWKS_OK) return std::nullopt;
        if (status == JWKS_OK) return Completion{tag, detail::wrap(t)};
        return Completion{tag, detail::take(status, e)};
    }

#if JWKS_HPP_EXCEPTIONS
    // --- The throwing forms: as the try_ forms, throwing Error ---

    Verified verify(std::string_view token) const { return try_verify(token).value(); }
    Verified verify(std::string_view token, const VerifyOptions &options) const { return try_verify(token, &options).value(); }
    Key signing_key(std::string_view kid) const { return try_signing_key(kid).value(); }
    Key signing_key_from_jwt(std::string_view token) const { return try_signing_key_from_jwt(token).value(); }
    Key signing_key_for_issuer(std::string_view issuer, std::string_view kid) const {
        return try_signing_key_for_issuer(issuer, kid).value();
    }
    KeySet signing_keys(bool refresh = false) const { return try_signing_keys(refresh).value(); }
    KeySet jwk_set(bool refresh = false) const { return try_jwk_set(refresh).value(); }
    KeySet jwk_set_for_issuer(std::string_view issuer, bool refresh = false) const {
        return try_jwk_set_for_issuer(issuer, refresh).value();
    }
    KeySet fetch_data() const { return try_fetch_data().value(); }
    void warm_up() const { try_warm_up().value(); }
    jwks_stats stats() const { return try_stats().value(); }
    int completion_fd() const { return try_completion_fd().value(); }
#endif

    const jwks_client *get() const noexcept { return c_.get(); }

private:
    explicit Client(jwks_client *raw) noexcept : c_(raw) {}

    static const jwks_verify_options *raw(const VerifyOptions *o) noexcept { return o ? o->get() : nullptr; }

    /// A verification: the options' recorded error (never silently dropped), or the call's result.
    template <typename Call>
    static Result<Verified> token_call(const VerifyOptions *options, Call call) {
        if (options && options->error()) return *options->error();
        jwks_token *t = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = call(&t, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return detail::wrap(t);
    }
    template <typename Call>
    static Result<Key> key_call(Call call) {
        jwks_key *k = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = call(&k, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return Key(k);
    }
    template <typename Call>
    static Result<KeySet> set_call(Call call) {
        jwks_key_set *set = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = call(&set, &e);
        if (s != JWKS_OK) return detail::take(s, e);
        return KeySet(set);
    }

    template <typename T, typename Raw, typename F, typename Start>
    static Async<T> start(F &&callback, Start start_call) {
        using Fn = std::decay_t<F>;
        static_assert(std::is_invocable_v<Fn &, Result<T>>, "the callback must be callable with jwks::Result<T>");
        if constexpr (std::is_constructible_v<bool, const Fn &>) {  // function pointers, std::function
            if (!static_cast<bool>(callback)) return Error(JWKS_ERR_INVALID_ARGUMENT, "the callback is empty");
        }
        auto box = std::make_unique<detail::Box<Fn>>(std::forward<F>(callback));
        Raw *out = nullptr;
        jwks_request *r = nullptr;
        jwks_error *e = nullptr;
        jwks_status s = start_call(&detail::trampoline<T, Raw, Fn>, box.get(), &out, &r, &e);
        if (s == JWKS_OK) return detail::wrap(out);
        if (s == JWKS_PENDING) return Request(r, std::move(box));
        return detail::take(s, e);
    }

    std::unique_ptr<jwks_client, detail::ClientDeleter> c_;
};

}  // inline namespace
}  // namespace jwks

#endif  // JWKS_HPP
