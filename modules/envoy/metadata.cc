// Dynamic metadata in jwt_authn's layout, so that filters after this one (RBAC, Lua, ext_authz)
// and jwt_authn's RBAC examples read it unchanged: namespace envoy.filters.http.jwt_authn, one
// key per setting (payload_in_metadata, header_in_metadata, failed_status_in_metadata), each a
// google.protobuf.Struct. Envoy 1.40's setter takes the Struct serialized (protobuf binary) and
// merges its keys into the namespace; the encoding below is the few wire rules a Struct needs.

#include "module.h"

#include <nlohmann/json.hpp>

#include <cstring>

namespace jwks_envoy {

namespace {

using json = nlohmann::json;

const char *const kNamespace = "envoy.filters.http.jwt_authn";

void varint(std::string &out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

// A length-delimited field: tag (field number, wire type 2), length, bytes.
void bytes_field(std::string &out, uint32_t field, const std::string &bytes) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.size());
    out += bytes;
}

std::string value_of(const json &j);

// google.protobuf.Struct: field 1, map<string, Value>, one entry {1: key, 2: value} each.
std::string struct_of(const json &object) {
    std::string out;
    for (auto it = object.begin(); it != object.end(); ++it) {
        std::string entry;
        bytes_field(entry, 1, it.key());
        bytes_field(entry, 2, value_of(it.value()));
        bytes_field(out, 1, entry);
    }
    return out;
}

// google.protobuf.Value: null 1, number 2 (double), string 3, bool 4, struct 5, list 6
// (ListValue: field 1, repeated Value).
std::string value_of(const json &j) {
    std::string out;
    switch (j.type()) {
    case json::value_t::null:
        varint(out, (1 << 3) | 0);
        varint(out, 0);
        break;
    case json::value_t::boolean:
        varint(out, (4 << 3) | 0);
        varint(out, j.get<bool>() ? 1 : 0);
        break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
        double d = j.get<double>();
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        varint(out, (2 << 3) | 1);
        for (int i = 0; i < 8; i++) {
            out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
        }
        break;
    }
    case json::value_t::string:
        bytes_field(out, 3, j.get_ref<const std::string &>());
        break;
    case json::value_t::object:
        bytes_field(out, 5, struct_of(j));
        break;
    case json::value_t::array: {
        std::string list;
        for (const auto &v : j) {
            bytes_field(list, 1, value_of(v));
        }
        bytes_field(out, 6, list);
        break;
    }
    default:  // binary and discarded values never come from a parsed text
        varint(out, (1 << 3) | 0);
        varint(out, 0);
    }
    return out;
}

void set_struct(Filter *f, const std::string &serialized) {
    envoy_dynamic_module_callback_http_set_dynamic_metadata_struct(f->envoy, buf(kNamespace),
                                                                   buf(serialized));
}

}  // namespace

bool struct_with_json(const std::string &key, const char *text, size_t len, std::string &out) {
    json value = json::parse(text, text + len, nullptr, false);
    if (value.is_discarded()) {
        return false;
    }
    out = struct_of(json::object({{key, std::move(value)}}));
    return true;
}

void set_json_metadata(Filter *f, const std::string &key, const char *text, size_t len) {
    std::string serialized;
    // The library read this text first (one reading, strict); a failure here is a bug.
    if (!struct_with_json(key, text, len, serialized)) {
        log(envoy_dynamic_module_type_log_level_Error, "metadata " + key + ": not JSON");
        return;
    }
    set_struct(f, serialized);
}

void set_failed_status_metadata(Filter *f, const std::string &key, int code,
                                const std::string &message) {
    json status = {{"code", code}, {"message", message}};
    set_struct(f, struct_of(json::object({{key, status}})));
}

}  // namespace jwks_envoy
