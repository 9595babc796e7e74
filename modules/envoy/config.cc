// The filter config (JSON, in jwt_authn's names): `providers`, `rules`, `requirement_map` and
// `bypass_cors_preflight`, or the single-provider shorthand (a provider's fields at the top
// level, with `requirement`). Every mistake is refused at load with a message naming the field.

#include "module.h"

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace jwks_envoy {

void refuse(const std::string &message) { throw ConfigError{message}; }

namespace {

using json = nlohmann::json;

void only_keys(const json &j, const std::string &where, std::initializer_list<const char *> keys) {
    if (!j.is_object()) {
        refuse(where + " must be an object");
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (std::none_of(keys.begin(), keys.end(), [&](const char *k) { return it.key() == k; })) {
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

// A duration as protobuf JSON writes it ("5s", "0.250s"), as Envoy's YAML examples write it
// ({seconds: 300, nanos: 0}, which Envoy's own loader takes too), or a number of seconds; in ms.
uint64_t duration_ms(const json &j, const std::string &field) {
    double seconds = -1;
    if (j.is_number()) {
        seconds = j.get<double>();
    } else if (j.is_object()) {
        bool known = !j.empty();
        for (const auto &kv : j.items()) {
            known = known && (kv.key() == "seconds" || kv.key() == "nanos") &&
                    kv.value().is_number_unsigned();
        }
        if (known) {
            seconds = static_cast<double>(j.value("seconds", uint64_t{0})) +
                      static_cast<double>(j.value("nanos", uint64_t{0})) / 1e9;
        }
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
        refuse(field + " must be a duration such as \"5s\", \"0.5s\" or {\"seconds\": 5}");
    }
    return static_cast<uint64_t>(std::llround(seconds * 1000));
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
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
std::string checked_claim_pointer(const std::string &claim, const std::string &where) {
    std::string p = claim_pointer(claim);
    size_t len = 0;
    jwks_error *err = nullptr;
    jwks_status s = jwks_claims_header_value("{}", 2, p.data(), p.size(), nullptr, 0, &len, &err);
    std::string message = err ? jwks_error_message(err) : "";
    jwks_error_free(err);
    if (s == JWKS_ERR_INVALID_ARGUMENT) {
        refuse(where + ".claim_name \"" + claim + "\": " + message);
    }
    return p;
}

// Throws ConfigError when libjwks refuses a setting. `err` is taken by reference: it is read
// after the call that sets it (argument evaluation order would not guarantee that).
void check(jwks_status s, jwks_error *&err, const std::string &where = "") {
    if (s != JWKS_OK) {
        std::string message = err ? jwks_error_message(err) : jwks_status_str(s);
        jwks_error_free(err);
        err = nullptr;
        refuse(where.empty() ? message : where + ": " + message);
    }
}

struct Options {
    jwks_options *o = jwks_options_new();
    ~Options() { jwks_options_free(o); }
};

std::shared_ptr<re2::RE2> regex(const json &j, const std::string &where) {
    only_keys(j, where, {"regex", "google_re2"});
    if (!j.contains("regex")) {
        refuse(where + ".regex is required");
    }
    auto re = std::make_shared<re2::RE2>(text(j["regex"], where + ".regex"), RE2::Quiet);
    if (!re->ok()) {
        refuse(where + ".regex does not compile: " + re->error());
    }
    return re;
}

// jwt_authn's StringMatcher.
StringMatch string_match(const json &j, const std::string &where) {
    only_keys(j, where, {"exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"});
    StringMatch m;
    int kinds = 0;
    for (auto [name, kind] : {std::pair<const char *, StringMatch::Kind>{"exact", StringMatch::kExact},
                              {"prefix", StringMatch::kPrefix},
                              {"suffix", StringMatch::kSuffix},
                              {"contains", StringMatch::kContains}}) {
        if (j.contains(name)) {
            kinds++;
            m.kind = kind;
            m.value = text(j[name], where + "." + name);
        }
    }
    if (j.contains("safe_regex")) {
        kinds++;
        m.kind = StringMatch::kRegex;
        m.regex = regex(j["safe_regex"], where + ".safe_regex");
    }
    if (kinds != 1) {
        refuse(where + " needs exactly one of exact, prefix, suffix, contains and safe_regex");
    }
    if (j.contains("ignore_case")) {
        m.ignore_case = flag(j["ignore_case"], where + ".ignore_case");
        if (m.ignore_case && m.kind == StringMatch::kRegex) {
            refuse(where + ".ignore_case does not apply to safe_regex");
        }
        if (m.ignore_case) {
            m.value = lower(m.value);
        }
    }
    return m;
}

// The fields of one provider (and of the shorthand's top level).
#define PROVIDER_FIELDS                                                                        \
    "issuer", "remote_jwks", "local_jwks", "discovery_issuers", "audiences", "subjects",      \
        "max_lifetime", "require_expiration", "algorithms", "clock_skew_seconds",             \
        "from_headers", "from_params", "from_cookies", "forward", "forward_payload_header",   \
        "pad_forward_payload_header", "claim_to_headers", "payload_in_metadata",              \
        "header_in_metadata", "failed_status_in_metadata", "ca_file", "persist_dir",          \
        "fetch_timeout"

void key_source(const json &j, const std::string &where, const std::string &filter_name,
                jwks_options *o) {
    jwks_error *err = nullptr;
    int sources = j.contains("remote_jwks") + j.contains("local_jwks") +
                  j.contains("discovery_issuers");
    if (sources != 1) {
        refuse(where + ": set exactly one key source: remote_jwks (a JWKS URI), local_jwks "
                       "(a key set in the config or a file) or discovery_issuers (OpenID "
                       "Connect discovery)");
    }
    if (j.contains("remote_jwks")) {
        const json &r = j["remote_jwks"];
        std::string at = where + ".remote_jwks";
        only_keys(r, at, {"http_uri", "cache_duration", "async_fetch", "retry_policy"});
        if (!r.contains("http_uri")) {
            refuse(at + ".http_uri is required");
        }
        const json &h = r["http_uri"];
        only_keys(h, at + ".http_uri", {"uri", "cluster", "timeout"});
        if (!h.contains("uri")) {
            refuse(at + ".http_uri.uri is required");
        }
        std::string uri = text(h["uri"], at + ".http_uri.uri");
        check(jwks_options_set_uri(o, uri.data(), uri.size(), &err), err);
        for (const char *ignored : {"cluster", "async_fetch", "retry_policy"}) {
            bool in_uri = std::string(ignored) == "cluster";
            if (in_uri ? h.contains(ignored) : r.contains(ignored)) {
                log(envoy_dynamic_module_type_log_level_Warn,
                    at + (in_uri ? ".http_uri." : ".") + ignored +
                        " is ignored: libjwks fetches keys itself, outside Envoy's clusters, "
                        "always in the background, with its own backoff (filter " +
                        filter_name + ")");
            }
        }
        if (h.contains("timeout")) {
            check(jwks_options_set_timeout_ms(o, duration_ms(h["timeout"], at + ".http_uri.timeout"),
                                              &err),
                  err);
        }
        if (r.contains("cache_duration")) {
            // Absolute, as jwt_authn's: the IdP's Cache-Control does not stretch it.
            check(jwks_options_set_lifespan_ms(
                      o, duration_ms(r["cache_duration"], at + ".cache_duration"), &err),
                  err);
            check(jwks_options_set_honor_cache_headers(o, false, &err), err);
        }
    } else if (j.contains("local_jwks")) {
        const json &l = j["local_jwks"];
        std::string at = where + ".local_jwks";
        only_keys(l, at, {"inline_string", "filename"});
        if (l.contains("inline_string") == l.contains("filename")) {
            refuse(at + " needs exactly one of inline_string and filename");
        }
        if (l.contains("inline_string")) {
            std::string set = text(l["inline_string"], at + ".inline_string");
            check(jwks_options_set_local_jwks(o, set.data(), set.size(), &err), err, at);
        } else {
            std::string file = text(l["filename"], at + ".filename");
            check(jwks_options_set_local_jwks_file(o, file.data(), file.size(), &err), err, at);
        }
    } else {
        std::vector<std::string> issuers =
            texts(j["discovery_issuers"], where + ".discovery_issuers");
        if (issuers.empty()) {
            refuse(where + ".discovery_issuers must list at least one issuer");
        }
        if (j.contains("issuer")) {
            refuse(where + ": issuer goes with remote_jwks or local_jwks; with "
                           "discovery_issuers every listed issuer is accepted and tokens are "
                           "checked against their own");
        }
        for (const auto &iss : issuers) {
            check(jwks_options_add_allowed_issuer(o, iss.data(), iss.size(), &err), err);
        }
    }
    if (j.contains("issuer")) {
        std::string iss = text(j["issuer"], where + ".issuer");
        check(jwks_options_set_issuer(o, iss.data(), iss.size(), &err), err);
    }
}

// One provider from `j` (a provider object, or the shorthand's top level): its client and
// settings. `where` names it in messages ("providers.a", or "the filter config").
std::unique_ptr<Provider> parse_provider(const std::string &name, const json &j,
                                         const std::string &where,
                                         const std::string &filter_name) {
    auto p = std::make_unique<Provider>();
    p->name = name;
    Options opts;
    jwks_options *o = opts.o;
    jwks_error *err = nullptr;
    std::string at = where == "the filter config" ? "" : where + ".";

    // A parked request waits at most this long for keys (the nginx module's default too).
    check(jwks_options_set_timeout_ms(o, 10000, &err), err);
    key_source(j, where, filter_name, o);
    if (j.contains("audiences")) {
        for (const auto &aud : texts(j["audiences"], at + "audiences")) {
            check(jwks_options_add_audience(o, aud.data(), aud.size(), &err), err);
        }
    }
    if (j.contains("algorithms")) {
        std::string list;
        for (const auto &alg : texts(j["algorithms"], at + "algorithms")) {
            list += (list.empty() ? "" : ",") + alg;
        }
        check(jwks_options_set_algorithms(o, list.data(), list.size(), &err), err);
    }
    uint64_t skew = 60;  // jwt_authn's default
    if (j.contains("clock_skew_seconds")) {
        const json &v = j["clock_skew_seconds"];
        if (!v.is_number_unsigned() || v.get<uint64_t>() > 86400) {
            refuse(at + "clock_skew_seconds must be a whole number of seconds from 0 to 86400");
        }
        skew = v.get<uint64_t>();
    }
    check(jwks_options_set_leeway_ms(o, skew * 1000, &err), err);
    if (j.contains("require_expiration")) {
        p->require_expiration = flag(j["require_expiration"], at + "require_expiration");
        if (!p->require_expiration) {
            log(envoy_dynamic_module_type_log_level_Warn,
                at + "require_expiration: false is not honoured: libjwks refuses a token "
                     "without exp (it would be valid forever)");
        }
    }
    if (j.contains("max_lifetime")) {
        uint64_t ms = duration_ms(j["max_lifetime"], at + "max_lifetime");
        if (ms < 1000) {
            refuse(at + "max_lifetime must be at least 1s");
        }
        p->max_lifetime_s = ms / 1000;
    }
    // max_lifetime takes precedence over require_expiration, and needs an exp as well.
    if (p->require_expiration || p->max_lifetime_s) {
        check(jwks_options_add_required_claim(o, "exp", 3, &err), err);
    }
    if (j.contains("subjects")) {
        p->subjects.push_back(string_match(j["subjects"], at + "subjects"));
    }
    if (j.contains("ca_file")) {
        std::string f = text(j["ca_file"], at + "ca_file");
        check(jwks_options_add_ca_file(o, f.data(), f.size(), &err), err);
    }
    if (j.contains("persist_dir")) {
        std::string d = text(j["persist_dir"], at + "persist_dir");
        check(jwks_options_set_persist_dir(o, d.data(), d.size(), &err), err);
    }
    if (j.contains("fetch_timeout")) {
        check(jwks_options_set_timeout_ms(
                  o, duration_ms(j["fetch_timeout"], at + "fetch_timeout"), &err),
              err);
    }
    check(jwks_options_set_log_callback(o, [](void *, int level, const char *m, size_t len) {
              envoy_dynamic_module_type_log_level l =
                  level <= 1   ? envoy_dynamic_module_type_log_level_Error
                  : level == 2 ? envoy_dynamic_module_type_log_level_Warn
                  : level == 3 ? envoy_dynamic_module_type_log_level_Info
                               : envoy_dynamic_module_type_log_level_Debug;
              log(l, std::string(m, len));
          }, nullptr, 3, &err),
          err);

    if (j.contains("from_headers")) {
        const json &hs = j["from_headers"];
        if (!hs.is_array() || hs.empty()) {
            refuse(at + "from_headers must be a non-empty array of {name, value_prefix}");
        }
        for (const auto &h : hs) {
            only_keys(h, at + "from_headers[]", {"name", "value_prefix"});
            if (!h.contains("name")) {
                refuse(at + "from_headers[].name is required");
            }
            TokenHeader th{lower(text(h["name"], at + "from_headers[].name")), ""};
            if (h.contains("value_prefix")) {
                if (!h["value_prefix"].is_string()) {
                    refuse(at + "from_headers[].value_prefix must be a string");
                }
                th.prefix = lower(h["value_prefix"].get<std::string>());
            }
            p->from_headers.push_back(th);
        }
    }
    if (j.contains("from_params")) {
        p->from_params = texts(j["from_params"], at + "from_params");
    }
    if (j.contains("from_cookies")) {
        p->from_cookies = texts(j["from_cookies"], at + "from_cookies");
    }
    if (p->from_headers.empty() && p->from_params.empty() && p->from_cookies.empty()) {
        p->from_headers.push_back({"authorization", "bearer "});
    }
    if (j.contains("forward")) {
        p->forward = flag(j["forward"], at + "forward");
    }
    if (j.contains("forward_payload_header")) {
        p->forward_payload_header =
            lower(text(j["forward_payload_header"], at + "forward_payload_header"));
    }
    if (j.contains("pad_forward_payload_header")) {
        p->pad_forward_payload_header =
            flag(j["pad_forward_payload_header"], at + "pad_forward_payload_header");
    }
    if (j.contains("claim_to_headers")) {
        const json &cs = j["claim_to_headers"];
        if (!cs.is_array()) {
            refuse(at + "claim_to_headers must be an array of {header_name, claim_name}");
        }
        for (const auto &ch : cs) {
            only_keys(ch, at + "claim_to_headers[]", {"header_name", "claim_name"});
            if (!ch.contains("header_name") || !ch.contains("claim_name")) {
                refuse(at + "claim_to_headers[] needs header_name and claim_name");
            }
            p->claim_to_headers.push_back(
                {lower(text(ch["header_name"], at + "claim_to_headers[].header_name")),
                 checked_claim_pointer(text(ch["claim_name"], at + "claim_to_headers[].claim_name"),
                                       at + "claim_to_headers[]")});
        }
    }
    for (auto [field, target] : {std::pair<const char *, std::string *>{"payload_in_metadata",
                                                                         &p->payload_in_metadata},
                                 {"header_in_metadata", &p->header_in_metadata},
                                 {"failed_status_in_metadata", &p->failed_status_in_metadata}}) {
        if (j.contains(field)) {
            *target = text(j[field], at + field);
        }
    }

    // Making a client fetches nothing and starts no thread (that waits for the first
    // verification), so it is safe on the main thread and in --mode validate.
    check(jwks_client_new(o, &p->client, &err), err, where == "the filter config" ? "" : where);
    return p;
}

struct Parser {
    Config &c;
    std::map<std::string, size_t> provider_index;

    size_t provider(const json &j, const std::string &where) {
        std::string name = text(j, where);
        auto it = provider_index.find(name);
        if (it == provider_index.end()) {
            refuse(where + " \"" + name + "\" is not in providers");
        }
        return it->second;
    }

    Requirement requirement(const json &j, const std::string &where, int depth = 0) {
        if (depth > 16) {
            refuse(where + " nests too deep");
        }
        only_keys(j, where, {"provider_name", "provider_and_audiences", "requires_any",
                             "requires_all", "allow_missing", "allow_missing_or_failed"});
        if (j.size() != 1) {
            refuse(where + " needs exactly one of provider_name, provider_and_audiences, "
                           "requires_any, requires_all, allow_missing and "
                           "allow_missing_or_failed");
        }
        Requirement r;
        const std::string key = j.begin().key();
        const json &v = j.begin().value();
        if (key == "provider_name") {
            r.kind = Requirement::kProvider;
            r.provider = provider(v, where + ".provider_name");
            r.check = r.provider;
        } else if (key == "provider_and_audiences") {
            only_keys(v, where + ".provider_and_audiences", {"provider_name", "audiences"});
            if (!v.contains("provider_name") || !v.contains("audiences")) {
                refuse(where + ".provider_and_audiences needs provider_name and audiences");
            }
            r.kind = Requirement::kProvider;
            r.provider = provider(v["provider_name"], where + ".provider_and_audiences.provider_name");
            auto audiences = texts(v["audiences"], where + ".provider_and_audiences.audiences");
            if (audiences.empty()) {
                refuse(where + ".provider_and_audiences.audiences must not be empty");
            }
            Check check_of{r.provider, jwks_verify_options_new()};
            c.checks.push_back(check_of);  // owned by the config from here
            jwks_error *err = nullptr;
            for (const auto &aud : audiences) {
                check(jwks_verify_options_add_audience(check_of.verify, aud.data(), aud.size(),
                                                       &err),
                      err, where);
            }
            r.check = c.checks.size() - 1;
        } else if (key == "requires_any" || key == "requires_all") {
            std::string at = where + "." + key;
            only_keys(v, at, {"requirements"});
            if (!v.contains("requirements") || !v["requirements"].is_array() ||
                v["requirements"].size() < 2) {
                refuse(at + ".requirements must list at least two requirements");
            }
            r.kind = key == "requires_any" ? Requirement::kAny : Requirement::kAll;
            for (const auto &child : v["requirements"]) {
                r.children.push_back(requirement(child, at + ".requirements[]", depth + 1));
            }
        } else {
            // allow_missing: {} and allow_missing_or_failed: {} (google.protobuf.Empty).
            if (!v.is_object() || !v.empty()) {
                refuse(where + "." + key + " takes {}");
            }
            r.kind = key == "allow_missing" ? Requirement::kAllowMissing
                                            : Requirement::kAllowMissingOrFailed;
        }
        return r;
    }

    const Requirement *keep(Requirement r) {
        c.requirements.push_back(std::make_unique<Requirement>(std::move(r)));
        return c.requirements.back().get();
    }

    HeaderMatch header_match(const json &j, const std::string &where) {
        only_keys(j, where, {"name", "string_match", "present_match", "invert_match",
                             "exact_match", "prefix_match", "suffix_match", "contains_match",
                             "safe_regex_match"});
        if (!j.contains("name")) {
            refuse(where + ".name is required");
        }
        HeaderMatch h;
        h.name = lower(text(j["name"], where + ".name"));
        int kinds = 0;
        if (j.contains("present_match")) {
            kinds++;
            h.kind = HeaderMatch::kPresent;
            h.present = flag(j["present_match"], where + ".present_match");
        }
        if (j.contains("string_match")) {
            kinds++;
            h.kind = HeaderMatch::kString;
            h.match = string_match(j["string_match"], where + ".string_match");
        }
        // The deprecated spellings of string_match, which jwt_authn configs still carry.
        for (auto [name, kind] : {std::pair<const char *, StringMatch::Kind>{"exact_match", StringMatch::kExact},
                                  {"prefix_match", StringMatch::kPrefix},
                                  {"suffix_match", StringMatch::kSuffix},
                                  {"contains_match", StringMatch::kContains}}) {
            if (j.contains(name)) {
                kinds++;
                h.kind = HeaderMatch::kString;
                h.match.kind = kind;
                h.match.value = text(j[name], where + "." + name);
            }
        }
        if (j.contains("safe_regex_match")) {
            kinds++;
            h.kind = HeaderMatch::kString;
            h.match.kind = StringMatch::kRegex;
            h.match.regex = regex(j["safe_regex_match"], where + ".safe_regex_match");
        }
        if (kinds > 1) {
            refuse(where + " has more than one way to match");
        }
        if (j.contains("invert_match")) {
            h.invert = flag(j["invert_match"], where + ".invert_match");
        }
        return h;  // no way at all: the header must be present, as Envoy's default
    }

    RouteMatch route_match(const json &j, const std::string &where) {
        if (j.is_object()) {
            for (auto it = j.begin(); it != j.end(); ++it) {
                static const char *const supported[] = {"prefix", "path", "safe_regex",
                                                        "headers", "case_sensitive"};
                if (std::none_of(std::begin(supported), std::end(supported),
                                 [&](const char *k) { return it.key() == k; })) {
                    refuse(where + "." + it.key() +
                           " is not supported by this module (a rule matches on prefix, path, "
                           "safe_regex, headers and case_sensitive)");
                }
            }
        } else {
            refuse(where + " must be an object");
        }
        RouteMatch m;
        int kinds = j.contains("prefix") + j.contains("path") + j.contains("safe_regex");
        if (kinds != 1) {
            refuse(where + " needs exactly one of prefix, path and safe_regex");
        }
        if (j.contains("prefix")) {
            m.kind = RouteMatch::kPrefix;
            if (!j["prefix"].is_string()) {
                refuse(where + ".prefix must be a string");
            }
            m.value = j["prefix"].get<std::string>();
        } else if (j.contains("path")) {
            m.kind = RouteMatch::kPath;
            m.value = text(j["path"], where + ".path");
        } else {
            m.kind = RouteMatch::kRegex;
            m.regex = regex(j["safe_regex"], where + ".safe_regex");
        }
        if (j.contains("case_sensitive")) {
            m.case_sensitive = flag(j["case_sensitive"], where + ".case_sensitive");
        }
        if (j.contains("headers")) {
            if (!j["headers"].is_array()) {
                refuse(where + ".headers must be an array");
            }
            for (const auto &h : j["headers"]) {
                m.headers.push_back(header_match(h, where + ".headers[]"));
            }
        }
        return m;
    }
};

// The shorthand's `requirement` over its one provider (index 0).
Requirement shorthand_requirement(const json &j) {
    Requirement provider;  // provider_name: the one provider
    std::string mode = j.contains("requirement") ? text(j["requirement"], "requirement") : "required";
    if (mode == "required") {
        return provider;
    }
    Requirement r;
    if (mode == "allow_missing") {
        // jwt_authn's requires_any [provider, allow_missing]: no token passes, a bad one not.
        Requirement missing;
        missing.kind = Requirement::kAllowMissing;
        r.kind = Requirement::kAny;
        r.children = {provider, missing};
    } else if (mode == "allow_missing_or_failed") {
        r.kind = Requirement::kAllowMissingOrFailed;
    } else {
        refuse("requirement must be required, allow_missing or allow_missing_or_failed");
    }
    return r;
}

}  // namespace

void parse_config(const std::string &filter_name, const std::string &bytes, Config &c) {
    json j = json::parse(bytes.empty() ? std::string("{}") : bytes);
    if (!j.is_object()) {
        refuse("the filter config must be an object");
    }
    Parser parser{c, {}};
    if (j.contains("providers")) {
        only_keys(j, "the filter config",
                  {"providers", "rules", "requirement_map", "bypass_cors_preflight", "bypass",
                   "realm", "keys_unavailable_status"});
        const json &ps = j["providers"];
        if (!ps.is_object() || ps.empty()) {
            refuse("providers must be an object of named providers");
        }
        for (auto it = ps.begin(); it != ps.end(); ++it) {
            std::string where = "providers." + it.key();
            only_keys(it.value(), where, {PROVIDER_FIELDS});
            parser.provider_index[it.key()] = c.providers.size();
            c.providers.push_back(parse_provider(it.key(), it.value(), where, filter_name));
        }
        // Each provider's own check comes first: checks[i] for provider i.
        std::vector<Check> own;
        for (size_t i = 0; i < c.providers.size(); i++) {
            own.push_back({i, nullptr});
        }
        c.checks.insert(c.checks.begin(), own.begin(), own.end());
        if (j.contains("requirement_map")) {
            const json &rm = j["requirement_map"];
            if (!rm.is_object()) {
                refuse("requirement_map must be an object of named requirements");
            }
            for (auto it = rm.begin(); it != rm.end(); ++it) {
                c.requirement_map[it.key()] =
                    parser.keep(parser.requirement(it.value(), "requirement_map." + it.key()));
            }
        }
        if (j.contains("rules")) {
            const json &rs = j["rules"];
            if (!rs.is_array()) {
                refuse("rules must be an array of {match, requires | requirement_name}");
            }
            for (size_t i = 0; i < rs.size(); i++) {
                std::string where = "rules[" + std::to_string(i) + "]";
                only_keys(rs[i], where, {"match", "requires", "requirement_name"});
                if (!rs[i].contains("match")) {
                    refuse(where + ".match is required");
                }
                if (rs[i].contains("requires") && rs[i].contains("requirement_name")) {
                    refuse(where + " has both requires and requirement_name");
                }
                Rule rule;
                rule.match = parser.route_match(rs[i]["match"], where + ".match");
                if (rs[i].contains("requires")) {
                    rule.requirement =
                        parser.keep(parser.requirement(rs[i]["requires"], where + ".requires"));
                } else if (rs[i].contains("requirement_name")) {
                    std::string name = text(rs[i]["requirement_name"], where + ".requirement_name");
                    auto it = c.requirement_map.find(name);
                    if (it == c.requirement_map.end()) {
                        refuse(where + ".requirement_name \"" + name + "\" is not in requirement_map");
                    }
                    rule.requirement = it->second;
                }
                c.rules.push_back(std::move(rule));
            }
        }
    } else {
        only_keys(j, "the filter config",
                  {PROVIDER_FIELDS, "requirement", "bypass_cors_preflight", "bypass", "realm",
                   "keys_unavailable_status"});
        c.providers.push_back(parse_provider(filter_name, j, "the filter config", filter_name));
        c.checks.push_back({0, nullptr});
        Rule all;
        all.match.kind = RouteMatch::kPrefix;
        all.match.value = "/";
        all.requirement = parser.keep(shorthand_requirement(j));
        c.rules.push_back(std::move(all));
    }
    if (j.contains("bypass_cors_preflight")) {
        c.bypass_cors_preflight = flag(j["bypass_cors_preflight"], "bypass_cors_preflight");
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
}

RouteConfig *parse_route_config(const std::string &bytes) {
    json j = json::parse(bytes.empty() ? std::string("{}") : bytes);
    only_keys(j, "the per-route config", {"disabled", "requirement_name"});
    auto r = std::make_unique<RouteConfig>();
    if (j.contains("disabled")) {
        r->disabled = flag(j["disabled"], "disabled");
    }
    if (j.contains("requirement_name")) {
        r->requirement_name = text(j["requirement_name"], "requirement_name");
    }
    if (r->disabled && !r->requirement_name.empty()) {
        refuse("the per-route config has both disabled and requirement_name");
    }
    return r.release();
}

}  // namespace jwks_envoy
