// libjwks_envoy's shared declarations: the filter config (providers, requirements, rules), the
// per-request state, and the helpers the files of the module share. See README.md.

#ifndef JWKS_ENVOY_MODULE_H
#define JWKS_ENVOY_MODULE_H

#include "envoy_abi.h"

#include <jwks.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace jwks_envoy {

envoy_dynamic_module_type_module_buffer buf(const std::string &s);
envoy_dynamic_module_type_module_buffer buf(const char *s);
void log(envoy_dynamic_module_type_log_level level, const std::string &message);

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

// A configuration mistake, refused at load with this message.
struct ConfigError {
    std::string message;
};
[[noreturn]] void refuse(const std::string &message);

// jwt_authn's StringMatcher: exact, prefix, suffix, contains or safe_regex (RE2, whole
// string), optionally ignoring case (not for the regex).
struct StringMatch {
    enum Kind { kExact, kPrefix, kSuffix, kContains, kRegex } kind = kExact;
    std::string value;
    bool ignore_case = false;
    std::shared_ptr<re2::RE2> regex;
    bool matches(const std::string &s) const;
};

struct TokenHeader {
    std::string name;    // lower case
    std::string prefix;  // lower case, matched without regard to case; may be empty
};

struct ClaimHeader {
    std::string header;
    std::string pointer;  // RFC 6901
};

// One jwt_authn provider: a key source (one libjwks client), where its tokens are, the checks
// beyond the library's, and what a verified token gives the request.
struct Provider {
    std::string name;
    jwks_client *client = nullptr;
    std::vector<TokenHeader> from_headers;
    std::vector<std::string> from_params;
    std::vector<std::string> from_cookies;
    bool forward = false;
    std::string forward_payload_header;
    bool pad_forward_payload_header = false;
    std::vector<ClaimHeader> claim_to_headers;
    std::vector<StringMatch> subjects;  // the sub must match one, when any
    uint64_t max_lifetime_s = 0;        // 0: no limit
    bool require_expiration = false;
    std::string payload_in_metadata;
    std::string header_in_metadata;
    std::string failed_status_in_metadata;

    Provider() = default;
    Provider(const Provider &) = delete;
    Provider &operator=(const Provider &) = delete;
    ~Provider() { jwks_client_free(client); }
};

// A jwt_authn JwtRequirement.
struct Requirement {
    enum Kind {
        kProvider,              // provider_name, or provider_and_audiences with `verify`
        kAny,                   // requires_any
        kAll,                   // requires_all
        kAllowMissing,          // allow_missing
        kAllowMissingOrFailed,  // allow_missing_or_failed
    } kind = kProvider;
    size_t provider = 0;
    size_t check = 0;  // which Check of the config: the provider's own, or its audiences
    std::vector<Requirement> children;
};

// One verification a requirement can ask for: a provider, and the audiences it accepts (none:
// the provider's own).
struct Check {
    size_t provider = 0;
    jwks_verify_options *verify = nullptr;  // owned; NULL for the provider's own settings
};

// jwt_authn's RouteMatch, the part this module supports: prefix, path or safe_regex, and
// headers.
struct HeaderMatch {
    std::string name;  // lower case
    enum Kind { kPresent, kString } kind = kPresent;
    bool present = true;  // present_match's value
    StringMatch match;
    bool invert = false;
};

struct RouteMatch {
    enum Kind { kPrefix, kPath, kRegex } kind = kPrefix;
    std::string value;
    std::shared_ptr<re2::RE2> regex;
    bool case_sensitive = true;
    std::vector<HeaderMatch> headers;
};

// A rule: the first whose match fits the request decides its requirement; `none` (a rule with
// neither requires nor requirement_name) lets the request through unverified.
struct Rule {
    RouteMatch match;
    const Requirement *requirement = nullptr;  // into Config::requirements; NULL: none
};

struct Bypass {
    bool prefix;
    std::string path;
};

struct Config {
    envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy = nullptr;
    std::vector<std::unique_ptr<Provider>> providers;
    std::vector<Check> checks;  // checks[i] for i < providers.size() is provider i's own
    // Every requirement the rules and the requirement_map name, kept at stable addresses.
    std::vector<std::unique_ptr<Requirement>> requirements;
    std::map<std::string, const Requirement *> requirement_map;
    std::vector<Rule> rules;
    bool bypass_cors_preflight = false;
    std::vector<Bypass> bypass;
    std::string realm;
    uint32_t keys_unavailable_status = 503;
    size_t counters[kCounters] = {};
    size_t pending_gauge = 0;

    ~Config() {
        for (auto &c : checks) {
            jwks_verify_options_free(c.verify);
        }
    }

    void count(Counter c) const {
        envoy_dynamic_module_callback_http_filter_config_increment_counter(envoy, counters[c],
                                                                           nullptr, 0, 1);
    }
};

// The per-route config: the filter off, or the requirement_map entry to use.
struct RouteConfig {
    bool disabled = false;
    std::string requirement_name;
};

// Parses the filter config (JSON) into `c`, making the providers' clients. Throws ConfigError.
void parse_config(const std::string &filter_name, const std::string &bytes, Config &c);
// The per-route config. Throws ConfigError.
RouteConfig *parse_route_config(const std::string &bytes);

// ---------------------------------------------------------------------------------------
// A request.

enum class State { kIdle, kPending, kDone };

// A check's token and its outcome.
struct Attempt {
    size_t check = 0;
    bool found = false;  // a token in the provider's locations
    std::string token;
    std::string header;  // the header it came from (removed unless forward), or ""
    std::string payload;
    jwks_request *request = nullptr;
    bool answered = false;
    jwks_status status = JWKS_OK;
    jwks_token *verified = nullptr;
    jwks_error *error = nullptr;
    const char *refusal = nullptr;  // a provider check that failed after the library's
};

struct Filter;

// What a library callback needs: the filter and which attempt.
struct Pending {
    Filter *filter;
    size_t attempt;
};

struct Filter {
    const Config *config = nullptr;
    envoy_dynamic_module_type_http_filter_envoy_ptr envoy = nullptr;
    State state = State::kIdle;
    const Requirement *requirement = nullptr;
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler = nullptr;
    std::vector<Attempt> attempts;
    std::vector<Pending> pending;  // stable: reserved before any verification starts

    // Guards the attempts' answers, written by library callbacks.
    std::mutex mu;
    size_t waiting = 0;

    ~Filter();
};

// The request flow (filter.cc): the request headers' hook, and the stream's scheduled event
// once every verification is answered.
envoy_dynamic_module_type_on_http_filter_request_headers_status on_request_headers(Filter *f);
void on_scheduled(Filter *f);

// Request helpers (filter.cc).
bool request_header(Filter *f, const std::string &name, std::string &out, size_t index = 0,
                    size_t *count = nullptr);
void set_request_header(Filter *f, const std::string &name, const std::string &value);
void remove_request_header(Filter *f, const std::string &name);
std::string request_path(Filter *f);

// The token of `p` in the request (extract.cc): the first from its headers, then its query
// parameters, then its cookies; `header` names the header it came from ("" otherwise).
// `several`: the provider's locations hold more than one distinct token (another header
// value, a repeated parameter, a cookie), which the request must not carry past the check.
// False when there is none.
bool find_token(Filter *f, const Provider &p, std::string &token, std::string &header,
                bool &several);

// The requirement for this request (rules.cc): `out` NULL when no rule applies. False when
// the route names a requirement the filter lacks (a configuration mistake, logged).
bool requirement_for(Filter *f, const Requirement *&out);

// Dynamic metadata (metadata.cc), in jwt_authn's layout: namespace
// envoy.filters.http.jwt_authn, one key per setting, the value a Struct.
void set_json_metadata(Filter *f, const std::string &key, const char *json, size_t len);
void set_failed_status_metadata(Filter *f, const std::string &key, int code,
                                const std::string &message);
// The serialized google.protobuf.Struct {key: value} for a JSON value (exposed for tests).
bool struct_with_json(const std::string &key, const char *json, size_t len, std::string &out);

}  // namespace jwks_envoy

#endif
