// libjwks_envoy: a JWT authentication filter for stock Envoy, loaded as a dynamic module.
//
// It uses libjwks only through include/jwks.h and Envoy only through the ABI declared in
// envoy_abi.h (Envoy 1.40). See README.md for the configuration and the threading model:
//
// - The filter config (made on Envoy's main thread) owns one jwks_client, shared by every
//   worker; a jwks_client is thread-safe.
// - On request headers, jwks_client_verify_async either answers from the cache at once (the
//   request continues in the same call) or goes pending. A pending verification's callback
//   runs on a library thread: it stores the result and commits the stream's Envoy scheduler,
//   and Envoy then calls on_http_filter_scheduled on the stream's worker thread, which
//   continues the request or answers it.
// - jwks_request_free waits for a callback that is running, so once on_http_filter_destroy
//   has freed the request no library thread can touch the stream's state.
// - Nothing here blocks a worker: no blocking libjwks call is made outside the main thread.

#include "envoy_abi.h"

#include <jwks.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <strings.h>
#include <vector>

namespace {

using json = nlohmann::json;

envoy_dynamic_module_type_module_buffer buf(const std::string &s) {
    return {s.data(), s.size()};
}

envoy_dynamic_module_type_module_buffer buf(const char *s) {
    return {s, std::strlen(s)};
}

void log(envoy_dynamic_module_type_log_level level, const std::string &message) {
    if (envoy_dynamic_module_callback_log_enabled(level)) {
        std::string line = "jwks: " + message;
        envoy_dynamic_module_callback_log(level, buf(line));
    }
}

// As log, with the message made only when the level is on (rejections can come by the
// thousand).
template <typename Message>
void log_lazy(envoy_dynamic_module_type_log_level level, Message message) {
    if (envoy_dynamic_module_callback_log_enabled(level)) {
        log(level, message());
    }
}

// The library's log events (fetch failures, recoveries), into Envoy's log. They come from
// library threads; Envoy's logger is thread-safe.
void library_log(void *, int level, const char *message, size_t len) {
    envoy_dynamic_module_type_log_level l = level <= 1   ? envoy_dynamic_module_type_log_level_Error
                                            : level == 2 ? envoy_dynamic_module_type_log_level_Warn
                                            : level == 3 ? envoy_dynamic_module_type_log_level_Info
                                                         : envoy_dynamic_module_type_log_level_Debug;
    log(l, std::string(message, len));
}

// Counters, named "<filter_name>.<name>" under Envoy's metrics namespace for dynamic modules
// (dynamicmodulescustom by default).
enum Counter {
    kVerified,
    kVerifiedStale,
    kPending,
    kBypassed,
    kAllowedMissing,
    kAllowedFailed,
    kRejectedMissing,
    kRejectedMalformed,
    kRejectedExpired,
    kRejectedSignature,
    kRejectedUnknownKid,
    kRejectedAlgorithm,
    kRejectedClaims,
    kKeysUnavailable,
    kInternalError,
    kCounters,
};

const char *const kCounterNames[kCounters] = {
    "verified",           "verified_stale",     "pending",
    "bypassed",           "allowed_missing",    "allowed_failed",
    "rejected_missing",   "rejected_malformed", "rejected_expired",
    "rejected_signature", "rejected_unknown_kid", "rejected_algorithm",
    "rejected_claims",    "keys_unavailable",   "internal_error",
};

enum class Requirement { kRequired, kAllowMissing, kAllowMissingOrFailed };

struct TokenHeader {
    std::string name;    // lower case
    std::string prefix;  // lower case, matched without regard to case; may be empty
};

struct ClaimHeader {
    std::string header;
    std::string pointer;  // RFC 6901
};

struct Bypass {
    bool prefix;
    std::string path;
};

struct Config {
    envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy = nullptr;
    jwks_client *client = nullptr;
    std::vector<TokenHeader> from_headers;
    bool forward = false;
    std::string forward_payload_header;
    std::vector<ClaimHeader> claim_to_headers;
    std::vector<Bypass> bypass;
    Requirement requirement = Requirement::kRequired;
    std::string realm;
    uint32_t keys_unavailable_status = 503;
    size_t counters[kCounters] = {};
    size_t pending_gauge = 0;

    ~Config() { jwks_client_free(client); }

    void count(Counter c) const {
        envoy_dynamic_module_callback_http_filter_config_increment_counter(envoy, counters[c],
                                                                           nullptr, 0, 1);
    }
};

struct RouteConfig {
    bool disabled = false;
};

// ---------------------------------------------------------------------------------------
// Configuration (JSON): refused at load with a message naming the field.

struct ConfigError {
    std::string message;
};

[[noreturn]] void refuse(const std::string &message) { throw ConfigError{message}; }

void only_keys(const json &j, const std::string &where, std::initializer_list<const char *> keys) {
    if (!j.is_object()) {
        refuse(where + " must be an object");
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool known = false;
        for (const char *k : keys) {
            known = known || it.key() == k;
        }
        if (!known) {
            refuse("unknown field \"" + it.key() + "\" in " + where);
        }
    }
}

std::string text(const json &j, const std::string &field) {
    if (!j.is_string() || j.get_ref<const std::string &>().empty()) {
        refuse(field + " must be a non-empty string");
    }
    return j.get<std::string>();
}

std::vector<std::string> texts(const json &j, const std::string &field) {
    if (!j.is_array()) {
        refuse(field + " must be an array of strings");
    }
    std::vector<std::string> out;
    for (const auto &v : j) {
        out.push_back(text(v, field + "[]"));
    }
    return out;
}

bool flag(const json &j, const std::string &field) {
    if (!j.is_boolean()) {
        refuse(field + " must be true or false");
    }
    return j.get<bool>();
}

// A duration as protobuf JSON writes it ("5s", "0.250s") or a number of seconds; in ms.
uint64_t duration_ms(const json &j, const std::string &field) {
    double seconds = -1;
    if (j.is_number()) {
        seconds = j.get<double>();
    } else if (j.is_string()) {
        const std::string &s = j.get_ref<const std::string &>();
        if (s.size() >= 2 && s.back() == 's') {
            char *end = nullptr;
            errno = 0;
            double v = std::strtod(s.c_str(), &end);
            if (errno == 0 && end == s.c_str() + s.size() - 1) {
                seconds = v;
            }
        }
    }
    if (!(seconds >= 0) || !std::isfinite(seconds) || seconds > 1e9) {
        refuse(field + " must be a duration such as \"5s\" or \"0.5s\"");
    }
    return static_cast<uint64_t>(std::llround(seconds * 1000));
}

std::string lower(std::string s) {
    for (char &c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

// A claim name as jwt_authn writes it ("sub", "org.id": dots for nesting), or an RFC 6901
// pointer ("/https:~1~1example.com~1roles"), as a pointer.
std::string claim_pointer(const std::string &claim) {
    if (claim[0] == '/') {
        return claim;
    }
    std::string p = "/";
    for (char c : claim) {
        if (c == '.') {
            p += '/';
        } else if (c == '~') {
            p += "~0";
        } else if (c == '/') {
            p += "~1";
        } else {
            p += c;
        }
    }
    return p;
}

// claim_pointer, refused at config load unless libjwks takes it as an RFC 6901 pointer (asked
// of an empty object, a pointer libjwks accepts can only be missing).
std::string checked_claim_pointer(const std::string &claim) {
    std::string p = claim_pointer(claim);
    size_t len = 0;
    jwks_error *err = nullptr;
    jwks_status s = jwks_claims_header_value("{}", 2, p.data(), p.size(), nullptr, 0, &len, &err);
    std::string message = err ? jwks_error_message(err) : "";
    jwks_error_free(err);
    if (s == JWKS_ERR_INVALID_ARGUMENT) {
        refuse("claim_to_headers[].claim_name \"" + claim + "\": " + message);
    }
    return p;
}

// Throws ConfigError when libjwks refuses a setting. `err` is taken by reference: it is read
// after the call that sets it (argument evaluation order would not guarantee that).
void check(jwks_status s, jwks_error *&err) {
    if (s != JWKS_OK) {
        std::string message = err ? jwks_error_message(err) : jwks_status_str(s);
        jwks_error_free(err);
        refuse(message);
    }
}

struct Options {
    jwks_options *o = jwks_options_new();
    ~Options() { jwks_options_free(o); }
};

void parse_config(const std::string &filter_name, const std::string &bytes, Config &c) {
    json j = json::parse(bytes.empty() ? std::string("{}") : bytes);
    only_keys(j, "the filter config",
              {"issuer", "remote_jwks", "discovery_issuers", "audiences", "algorithms",
               "clock_skew_seconds", "from_headers", "forward", "forward_payload_header",
               "claim_to_headers", "bypass", "requirement", "realm", "ca_file", "persist_dir",
               "fetch_timeout", "keys_unavailable_status"});
    Options opts;
    jwks_options *o = opts.o;
    jwks_error *err = nullptr;

    // A parked request waits at most this long for keys (the nginx module's default too).
    check(jwks_options_set_timeout_ms(o, 10000, &err), err);

    bool remote = j.contains("remote_jwks"), discovery = j.contains("discovery_issuers");
    if (remote == discovery) {
        refuse("set exactly one key source: remote_jwks (a JWKS URI) or discovery_issuers "
               "(OpenID Connect discovery)");
    }
    if (remote) {
        const json &r = j["remote_jwks"];
        only_keys(r, "remote_jwks", {"http_uri", "cache_duration"});
        if (!r.contains("http_uri")) {
            refuse("remote_jwks.http_uri is required");
        }
        const json &h = r["http_uri"];
        only_keys(h, "remote_jwks.http_uri", {"uri", "cluster", "timeout"});
        if (!h.contains("uri")) {
            refuse("remote_jwks.http_uri.uri is required");
        }
        std::string uri = text(h["uri"], "remote_jwks.http_uri.uri");
        check(jwks_options_set_uri(o, uri.data(), uri.size(), &err), err);
        if (h.contains("cluster")) {
            log(envoy_dynamic_module_type_log_level_Warn,
                "remote_jwks.http_uri.cluster is ignored: libjwks fetches keys itself, outside "
                "Envoy's clusters (filter " + filter_name + ")");
        }
        if (h.contains("timeout")) {
            check(jwks_options_set_timeout_ms(
                      o, duration_ms(h["timeout"], "remote_jwks.http_uri.timeout"), &err),
                  err);
        }
        if (r.contains("cache_duration")) {
            // Absolute, as jwt_authn's: the IdP's Cache-Control does not stretch it.
            check(jwks_options_set_lifespan_ms(
                      o, duration_ms(r["cache_duration"], "remote_jwks.cache_duration"), &err),
                  err);
            check(jwks_options_set_honor_cache_headers(o, false, &err), err);
        }
        if (j.contains("issuer")) {
            std::string iss = text(j["issuer"], "issuer");
            check(jwks_options_set_issuer(o, iss.data(), iss.size(), &err), err);
        }
    } else {
        if (j.contains("issuer")) {
            refuse("issuer goes with remote_jwks; with discovery_issuers every listed issuer "
                   "is accepted and tokens are checked against their own");
        }
        std::vector<std::string> issuers = texts(j["discovery_issuers"], "discovery_issuers");
        if (issuers.empty()) {
            refuse("discovery_issuers must list at least one issuer");
        }
        for (const auto &iss : issuers) {
            check(jwks_options_add_allowed_issuer(o, iss.data(), iss.size(), &err), err);
        }
    }
    if (j.contains("audiences")) {
        for (const auto &aud : texts(j["audiences"], "audiences")) {
            check(jwks_options_add_audience(o, aud.data(), aud.size(), &err), err);
        }
    }
    if (j.contains("algorithms")) {
        std::string list;
        for (const auto &alg : texts(j["algorithms"], "algorithms")) {
            list += (list.empty() ? "" : ",") + alg;
        }
        check(jwks_options_set_algorithms(o, list.data(), list.size(), &err), err);
    }
    if (j.contains("clock_skew_seconds")) {
        const json &v = j["clock_skew_seconds"];
        if (!v.is_number_unsigned() || v.get<uint64_t>() > 86400) {
            refuse("clock_skew_seconds must be a whole number of seconds from 0 to 86400");
        }
        check(jwks_options_set_leeway_ms(o, v.get<uint64_t>() * 1000, &err), err);
    } else {
        // jwt_authn's default skew.
        check(jwks_options_set_leeway_ms(o, 60000, &err), err);
    }
    if (j.contains("ca_file")) {
        std::string f = text(j["ca_file"], "ca_file");
        check(jwks_options_add_ca_file(o, f.data(), f.size(), &err), err);
    }
    if (j.contains("persist_dir")) {
        std::string d = text(j["persist_dir"], "persist_dir");
        check(jwks_options_set_persist_dir(o, d.data(), d.size(), &err), err);
    }
    if (j.contains("fetch_timeout")) {
        check(jwks_options_set_timeout_ms(o, duration_ms(j["fetch_timeout"], "fetch_timeout"),
                                          &err),
              err);
    }
    check(jwks_options_set_log_callback(o, library_log, nullptr, 3, &err), err);

    if (j.contains("from_headers")) {
        const json &hs = j["from_headers"];
        if (!hs.is_array() || hs.empty()) {
            refuse("from_headers must be a non-empty array of {name, value_prefix}");
        }
        for (const auto &h : hs) {
            only_keys(h, "from_headers[]", {"name", "value_prefix"});
            if (!h.contains("name")) {
                refuse("from_headers[].name is required");
            }
            TokenHeader th{lower(text(h["name"], "from_headers[].name")), ""};
            if (h.contains("value_prefix")) {
                if (!h["value_prefix"].is_string()) {
                    refuse("from_headers[].value_prefix must be a string");
                }
                th.prefix = lower(h["value_prefix"].get<std::string>());
            }
            c.from_headers.push_back(th);
        }
    } else {
        c.from_headers.push_back({"authorization", "bearer "});
    }
    if (j.contains("forward")) {
        c.forward = flag(j["forward"], "forward");
    }
    if (j.contains("forward_payload_header")) {
        c.forward_payload_header =
            lower(text(j["forward_payload_header"], "forward_payload_header"));
    }
    if (j.contains("claim_to_headers")) {
        const json &cs = j["claim_to_headers"];
        if (!cs.is_array()) {
            refuse("claim_to_headers must be an array of {header_name, claim_name}");
        }
        for (const auto &ch : cs) {
            only_keys(ch, "claim_to_headers[]", {"header_name", "claim_name"});
            if (!ch.contains("header_name") || !ch.contains("claim_name")) {
                refuse("claim_to_headers[] needs header_name and claim_name");
            }
            c.claim_to_headers.push_back(
                {lower(text(ch["header_name"], "claim_to_headers[].header_name")),
                 checked_claim_pointer(text(ch["claim_name"], "claim_to_headers[].claim_name"))});
        }
    }
    if (j.contains("bypass")) {
        const json &bs = j["bypass"];
        if (!bs.is_array()) {
            refuse("bypass must be an array of {prefix} or {path}");
        }
        for (const auto &b : bs) {
            only_keys(b, "bypass[]", {"prefix", "path"});
            if (b.contains("prefix") == b.contains("path")) {
                refuse("each bypass[] entry has exactly one of prefix and path");
            }
            bool prefix = b.contains("prefix");
            std::string p = text(prefix ? b["prefix"] : b["path"], "bypass[]");
            if (p[0] != '/') {
                refuse("bypass paths start with /");
            }
            c.bypass.push_back({prefix, p});
        }
    }
    if (j.contains("requirement")) {
        std::string r = text(j["requirement"], "requirement");
        if (r == "required") {
            c.requirement = Requirement::kRequired;
        } else if (r == "allow_missing") {
            c.requirement = Requirement::kAllowMissing;
        } else if (r == "allow_missing_or_failed") {
            c.requirement = Requirement::kAllowMissingOrFailed;
        } else {
            refuse("requirement must be required, allow_missing or allow_missing_or_failed");
        }
    }
    c.realm = j.contains("realm") ? text(j["realm"], "realm") : filter_name;
    for (char ch : c.realm) {
        if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) {
            refuse("realm must not contain quotes, backslashes or control characters");
        }
    }
    if (j.contains("keys_unavailable_status")) {
        const json &s = j["keys_unavailable_status"];
        if (!s.is_number_unsigned() || s.get<uint64_t>() < 500 || s.get<uint64_t>() > 599) {
            refuse("keys_unavailable_status must be a 5xx status");
        }
        c.keys_unavailable_status = s.get<uint32_t>();
    }

    // Making a client fetches nothing and starts no thread (that waits for the first
    // verification), so it is safe on the main thread and in --mode validate.
    check(jwks_client_new(o, &c.client, &err), err);
}

// ---------------------------------------------------------------------------------------
// Requests

enum class State { kIdle, kPending, kDone };

struct Filter {
    const Config *config;
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy;
    State state = State::kIdle;
    jwks_request *request = nullptr;
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler = nullptr;
    std::string payload;  // the token's payload segment, for forward_payload_header

    // Written by the library's callback, read on the worker after `mu`.
    std::mutex mu;
    bool answered = false;
    jwks_status status = JWKS_OK;
    jwks_token *token = nullptr;
    jwks_error *error = nullptr;

    ~Filter() {
        // Waits for a callback that is running: after this no library thread touches us.
        jwks_request_free(request);
        jwks_token_free(token);
        jwks_error_free(error);
        if (scheduler) {
            envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler);
        }
        if (state == State::kPending) {
            envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
                config->envoy, config->pending_gauge, nullptr, 0, 1);
        }
    }
};

void on_verified(void *user_data, jwks_status status, jwks_token *token, jwks_error *error) {
    Filter *f = static_cast<Filter *>(user_data);
    std::lock_guard<std::mutex> lock(f->mu);
    f->answered = true;
    f->status = status;
    f->token = token;
    f->error = error;
    if (f->scheduler) {
        envoy_dynamic_module_callback_http_filter_scheduler_commit(f->scheduler, 0);
    }
}

bool request_header(Filter *f, const std::string &name, std::string &out) {
    envoy_dynamic_module_type_envoy_buffer v = {nullptr, 0};
    if (!envoy_dynamic_module_callback_http_get_header(
            f->envoy, envoy_dynamic_module_type_http_header_type_RequestHeader, buf(name), &v, 0,
            nullptr) ||
        v.ptr == nullptr) {
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

// A request that goes upstream without a verified token carries none of the headers the
// filter would have set: a client cannot pose as a verified user by sending them.
void strip_identity_headers(Filter *f) {
    if (!f->config->forward_payload_header.empty()) {
        remove_request_header(f, f->config->forward_payload_header);
    }
    for (const auto &ch : f->config->claim_to_headers) {
        remove_request_header(f, ch.header);
    }
}

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

void send_error(Filter *f, uint32_t status, const char *body, const char *details) {
    envoy_dynamic_module_callback_http_send_response(f->envoy, status, nullptr, 0, buf(body),
                                                     buf(details));
}

// The verification's outcome. True when the request goes on, false when it was answered.
bool finish(Filter *f, jwks_status status, jwks_token *token, jwks_error *error) {
    const Config *c = f->config;
    bool go_on = false;
    if (status == JWKS_OK) {
        c->count(jwks_token_stale(token) ? kVerifiedStale : kVerified);
        if (!c->forward_payload_header.empty()) {
            set_request_header(f, c->forward_payload_header, f->payload);
        }
        // Claims are user data (a display name may hold CR, LF or NUL): every value goes
        // through libjwks's header-safe rendering, the one rule the nginx module and the
        // bindings use, instead of relying on Envoy to refuse it. An absent claim removes
        // the header; any other failure answers 500, never an empty value.
        std::string value;
        go_on = true;
        for (const auto &ch : c->claim_to_headers) {
            size_t len = 0;
            jwks_error *e = nullptr;
            jwks_status s = jwks_token_header_value(token, ch.pointer.data(), ch.pointer.size(),
                                                    nullptr, 0, &len, &e);
            if (s == JWKS_OK) {
                value.resize(len);
                s = jwks_token_header_value(token, ch.pointer.data(), ch.pointer.size(),
                                            value.empty() ? nullptr : &value[0], value.size(),
                                            &len, &e);
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
                send_error(f, 500, "internal error", "jwks_internal_error");
                go_on = false;
            }
            jwks_error_free(e);
            if (!go_on) {
                break;
            }
        }
    } else {
        switch (jwks_status_outcome(status)) {
        // The keys cannot be had (cold cache, IdP unreachable, the library's queue full): a
        // dependency is down, for now. Not the token's fault, so no 401; 503 tells clients to
        // retry.
        case JWKS_OUTCOME_KEYS_UNAVAILABLE:
            c->count(kKeysUnavailable);
            log(envoy_dynamic_module_type_log_level_Error,
                std::string("signing keys unavailable: ") +
                    (error ? jwks_error_message(error) : jwks_status_str(status)));
            if (c->requirement == Requirement::kAllowMissingOrFailed) {
                c->count(kAllowedFailed);
                strip_identity_headers(f);
                go_on = true;
            } else {
                send_error(f, c->keys_unavailable_status, "signing keys unavailable",
                           "jwks_keys_unavailable");
            }
            break;
        case JWKS_OUTCOME_INTERNAL:
        case JWKS_OUTCOME_PENDING:  // never here: a pending call is answered by its callback
            c->count(kInternalError);
            log(envoy_dynamic_module_type_log_level_Error,
                std::string(jwks_status_str(status)) + ": " +
                    (error ? jwks_error_message(error) : ""));
            send_error(f, 500, "internal error", "jwks_internal_error");
            break;
        default:
            c->count(rejection_counter(status));
            log_lazy(envoy_dynamic_module_type_log_level_Debug, [error] {
                return std::string("token rejected: ") + (error ? jwks_error_message(error) : "");
            });
            if (c->requirement == Requirement::kAllowMissingOrFailed) {
                c->count(kAllowedFailed);
                strip_identity_headers(f);
                go_on = true;
            } else {
                reject(f, description(status));
            }
        }
    }
    jwks_token_free(token);
    jwks_error_free(error);
    return go_on;
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

bool bypassed(Filter *f) {
    if (f->config->bypass.empty()) {
        return false;
    }
    envoy_dynamic_module_type_envoy_buffer p = {nullptr, 0};
    if (!envoy_dynamic_module_callback_http_filter_get_attribute_string(
            f->envoy, envoy_dynamic_module_type_attribute_id_RequestPath, &p) ||
        p.ptr == nullptr) {
        return false;
    }
    std::string path(p.ptr, p.length);
    path = path.substr(0, path.find_first_of("?#"));
    for (const auto &b : f->config->bypass) {
        if (b.prefix ? path.compare(0, b.path.size(), b.path) == 0 : path == b.path) {
            return true;
        }
    }
    return false;
}

// The token from the first configured header that has one: (found, token, header).
bool find_token(Filter *f, std::string &token, std::string &header) {
    std::string value;
    for (const auto &h : f->config->from_headers) {
        if (!request_header(f, h.name, value)) {
            continue;
        }
        if (value.size() < h.prefix.size() ||
            strncasecmp(value.data(), h.prefix.data(), h.prefix.size()) != 0) {
            continue;
        }
        size_t start = h.prefix.size();
        // RFC 6750: "Bearer" 1*SP b64token.
        while (!h.prefix.empty() && h.prefix.back() == ' ' && start < value.size() &&
               value[start] == ' ') {
            start++;
        }
        token = value.substr(start);
        header = h.name;
        return true;
    }
    return false;
}

envoy_dynamic_module_type_on_http_filter_request_headers_status on_request_headers(Filter *f) {
    using Status = envoy_dynamic_module_type_on_http_filter_request_headers_status;
    const Status go_on = envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue;
    const Status stop = envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration;
    const Config *c = f->config;

    auto route = static_cast<const RouteConfig *>(
        envoy_dynamic_module_callback_get_most_specific_route_config(f->envoy));
    if ((route && route->disabled) || bypassed(f)) {
        c->count(kBypassed);
        strip_identity_headers(f);
        return go_on;
    }

    std::string token, header;
    if (!find_token(f, token, header)) {
        if (c->requirement != Requirement::kRequired) {
            c->count(kAllowedMissing);
            strip_identity_headers(f);
            return go_on;
        }
        c->count(kRejectedMissing);
        reject(f, nullptr);
        return stop;
    }
    if (!c->forward) {
        remove_request_header(f, header);
    }
    if (!jws_shaped(token)) {
        return finish(f, JWKS_ERR_MALFORMED_TOKEN, nullptr, nullptr) ? go_on : stop;
    }
    if (!c->forward_payload_header.empty()) {
        size_t dot = token.find('.');
        f->payload = token.substr(dot + 1, token.find('.', dot + 1) - dot - 1);
    }

    jwks_token *out = nullptr;
    jwks_error *err = nullptr;
    jwks_status s = jwks_client_verify_async(c->client, token.data(), token.size(), nullptr,
                                             on_verified, f, &out, &f->request, &err);
    if (s != JWKS_PENDING) {
        return finish(f, s, out, err) ? go_on : stop;
    }
    // Pending: the callback may already have run (it takes `mu`).
    std::unique_lock<std::mutex> lock(f->mu);
    if (f->answered) {
        jwks_token *t = f->token;
        jwks_error *e = f->error;
        f->token = nullptr;
        f->error = nullptr;
        lock.unlock();
        return finish(f, f->status, t, e) ? go_on : stop;
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
    if (f->state != State::kPending || !f->answered) {
        return;
    }
    jwks_token *t = f->token;
    jwks_error *e = f->error;
    jwks_status s = f->status;
    f->token = nullptr;
    f->error = nullptr;
    f->state = State::kDone;
    lock.unlock();
    envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
        f->config->envoy, f->config->pending_gauge, nullptr, 0, 1);
    if (finish(f, s, t, e)) {
        envoy_dynamic_module_callback_http_filter_continue_decoding(f->envoy);
    }
}

Filter *filter_of(envoy_dynamic_module_type_http_filter_module_ptr p) {
    return static_cast<Filter *>(const_cast<void *>(p));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The hooks Envoy resolves. None lets an exception out.

extern "C" {

__attribute__((visibility("default"))) const char *envoy_dynamic_module_on_program_init(void) {
    return JWKS_ENVOY_ABI_VERSION;
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_http_filter_config_module_ptr
envoy_dynamic_module_on_http_filter_config_new(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy,
    envoy_dynamic_module_type_envoy_buffer name, envoy_dynamic_module_type_envoy_buffer config) {
    std::string filter_name = name.length ? std::string(name.ptr, name.length) : "jwks";
    Config *c = nullptr;
    try {
        c = new Config();
        c->envoy = envoy;
        parse_config(filter_name, std::string(config.ptr ? config.ptr : "", config.length), *c);
        for (int i = 0; i < kCounters; i++) {
            std::string n = filter_name + "." + kCounterNames[i];
            if (envoy_dynamic_module_callback_http_filter_config_define_counter(
                    envoy, buf(n), nullptr, 0, &c->counters[i]) !=
                envoy_dynamic_module_type_metrics_result_Success) {
                refuse("cannot define the counter " + n);
            }
        }
        std::string g = filter_name + ".pending_now";
        if (envoy_dynamic_module_callback_http_filter_config_define_gauge(
                envoy, buf(g), nullptr, 0, &c->pending_gauge) !=
            envoy_dynamic_module_type_metrics_result_Success) {
            refuse("cannot define the gauge " + g);
        }
        return c;
    } catch (const ConfigError &e) {
        log(envoy_dynamic_module_type_log_level_Error,
            "bad filter config for " + filter_name + ": " + e.message);
    } catch (const json::exception &e) {
        log(envoy_dynamic_module_type_log_level_Error,
            "bad filter config for " + filter_name + ": not JSON: " + e.what());
    } catch (const std::exception &e) {
        log(envoy_dynamic_module_type_log_level_Error,
            "filter config for " + filter_name + ": " + e.what());
    }
    delete c;
    return nullptr;
}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_config_destroy(
    envoy_dynamic_module_type_http_filter_config_module_ptr config) {
    delete static_cast<const Config *>(config);
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_on_http_filter_per_route_config_new(envoy_dynamic_module_type_envoy_buffer name,
                                                         envoy_dynamic_module_type_envoy_buffer config) {
    (void)name;
    try {
        json j = json::parse(config.length ? std::string(config.ptr, config.length) : "{}");
        only_keys(j, "the per-route config", {"disabled"});
        auto *r = new RouteConfig();
        if (j.contains("disabled")) {
            r->disabled = flag(j["disabled"], "disabled");
        }
        return r;
    } catch (const ConfigError &e) {
        log(envoy_dynamic_module_type_log_level_Error, "bad per-route config: " + e.message);
    } catch (const std::exception &e) {
        log(envoy_dynamic_module_type_log_level_Error,
            std::string("bad per-route config: ") + e.what());
    }
    return nullptr;
}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_per_route_config_destroy(
    envoy_dynamic_module_type_http_filter_per_route_config_module_ptr config) {
    delete static_cast<const RouteConfig *>(config);
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_http_filter_module_ptr
envoy_dynamic_module_on_http_filter_new(envoy_dynamic_module_type_http_filter_config_module_ptr config,
                                        envoy_dynamic_module_type_http_filter_envoy_ptr envoy) {
    auto *f = new (std::nothrow) Filter();
    if (f) {
        f->config = static_cast<const Config *>(config);
        f->envoy = envoy;
    }
    return f;
}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_destroy(
    envoy_dynamic_module_type_http_filter_module_ptr filter) {
    delete filter_of(filter);
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_on_http_filter_request_headers_status
envoy_dynamic_module_on_http_filter_request_headers(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                    envoy_dynamic_module_type_http_filter_module_ptr filter,
                                                    bool) {
    Filter *f = filter_of(filter);
    try {
        return on_request_headers(f);
    } catch (const std::exception &e) {
        log(envoy_dynamic_module_type_log_level_Error, e.what());
        send_error(f, 500, "internal error", "jwks_internal_error");
        return envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration;
    }
}

// While a verification is pending, the body and trailers wait with the headers.
__attribute__((visibility("default"))) envoy_dynamic_module_type_on_http_filter_request_body_status
envoy_dynamic_module_on_http_filter_request_body(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                 envoy_dynamic_module_type_http_filter_module_ptr filter,
                                                 bool) {
    return filter_of(filter)->state == State::kPending
               ? envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndWatermark
               : envoy_dynamic_module_type_on_http_filter_request_body_status_Continue;
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_on_http_filter_request_trailers_status
envoy_dynamic_module_on_http_filter_request_trailers(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                     envoy_dynamic_module_type_http_filter_module_ptr filter) {
    return filter_of(filter)->state == State::kPending
               ? envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration
               : envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue;
}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_scheduled(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr filter,
    uint64_t) {
    Filter *f = filter_of(filter);
    try {
        on_scheduled(f);
    } catch (const std::exception &e) {
        log(envoy_dynamic_module_type_log_level_Error, e.what());
        send_error(f, 500, "internal error", "jwks_internal_error");
    }
}

// Hooks this filter has no use for; Envoy requires them all.
__attribute__((visibility("default"))) envoy_dynamic_module_type_on_http_filter_response_headers_status
envoy_dynamic_module_on_http_filter_response_headers(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                     envoy_dynamic_module_type_http_filter_module_ptr, bool) {
    return envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue;
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_on_http_filter_response_body_status
envoy_dynamic_module_on_http_filter_response_body(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                  envoy_dynamic_module_type_http_filter_module_ptr, bool) {
    return envoy_dynamic_module_type_on_http_filter_response_body_status_Continue;
}

__attribute__((visibility("default"))) envoy_dynamic_module_type_on_http_filter_response_trailers_status
envoy_dynamic_module_on_http_filter_response_trailers(envoy_dynamic_module_type_http_filter_envoy_ptr,
                                                      envoy_dynamic_module_type_http_filter_module_ptr) {
    return envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue;
}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr) {}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t, envoy_dynamic_module_type_http_callout_result, envoy_dynamic_module_type_envoy_http_header *,
    size_t, envoy_dynamic_module_type_envoy_buffer *, size_t) {}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_http_stream_headers(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t, envoy_dynamic_module_type_envoy_http_header *, size_t, bool) {}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_http_stream_data(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t, const envoy_dynamic_module_type_envoy_buffer *, size_t, bool) {}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_http_stream_trailers(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t, envoy_dynamic_module_type_envoy_http_header *, size_t) {}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_http_stream_complete(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t) {}

__attribute__((visibility("default"))) void envoy_dynamic_module_on_http_filter_http_stream_reset(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr,
    uint64_t, envoy_dynamic_module_type_http_stream_reset_reason) {}

__attribute__((visibility("default"))) void
envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr) {}

__attribute__((visibility("default"))) void
envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    envoy_dynamic_module_type_http_filter_envoy_ptr, envoy_dynamic_module_type_http_filter_module_ptr) {}

}  // extern "C"
