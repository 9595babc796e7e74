// A request through the filter: which requirement applies, each needed provider's token found
// and verified (at once from the cache, or on a library thread that commits the stream's
// scheduler), the requirement evaluated as jwt_authn does, and the request continued with
// each verified provider's headers and metadata, or answered.

#include "module.h"

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace jwks_envoy {

envoy_dynamic_module_type_module_buffer buf(const std::string &s) { return {s.data(), s.size()}; }

envoy_dynamic_module_type_module_buffer buf(const char *s) { return {s, std::strlen(s)}; }

void log(envoy_dynamic_module_type_log_level level, const std::string &message) {
    if (envoy_dynamic_module_callback_log_enabled(level)) {
        std::string line = "jwks: " + message;
        envoy_dynamic_module_callback_log(level, buf(line));
    }
}

namespace {

// As log, with the message made only when the level is on (rejections can come by the
// thousand).
template <typename Message>
void log_lazy(envoy_dynamic_module_type_log_level level, Message message) {
    if (envoy_dynamic_module_callback_log_enabled(level)) {
        log(level, message());
    }
}

}  // namespace

bool request_header(Filter *f, const std::string &name, std::string &out, size_t index,
                    size_t *count) {
    envoy_dynamic_module_type_envoy_buffer v = {nullptr, 0};
    size_t n = 0;
    bool found = envoy_dynamic_module_callback_http_get_header(
        f->envoy, envoy_dynamic_module_type_http_header_type_RequestHeader, buf(name), &v, index,
        &n);
    if (count) {
        *count = n;
    }
    if (!found || v.ptr == nullptr) {
        return false;
    }
    out.assign(v.ptr, v.length);
    return true;
}

void set_request_header(Filter *f, const std::string &name, const std::string &value) {
    envoy_dynamic_module_callback_http_set_header(
        f->envoy, envoy_dynamic_module_type_http_header_type_RequestHeader, buf(name), buf(value));
}

void remove_request_header(Filter *f, const std::string &name) {
    envoy_dynamic_module_callback_http_set_header(
        f->envoy, envoy_dynamic_module_type_http_header_type_RequestHeader, buf(name),
        envoy_dynamic_module_type_module_buffer{nullptr, 0});
}

std::string request_path(Filter *f) {
    envoy_dynamic_module_type_envoy_buffer p = {nullptr, 0};
    if (!envoy_dynamic_module_callback_http_filter_get_attribute_string(
            f->envoy, envoy_dynamic_module_type_attribute_id_RequestPath, &p) ||
        p.ptr == nullptr) {
        return "";
    }
    return std::string(p.ptr, p.length);
}

Filter::~Filter() {
    // Waits for a callback that is running: after this no library thread touches us.
    for (auto &a : attempts) {
        jwks_request_free(a.request);
        jwks_token_free(a.verified);
        jwks_error_free(a.error);
    }
    if (scheduler) {
        envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler);
    }
    if (state == State::kPending) {
        envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
            config->envoy, config->pending_gauge, nullptr, 0, 1);
    }
}

namespace {

const char *description(jwks_status s) {
    switch (s) {
    case JWKS_ERR_EXPIRED: return "the token has expired";
    case JWKS_ERR_NOT_YET_VALID: return "the token is not valid yet";
    case JWKS_ERR_BAD_SIGNATURE: return "the signature does not verify";
    case JWKS_ERR_KEY_NOT_FOUND: return "no key with the token's kid";
    case JWKS_ERR_MISSING_KID: return "the token has no kid";
    case JWKS_ERR_WRONG_AUDIENCE: return "the audience is not accepted";
    case JWKS_ERR_WRONG_ISSUER:
    case JWKS_ERR_ISSUER_NOT_ALLOWED: return "the issuer is not accepted";
    case JWKS_ERR_WRONG_TYP: return "the token type is not accepted";
    case JWKS_ERR_MISSING_CLAIM: return "a required claim is missing";
    case JWKS_ERR_UNSUPPORTED_ALGORITHM:
    case JWKS_ERR_ALGORITHM_NOT_ALLOWED: return "the algorithm is not accepted";
    case JWKS_ERR_UNSUPPORTED_CRITICAL: return "the token has unsupported critical headers";
    case JWKS_ERR_TOKEN_TOO_LARGE: return "the token is too large";
    default: return "the token is malformed";
    }
}

Counter rejection_counter(jwks_status s) {
    switch (s) {
    case JWKS_ERR_EXPIRED:
    case JWKS_ERR_NOT_YET_VALID: return kRejectedExpired;
    case JWKS_ERR_BAD_SIGNATURE: return kRejectedSignature;
    case JWKS_ERR_KEY_NOT_FOUND:
    case JWKS_ERR_MISSING_KID: return kRejectedUnknownKid;
    case JWKS_ERR_UNSUPPORTED_ALGORITHM:
    case JWKS_ERR_ALGORITHM_NOT_ALLOWED: return kRejectedAlgorithm;
    case JWKS_ERR_WRONG_AUDIENCE:
    case JWKS_ERR_WRONG_ISSUER:
    case JWKS_ERR_ISSUER_NOT_ALLOWED:
    case JWKS_ERR_WRONG_TYP:
    case JWKS_ERR_MISSING_CLAIM: return kRejectedClaims;
    default: return kRejectedMalformed;
    }
}

// 401 with an RFC 6750 challenge; no error attribute when no token was sent.
void reject(Filter *f, const char *error_description) {
    std::string challenge = "Bearer realm=\"" + f->config->realm + "\"";
    std::string body = "Jwt is missing";
    if (error_description) {
        challenge += ", error=\"invalid_token\", error_description=\"";
        challenge += error_description;
        challenge += "\"";
        body = std::string("Jwt verification fails: ") + error_description;
    }
    envoy_dynamic_module_type_module_http_header h = {"www-authenticate", 16, challenge.data(),
                                                      challenge.size()};
    envoy_dynamic_module_callback_http_send_response(f->envoy, 401, &h, 1, buf(body),
                                                     buf("jwks_rejected"));
}

// Characters of a compact JWS: base64url and two dots. Anything else is refused before the
// library sees it, so non-UTF-8 bytes are a 401, not an invalid-argument 500.
bool jws_shaped(const std::string &t) {
    for (char ch : t) {
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
              ch == '.')) {
            return false;
        }
    }
    return !t.empty();
}

// The headers a provider sets for a verified token: a request without one carries none of
// them, even if the client sent them, so a client cannot pose as a verified user.
void strip_identity_headers(Filter *f, const Provider &p) {
    if (!p.forward_payload_header.empty()) {
        remove_request_header(f, p.forward_payload_header);
    }
    for (const auto &ch : p.claim_to_headers) {
        remove_request_header(f, ch.header);
    }
}

void strip_all_identity_headers(Filter *f) {
    for (const auto &p : f->config->providers) {
        strip_identity_headers(f, *p);
    }
}

bool bypassed(Filter *f) {
    const Config *c = f->config;
    if (c->bypass_cors_preflight) {
        // A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method, as
        // jwt_authn's bypass_cors_preflight tells it.
        envoy_dynamic_module_type_envoy_buffer m = {nullptr, 0};
        std::string v;
        if (envoy_dynamic_module_callback_http_filter_get_attribute_string(
                f->envoy, envoy_dynamic_module_type_attribute_id_RequestMethod, &m) &&
            m.ptr && std::string(m.ptr, m.length) == "OPTIONS" && request_header(f, "origin", v) &&
            request_header(f, "access-control-request-method", v)) {
            return true;
        }
    }
    if (c->bypass.empty()) {
        return false;
    }
    std::string path = request_path(f);
    path = path.substr(0, path.find_first_of("?#"));
    for (const auto &b : c->bypass) {
        if (b.prefix ? path.compare(0, b.path.size(), b.path) == 0 : path == b.path) {
            return true;
        }
    }
    return false;
}

// The checks a requirement needs verified. allow_missing and allow_missing_or_failed look at
// every provider, as jwt_authn's do.
void needed_checks(const Config *c, const Requirement &r, std::vector<size_t> &out) {
    auto add = [&](size_t check) {
        for (size_t x : out) {
            if (x == check) return;
        }
        out.push_back(check);
    };
    switch (r.kind) {
    case Requirement::kProvider: add(r.check); break;
    case Requirement::kAny:
    case Requirement::kAll:
        for (const auto &child : r.children) needed_checks(c, child, out);
        break;
    case Requirement::kAllowMissing:
    case Requirement::kAllowMissingOrFailed:
        for (size_t i = 0; i < c->providers.size(); i++) add(i);
        break;
    }
}

// A requirement's (or an attempt's) outcome, worst last: the worse of two failures is the one
// an answer reports.
enum class Outcome { kOk, kMissing, kFailed, kUnavailable, kInternal };

struct Verdict {
    Outcome outcome = Outcome::kOk;
    const Attempt *attempt = nullptr;  // the failed attempt that answers, if any
};

Verdict worse(const Verdict &a, const Verdict &b) { return b.outcome > a.outcome ? b : a; }

Outcome outcome_of(const Attempt &a) {
    if (!a.found) return Outcome::kMissing;
    if (a.status == JWKS_OK) return a.refusal ? Outcome::kFailed : Outcome::kOk;
    switch (jwks_status_outcome(a.status)) {
    case JWKS_OUTCOME_KEYS_UNAVAILABLE: return Outcome::kUnavailable;
    case JWKS_OUTCOME_INTERNAL:
    case JWKS_OUTCOME_PENDING: return Outcome::kInternal;
    default: return Outcome::kFailed;
    }
}

const Attempt *attempt_for(const Filter *f, size_t check) {
    for (const auto &a : f->attempts) {
        if (a.check == check) return &a;
    }
    return nullptr;
}

Verdict evaluate(const Filter *f, const Requirement &r) {
    switch (r.kind) {
    case Requirement::kProvider: {
        const Attempt *a = attempt_for(f, r.check);
        return {a ? outcome_of(*a) : Outcome::kInternal, a};
    }
    case Requirement::kAllowMissingOrFailed: return {};
    case Requirement::kAllowMissing: {
        // No token anywhere passes; a token must verify with some provider.
        Verdict failure{Outcome::kMissing, nullptr};
        for (size_t i = 0; i < f->config->providers.size(); i++) {
            const Attempt *a = attempt_for(f, i);
            if (a && a->found) {
                if (outcome_of(*a) == Outcome::kOk) return {};
                if (failure.outcome == Outcome::kMissing) failure = {outcome_of(*a), a};
            }
        }
        return failure.outcome == Outcome::kMissing ? Verdict{} : failure;
    }
    case Requirement::kAny: {
        Verdict result{Outcome::kMissing, nullptr};
        bool first = true;
        for (const auto &child : r.children) {
            Verdict v = evaluate(f, child);
            if (v.outcome == Outcome::kOk) return v;
            result = first ? v : worse(result, v);
            first = false;
        }
        return result;
    }
    case Requirement::kAll: {
        Verdict result{};
        for (const auto &child : r.children) {
            result = worse(result, evaluate(f, child));
        }
        return result;
    }
    }
    return {Outcome::kInternal, nullptr};
}

// The provider's checks beyond the library's on a verified token: subjects and max_lifetime.
// NULL when they pass, else why not.
const char *provider_refusal(const Provider &p, const jwks_token *t) {
    auto claim = [t](const char *pointer, std::string &out) {
        size_t len = 0;
        if (jwks_token_claim(t, pointer, std::strlen(pointer), nullptr, 0, &len, nullptr) !=
            JWKS_OK) {
            return false;
        }
        out.resize(len);
        return jwks_token_claim(t, pointer, std::strlen(pointer), len ? &out[0] : nullptr, len,
                                &len, nullptr) == JWKS_OK;
    };
    std::string value;
    if (!p.subjects.empty()) {
        bool ok = claim("/sub", value);
        bool matched = false;
        for (const auto &m : p.subjects) {
            matched = matched || (ok && m.matches(value));
        }
        if (!matched) return "the subject is not accepted";
    }
    if (p.max_lifetime_s) {
        // The library required exp and checked it; the lifetime left must fit.
        if (!claim("/exp", value)) return "a required claim is missing";
        char *end = nullptr;
        double exp = std::strtod(value.c_str(), &end);
        double now = static_cast<double>(time(nullptr));
        if (end == value.c_str() || exp - now > static_cast<double>(p.max_lifetime_s)) {
            return "the token lives longer than max_lifetime";
        }
    }
    return nullptr;
}

// Sets what a verified token gives the request: the payload header, the claims' headers and
// the metadata. False when the request was answered (500).
bool set_identity(Filter *f, const Provider &p, const Attempt &a) {
    const Config *c = f->config;
    if (!p.forward_payload_header.empty()) {
        std::string payload = a.payload;
        if (p.pad_forward_payload_header) {
            payload.append((4 - payload.size() % 4) % 4, '=');
        }
        set_request_header(f, p.forward_payload_header, payload);
    }
    // Claims are user data (a display name may hold CR, LF or NUL): every value goes through
    // libjwks's header-safe rendering, the one rule the nginx module and the bindings use,
    // instead of relying on Envoy to refuse it. An absent claim removes the header; any
    // other failure answers 500, never an empty value.
    std::string value;
    for (const auto &ch : p.claim_to_headers) {
        size_t len = 0;
        jwks_error *e = nullptr;
        jwks_status s = jwks_token_header_value(a.verified, ch.pointer.data(), ch.pointer.size(),
                                                nullptr, 0, &len, &e);
        if (s == JWKS_OK) {
            value.resize(len);
            s = jwks_token_header_value(a.verified, ch.pointer.data(), ch.pointer.size(),
                                        value.empty() ? nullptr : &value[0], value.size(), &len,
                                        &e);
        }
        if (s == JWKS_OK && !value.empty()) {
            set_request_header(f, ch.header, value);
        } else if (s == JWKS_OK || s == JWKS_ERR_MISSING_CLAIM) {
            remove_request_header(f, ch.header);
        } else {
            c->count(kInternalError);
            log(envoy_dynamic_module_type_log_level_Error,
                "claim_to_headers " + ch.header + ": " +
                    (e ? jwks_error_message(e) : jwks_status_str(s)));
            jwks_error_free(e);
            envoy_dynamic_module_callback_http_send_response(
                f->envoy, 500, nullptr, 0, buf("internal error"), buf("jwks_internal_error"));
            return false;
        }
        jwks_error_free(e);
    }
    size_t len = 0;
    if (!p.payload_in_metadata.empty()) {
        const char *claims = jwks_token_claims(a.verified, &len);
        set_json_metadata(f, p.payload_in_metadata, claims, len);
    }
    if (!p.header_in_metadata.empty()) {
        const char *header = jwks_token_header_json(a.verified, &len);
        set_json_metadata(f, p.header_in_metadata, header, len);
    }
    return true;
}

// Each provider's failure (a token found that did not verify) into its
// failed_status_in_metadata, as jwt_authn writes it: whether the request then goes on
// (allow_missing_or_failed) or is answered, so access logs see it on a 401 as well.
void set_failed_statuses(Filter *f) {
    const Config *c = f->config;
    for (const auto &a : f->attempts) {
        const Provider &p = *c->providers[c->checks[a.check].provider];
        if (a.found && (a.status != JWKS_OK || a.refusal) && !p.failed_status_in_metadata.empty()) {
            set_failed_status_metadata(f, p.failed_status_in_metadata, static_cast<int>(a.status),
                                       a.refusal ? a.refusal
                                       : a.error ? jwks_error_message(a.error)
                                                 : description(a.status));
        }
    }
}

// Everything is answered: the requirement's verdict, and the request goes on (true) or is
// answered (false).
bool decide(Filter *f) {
    const Config *c = f->config;
    for (auto &a : f->attempts) {
        if (a.found && a.status == JWKS_OK && !a.refusal) {
            a.refusal = provider_refusal(*c->providers[c->checks[a.check].provider], a.verified);
        }
    }
    Verdict v = evaluate(f, *f->requirement);
    set_failed_statuses(f);
    switch (v.outcome) {
    case Outcome::kOk: break;
    case Outcome::kMissing:
        c->count(kRejectedMissing);
        reject(f, nullptr);
        return false;
    case Outcome::kFailed:
        c->count(v.attempt->refusal ? kRejectedClaims : rejection_counter(v.attempt->status));
        log_lazy(envoy_dynamic_module_type_log_level_Debug, [&v] {
            return std::string("token rejected: ") +
                   (v.attempt->refusal ? v.attempt->refusal
                    : v.attempt->error ? jwks_error_message(v.attempt->error)
                                       : "");
        });
        reject(f, v.attempt->refusal ? v.attempt->refusal : description(v.attempt->status));
        return false;
    case Outcome::kUnavailable:
        // The keys cannot be had (cold cache, IdP unreachable, the library's queue full): a
        // dependency is down, for now. Not the token's fault, so no 401; 503 tells clients to
        // retry.
        c->count(kKeysUnavailable);
        log(envoy_dynamic_module_type_log_level_Error,
            std::string("signing keys unavailable: ") +
                (v.attempt->error ? jwks_error_message(v.attempt->error)
                                  : jwks_status_str(v.attempt->status)));
        envoy_dynamic_module_callback_http_send_response(
            f->envoy, c->keys_unavailable_status, nullptr, 0, buf("signing keys unavailable"),
            buf("jwks_keys_unavailable"));
        return false;
    case Outcome::kInternal:
        c->count(kInternalError);
        log(envoy_dynamic_module_type_log_level_Error,
            v.attempt ? std::string(jwks_status_str(v.attempt->status)) + ": " +
                            (v.attempt->error ? jwks_error_message(v.attempt->error) : "")
                      : std::string("a requirement names a check with no attempt"));
        envoy_dynamic_module_callback_http_send_response(
            f->envoy, 500, nullptr, 0, buf("internal error"), buf("jwks_internal_error"));
        return false;
    }
    // The requirement is met: each verified provider's identity, and none of the others'.
    strip_all_identity_headers(f);
    bool verified = false, stale = false, failed = false;
    for (const auto &a : f->attempts) {
        const Provider &p = *c->providers[c->checks[a.check].provider];
        if (a.found && a.status == JWKS_OK && !a.refusal) {
            if (!set_identity(f, p, a)) {
                return false;
            }
            verified = true;
            stale = stale || jwks_token_stale(a.verified);
        } else if (a.found) {
            failed = true;  // its failed status is in the metadata already
        }
    }
    c->count(verified ? (stale ? kVerifiedStale : kVerified)
                      : failed ? kAllowedFailed
                               : kAllowedMissing);
    return true;
}

void on_verified(void *user_data, jwks_status status, jwks_token *token, jwks_error *error) {
    Pending *p = static_cast<Pending *>(user_data);
    Filter *f = p->filter;
    std::lock_guard<std::mutex> lock(f->mu);
    Attempt &a = f->attempts[p->attempt];
    a.answered = true;
    a.status = status;
    a.verified = token;
    a.error = error;
    if (f->state == State::kPending && f->scheduler) {
        for (const auto &other : f->attempts) {
            if (!other.answered) return;
        }
        envoy_dynamic_module_callback_http_filter_scheduler_commit(f->scheduler, 0);
    }
}

}  // namespace

envoy_dynamic_module_type_on_http_filter_request_headers_status on_request_headers(Filter *f) {
    using Status = envoy_dynamic_module_type_on_http_filter_request_headers_status;
    const Status go_on = envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue;
    const Status stop = envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration;
    const Config *c = f->config;

    auto route = static_cast<const RouteConfig *>(
        envoy_dynamic_module_callback_get_most_specific_route_config(f->envoy));
    if ((route && route->disabled) || bypassed(f)) {
        c->count(kBypassed);
        strip_all_identity_headers(f);
        return go_on;
    }
    if (!requirement_for(f, f->requirement)) {
        c->count(kInternalError);
        envoy_dynamic_module_callback_http_send_response(
            f->envoy, 500, nullptr, 0, buf("internal error"), buf("jwks_internal_error"));
        return stop;
    }
    if (f->requirement == nullptr) {
        // No rule applies: the request goes on unverified, without identity headers.
        c->count(kBypassed);
        strip_all_identity_headers(f);
        return go_on;
    }

    // Every needed provider's token is found before any header is removed: two providers may
    // read the same header.
    std::vector<size_t> checks;
    needed_checks(c, *f->requirement, checks);
    f->attempts.resize(checks.size());
    for (size_t i = 0; i < checks.size(); i++) {
        Attempt &a = f->attempts[i];
        a.check = checks[i];
        const Provider &p = *c->providers[c->checks[a.check].provider];
        bool several = false;
        a.found = find_token(f, p, a.token, a.header, several);
        a.answered = !a.found;
        if (several) {
            // jwt_authn verifies every token it finds; an unchecked second one could reach
            // the upstream, which may read that one. Refused whatever the first one is.
            a.refusal = "more than one token in the provider's locations";
        }
    }
    for (auto &a : f->attempts) {
        const Provider &p = *c->providers[c->checks[a.check].provider];
        if (a.found && !p.forward && !a.header.empty()) {
            remove_request_header(f, a.header);
        }
    }
    f->pending.reserve(f->attempts.size());
    for (size_t i = 0; i < f->attempts.size(); i++) {
        Attempt &a = f->attempts[i];
        if (!a.found) {
            continue;
        }
        if (!jws_shaped(a.token)) {
            a.status = JWKS_ERR_MALFORMED_TOKEN;
            a.answered = true;
            continue;
        }
        size_t dot = a.token.find('.');
        a.payload = a.token.substr(dot + 1, a.token.find('.', dot + 1) - dot - 1);
        const Check &check = c->checks[a.check];
        f->pending.push_back({f, i});
        jwks_token *out = nullptr;
        jwks_error *err = nullptr;
        jwks_request *request = nullptr;
        jwks_status s = jwks_client_verify_async(
            c->providers[check.provider]->client, a.token.data(), a.token.size(), check.verify,
            on_verified, &f->pending.back(), &out, &request, &err);
        std::lock_guard<std::mutex> lock(f->mu);
        a.request = request;
        if (s != JWKS_PENDING) {
            a.answered = true;
            a.status = s;
            a.verified = out;
            a.error = err;
        }
    }
    std::unique_lock<std::mutex> lock(f->mu);
    bool all = true;
    for (const auto &a : f->attempts) {
        all = all && a.answered;
    }
    if (all) {
        lock.unlock();
        f->state = State::kDone;
        return decide(f) ? go_on : stop;
    }
    f->scheduler = envoy_dynamic_module_callback_http_filter_scheduler_new(f->envoy);
    f->state = State::kPending;
    lock.unlock();
    c->count(kPending);
    envoy_dynamic_module_callback_http_filter_config_increment_gauge(c->envoy, c->pending_gauge,
                                                                     nullptr, 0, 1);
    return envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndWatermark;
}

void on_scheduled(Filter *f) {
    std::unique_lock<std::mutex> lock(f->mu);
    if (f->state != State::kPending) {
        return;
    }
    for (const auto &a : f->attempts) {
        if (!a.answered) return;
    }
    f->state = State::kDone;
    lock.unlock();
    envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
        f->config->envoy, f->config->pending_gauge, nullptr, 0, 1);
    if (decide(f)) {
        envoy_dynamic_module_callback_http_filter_continue_decoding(f->envoy);
    }
}

}  // namespace jwks_envoy
