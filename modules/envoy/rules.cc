// Which requirement a request must meet: the per-route config's requirement_name, or else the
// first rule whose RouteMatch fits (prefix, path or safe_regex on the path, and headers), as
// jwt_authn decides. No rule: no requirement, the request goes on unverified.

#include "module.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

namespace jwks_envoy {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool starts_with(const std::string &s, const std::string &p) {
    return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

bool ends_with(const std::string &s, const std::string &p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// A header's value as Envoy's matchers see it: its values joined by commas. False when absent.
bool header_value(Filter *f, const std::string &name, std::string &out) {
    size_t count = 0;
    if (!request_header(f, name, out, 0, &count)) {
        return false;
    }
    std::string more;
    for (size_t i = 1; i < count; i++) {
        if (request_header(f, name, more, i)) {
            out += "," + more;
        }
    }
    return true;
}

bool headers_match(Filter *f, const std::vector<HeaderMatch> &headers) {
    for (const auto &h : headers) {
        std::string value;
        bool found = header_value(f, h.name, value);
        bool ok = h.kind == HeaderMatch::kPresent ? found == h.present
                                                  : found && h.match.matches(value);
        if (ok == h.invert) {
            return false;
        }
    }
    return true;
}

bool route_matches(Filter *f, const RouteMatch &m, const std::string &path) {
    std::string without_query = path.substr(0, path.find('?'));
    bool ok = false;
    switch (m.kind) {
    case RouteMatch::kPrefix:
        ok = m.case_sensitive ? starts_with(path, m.value) : starts_with(lower(path), lower(m.value));
        break;
    case RouteMatch::kPath:
        ok = m.case_sensitive ? without_query == m.value : lower(without_query) == lower(m.value);
        break;
    case RouteMatch::kRegex:
        ok = RE2::FullMatch(without_query, *m.regex);
        break;
    }
    return ok && headers_match(f, m.headers);
}

}  // namespace

bool StringMatch::matches(const std::string &s) const {
    if (kind == kRegex) {
        return RE2::FullMatch(s, *regex);
    }
    std::string subject = ignore_case ? lower(s) : s;
    const std::string &v = value;  // lower case already when ignore_case
    switch (kind) {
    case kExact: return subject == v;
    case kPrefix: return starts_with(subject, v);
    case kSuffix: return ends_with(subject, v);
    case kContains: return subject.find(v) != std::string::npos;
    default: return false;
    }
}

bool requirement_for(Filter *f, const Requirement *&out) {
    const Config *c = f->config;
    out = nullptr;
    auto route = static_cast<const RouteConfig *>(
        envoy_dynamic_module_callback_get_most_specific_route_config(f->envoy));
    if (route && !route->requirement_name.empty()) {
        auto it = c->requirement_map.find(route->requirement_name);
        if (it == c->requirement_map.end()) {
            log(envoy_dynamic_module_type_log_level_Error,
                "the route's requirement_name \"" + route->requirement_name +
                    "\" is not in the filter's requirement_map");
            return false;
        }
        out = it->second;
        return true;
    }
    std::string path = request_path(f);
    for (const auto &rule : c->rules) {
        if (route_matches(f, rule.match, path)) {
            out = rule.requirement;
            return true;
        }
    }
    return true;
}

}  // namespace jwks_envoy
