// libjwks_envoy: a JWT authentication filter for stock Envoy, loaded as a dynamic module:
// Envoy's hooks. The module uses libjwks only through include/jwks.h and Envoy only through the
// ABI declared in envoy_abi.h (Envoy 1.40). See README.md for the configuration and the
// threading model:
//
// - The filter config (made on Envoy's main thread) owns one jwks_client per provider, shared
//   by every worker; a jwks_client is thread-safe.
// - On request headers, each needed provider's token is verified with
//   jwks_client_verify_async, which either answers from the cache at once or goes pending. A
//   pending verification's callback runs on a library thread: it stores the result and, once
//   every verification of the request is answered, commits the stream's Envoy scheduler; Envoy
//   then calls on_http_filter_scheduled on the stream's worker thread, which continues the
//   request or answers it.
// - jwks_request_free waits for a callback that is running, so once on_http_filter_destroy
//   has freed the requests no library thread can touch the stream's state.
// - Nothing here blocks a worker: no blocking libjwks call is made outside the main thread.
//
// config.cc reads the config, rules.cc picks the requirement, extract.cc finds the tokens,
// filter.cc runs a request, metadata.cc writes jwt_authn's dynamic metadata.

#include "module.h"

#include <nlohmann/json.hpp>

#include <new>
#include <string>

using namespace jwks_envoy;

namespace {

const char *const kCounterNames[kCounters] = {
    "verified",           "verified_stale",     "pending",
    "bypassed",           "allowed_missing",    "allowed_failed",
    "rejected_missing",   "rejected_malformed", "rejected_expired",
    "rejected_signature", "rejected_unknown_kid", "rejected_algorithm",
    "rejected_claims",    "keys_unavailable",   "internal_error",
};

Filter *filter_of(envoy_dynamic_module_type_http_filter_module_ptr p) {
    return static_cast<Filter *>(const_cast<void *>(p));
}

void send_error(Filter *f, uint32_t status, const char *body, const char *details) {
    envoy_dynamic_module_callback_http_send_response(f->envoy, status, nullptr, 0, buf(body),
                                                     buf(details));
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
    } catch (const nlohmann::json::exception &e) {
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
        return parse_route_config(config.length ? std::string(config.ptr, config.length) : "");
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
