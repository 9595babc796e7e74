// jwks.hpp built with -fno-exceptions: only the try_ forms exist, Options records its first
// error for Client::create. A plain program (GoogleTest needs exceptions): exits non-zero on
// the first failed check.
#include <jwks.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#if JWKS_HPP_EXCEPTIONS
#error "this test must be built with -fno-exceptions"
#endif

static int failures = 0;
#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            std::fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (!v) {
        std::fprintf(stderr, "missing environment variable %s\n", name);
        std::exit(2);
    }
    return v;
}

int main() {
    // A bad setter does not throw: the first error is kept and reported by create.
    jwks::Options bad;
    bad.uri("not a url").lifespan(std::chrono::milliseconds(0));
    CHECK(bad.error().has_value());
    CHECK(bad.error()->status() == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(bad.error()->message().find("URL") != std::string::npos || bad.error()->message().find("url") != std::string::npos);
    auto refused = jwks::Client::create(bad);
    CHECK(!refused.ok());
    CHECK(refused.error().status() == JWKS_ERR_INVALID_ARGUMENT);

    jwks::Options options;
    options.uri(env("JWKS_URL")).audience("api");
    CHECK(!options.error());
    auto made = jwks::Client::create(options);
    CHECK(made.ok());
    if (!made) return 1;
    jwks::Client client = std::move(made).value();
    auto ok = client.try_verify(env("TOK_GOOD"));
    CHECK(ok.ok() && ok.value().kid == "ec");
    auto expired = client.try_verify(env("TOK_EXPIRED"));
    CHECK(!expired.ok() && expired.error().status() == JWKS_ERR_EXPIRED);
    auto safe = ok.value().try_header_value("/aud");
    CHECK(safe.ok() && safe.value() == "api");
    CHECK(ok.value().try_header_value("/absent").error().status() == JWKS_ERR_MISSING_CLAIM);
    auto escaped = jwks::try_escape_header_value("a\nb");
    CHECK(escaped.ok() && escaped.value() == "a\\x0Ab");
    auto key = client.try_signing_key("rsa");
    CHECK(key.ok() && key.value().kty() == "RSA");
    auto set = client.try_jwk_set();
    CHECK(set.ok() && set.value().size() == 2);
    auto stats = client.try_stats();
    CHECK(stats.ok() && stats.value().fetches == 1);
    auto async = client.verify_async(env("TOK_GOOD"), [](jwks::Result<jwks::Verified>) {});
    CHECK(async.ok());
    CHECK(async.error().status() == JWKS_OK);  // error() of a success

    // A per-call option that failed to set must not be silently dropped (that would verify
    // with the client's wider settings): the call reports the recorded error instead.
    jwks::VerifyOptions narrow;
    narrow.algorithms("RS256,NOPE");
    CHECK(narrow.error().has_value());
    auto refused_call = client.try_verify(env("TOK_GOOD"), &narrow);
    CHECK(!refused_call.ok() && refused_call.error().status() == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(refused_call.error().message().find("NOPE") != std::string::npos);
    CHECK(client.verify_nonblocking(env("TOK_GOOD"), &narrow).error().status() == JWKS_ERR_INVALID_ARGUMENT);
    auto refused_async = client.verify_async(env("TOK_GOOD"), [](jwks::Result<jwks::Verified>) {}, &narrow);
    CHECK(refused_async.failed() && refused_async.error().status() == JWKS_ERR_INVALID_ARGUMENT);
    CHECK(client.verify_async_queued(env("TOK_GOOD"), 1, &narrow).failed());
    std::printf("noexcept: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
