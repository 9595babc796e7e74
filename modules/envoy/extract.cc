// Where a provider's token is: its from_headers in order, then its from_params (the query
// string), then its from_cookies, as jwt_authn looks. Only what the config names is read:
// with none of the three, the Authorization header's Bearer token (jwt_authn also reads the
// access_token query parameter by default; a token in a URL ends up in access logs, so here
// from_params must name it).

#include "module.h"

#include <strings.h>

namespace jwks_envoy {

namespace {

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding of a query component; a malformed escape stays as it is.
std::string percent_decoded(const std::string &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::string trimmed(const std::string &s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) {
        return "";
    }
    size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

// Calls `f` with each value of request header `name`.
template <typename F>
void each_header_value(Filter *f, const std::string &name, F each) {
    size_t count = 0;
    std::string value;
    if (!request_header(f, name, value, 0, &count)) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (i > 0 && !request_header(f, name, value, i)) {
            break;
        }
        each(value);
    }
}

// Calls `f` with the name and value of each `name=value` pair of `text`, pairs separated by
// `sep` (a query string's '&', a Cookie header's ';'); a pair without '=' is skipped.
template <typename F>
void each_pair(const std::string &text, char sep, F each) {
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(sep, start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string pair = text.substr(start, end - start);
        size_t eq = pair.find('=');
        if (eq != std::string::npos) {
            each(pair.substr(0, eq), pair.substr(eq + 1));
        }
        start = end + 1;
    }
}

// Every token of header `h` (each of its values that has the prefix) into `out`.
void from_header(Filter *f, const TokenHeader &h, std::vector<std::string> &out) {
    each_header_value(f, h.name, [&](const std::string &value) {
        if (value.size() < h.prefix.size() ||
            strncasecmp(value.data(), h.prefix.data(), h.prefix.size()) != 0) {
            return;
        }
        size_t start = h.prefix.size();
        // RFC 6750: "Bearer" 1*SP b64token.
        while (!h.prefix.empty() && h.prefix.back() == ' ' && start < value.size() &&
               value[start] == ' ') {
            start++;
        }
        out.push_back(value.substr(start));
    });
}

// Every value of query parameter `name` into `out`.
void from_query(Filter *f, const std::string &name, std::vector<std::string> &out) {
    envoy_dynamic_module_type_envoy_buffer q = {nullptr, 0};
    if (!envoy_dynamic_module_callback_http_filter_get_attribute_string(
            f->envoy, envoy_dynamic_module_type_attribute_id_RequestQuery, &q) ||
        q.ptr == nullptr) {
        return;
    }
    each_pair(std::string(q.ptr, q.length), '&',
              [&](const std::string &key, const std::string &value) {
                  if (percent_decoded(key) == name) {
                      out.push_back(percent_decoded(value));
                  }
              });
}

// Every value of cookie `name` into `out`.
void from_cookie(Filter *f, const std::string &name, std::vector<std::string> &out) {
    each_header_value(f, "cookie", [&](const std::string &header) {
        each_pair(header, ';', [&](const std::string &key, const std::string &value) {
            if (trimmed(key) != name) {
                return;
            }
            std::string token = trimmed(value);
            if (token.size() >= 2 && token.front() == '"' && token.back() == '"') {
                token = token.substr(1, token.size() - 2);
            }
            out.push_back(token);
        });
    });
}

}  // namespace

bool find_token(Filter *f, const Provider &p, std::string &token, std::string &header,
                bool &several) {
    std::vector<std::string> found;
    header.clear();
    for (const auto &h : p.from_headers) {
        from_header(f, h, found);
        if (!found.empty() && header.empty()) {
            header = h.name;
        }
    }
    for (const auto &name : p.from_params) {
        from_query(f, name, found);
    }
    for (const auto &name : p.from_cookies) {
        from_cookie(f, name, found);
    }
    if (found.empty()) {
        return false;
    }
    token = found.front();
    several = false;
    for (const auto &other : found) {
        several = several || other != token;
    }
    return true;
}

}  // namespace jwks_envoy
