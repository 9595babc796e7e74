// GoogleTest suite for jwks.hpp. Run by tests/cpp_binding.rs, which starts the JWKS server on
// 127.0.0.1 and passes its URLs and tokens in the environment.
#include <jwks.hpp>
#include <jwks.hpp>  // included twice on purpose: the include guard must hold

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

// Defined in second_tu.cpp, which includes jwks.hpp too: the header's inline functions must
// link from two translation units.
std::string verify_in_second_translation_unit(const std::string &url, const std::string &token);

namespace {

std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (!v) throw std::runtime_error(std::string("missing environment variable ") + name);
    return v;
}

jwks::Client client() { return jwks::Client(jwks::Options().uri(env("JWKS_URL")).audience("api")); }

template <typename Pred>
bool eventually(Pred pred) {
    for (int i = 0; i < 1000; i++) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

TEST(Client, VerifiesAndReturnsClaims) {
    auto c = client();
    jwks::Verified v = c.verify(env("TOK_GOOD"));
    EXPECT_EQ(v.kid, "ec");
    EXPECT_EQ(v.alg, "ES256");
    EXPECT_EQ(v.typ, "JWT");
    EXPECT_NE(v.claims.find("\"sub\":\"user-1\""), std::string::npos);
    EXPECT_FALSE(v.stale);
    jwks::Key k = c.signing_key("rsa");
    EXPECT_EQ(k.kid(), "rsa");
    EXPECT_EQ(k.kty(), "RSA");
    EXPECT_EQ(k.algorithms(), "RS256");
    EXPECT_EQ(k.pem().rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
    EXPECT_EQ(k.der().size(), 294u);  // RSA-2048 SubjectPublicKeyInfo
    EXPECT_NE(k.jwk_json().find("\"kty\":\"RSA\""), std::string::npos);
    EXPECT_EQ(c.stats().fetches, 1u);
}

TEST(Client, ALocalKeySetVerifiesWithNoRequest) {
    jwks::Client c(jwks::Options().local_jwks(env("CB_JWKS")));
    EXPECT_EQ(c.verify(env("TOK_CB")).alg, "EdDSA");
    try {
        c.verify(env("TOK_GOOD"));
        ADD_FAILURE() << "a kid the local set lacks verified";
    } catch (const jwks::Error &e) {
        EXPECT_EQ(e.status(), JWKS_ERR_KEY_NOT_FOUND);
    }
    EXPECT_EQ(c.stats().fetches, 0u);
    EXPECT_THROW(jwks::Client(jwks::Options().local_jwks("{\"keys\":[]}")), jwks::Error);
    EXPECT_THROW(jwks::Client(jwks::Options().local_jwks_file("/nonexistent/keys.json")), jwks::Error);
}

TEST(Verified, HeaderValuesEscapeWhatUsersTyped) {
    auto c = client();
    jwks::Verified v = c.verify(env("TOK_INJECT"));
    EXPECT_NE(v.claims.find("\r\n\"name\""), std::string::npos);  // the payload byte for byte
    EXPECT_EQ(v.header_value("/name"), "x\\x0D\\x0AX-Admin: 1\\x00\\x5C");
    EXPECT_EQ(v.header_value("/org/name"), "Zo\xc3\xab");
    EXPECT_EQ(v.header_value("/org"), "{\"name\":\"Zo\xc3\xab\"}");
    std::string whole = v.header_value("");
    EXPECT_EQ(whole.rfind("{\"aud\":\"api\",\"exp\":", 0), 0u);
    for (char ch : whole) {
        unsigned char b = static_cast<unsigned char>(ch);
        EXPECT_FALSE((b < 0x20 && b != '\t') || b == 0x7f) << whole;
    }
    EXPECT_EQ(v.try_header_value("/absent").error().status(), JWKS_ERR_MISSING_CLAIM);
    EXPECT_THROW((void)v.header_value("/absent"), jwks::Error);
    jwks::Verified not_json;
    not_json.claims = "[1]";
    EXPECT_EQ(not_json.try_header_value("/0").error().status(), JWKS_ERR_INVALID_ARGUMENT);
    // Longer than the first buffer: the second call.
    jwks::Verified long_value;
    long_value.claims = "{\"n\":\"" + std::string(200, 'a') + "\\n\"}";
    EXPECT_EQ(long_value.header_value("/n"), std::string(200, 'a') + "\\x0A");
    EXPECT_EQ(jwks::escape_header_value("k\r\n"), "k\\x0D\\x0A");
    EXPECT_EQ(jwks::escape_header_value(v.kid), "ec");
    EXPECT_EQ(jwks::try_escape_header_value("\xff").error().status(), JWKS_ERR_INVALID_ARGUMENT);
}

TEST(Client, AnExpiredSetAnswersStaleAtOnceAndRefreshesInTheBackground) {
    jwks::Client c(jwks::Options()
                       .uri(env("JWKS_URL"))
                       .audience("api")
                       .lifespan(std::chrono::milliseconds(300))
                       .refresh_jitter(0)
                       .refresh_ahead(false));
    EXPECT_FALSE(c.verify(env("TOK_GOOD")).stale);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past the lifespan; not timed
    EXPECT_TRUE(c.verify(env("TOK_GOOD")).stale);
    EXPECT_TRUE(eventually([&] { return c.stats().refreshing == 0; }));
    jwks_stats st = c.stats();
    EXPECT_EQ(st.background_refreshes, 1u);
    EXPECT_EQ(st.served_while_refreshing, 1u);
    EXPECT_EQ(st.cache_misses, 1u);
    EXPECT_FALSE(c.verify(env("TOK_GOOD")).stale);
}

TEST(Client, IatInTheFutureIsRefusedOnlyWhenAsked) {
    auto lenient = client();
    EXPECT_NO_THROW(lenient.verify(env("TOK_IAT_FUTURE")));
    jwks::VerifyOptions iat;
    iat.verify_iat(true);
    auto per_call = lenient.try_verify(env("TOK_IAT_FUTURE"), &iat);
    ASSERT_FALSE(per_call);
    EXPECT_EQ(per_call.error().status(), JWKS_ERR_NOT_YET_VALID);
    jwks::Client strict(jwks::Options().uri(env("JWKS_URL")).audience("api").verify_iat(true));
    auto refused = strict.try_verify(env("TOK_IAT_FUTURE"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status(), JWKS_ERR_NOT_YET_VALID);
    EXPECT_NE(refused.error().message().find("iat"), std::string::npos);
}

TEST(Client, EachErrorClassIsItsException) {
    auto c = client();
    struct Case { const char *token; jwks_status status; };
    for (Case tc : {Case{"TOK_EXPIRED", JWKS_ERR_EXPIRED}, Case{"TOK_BAD_SIG", JWKS_ERR_BAD_SIGNATURE},
                    Case{"TOK_WRONG_AUD", JWKS_ERR_WRONG_AUDIENCE}, Case{"TOK_NONE", JWKS_ERR_ALGORITHM_NOT_ALLOWED},
                    Case{"TOK_NO_KID", JWKS_ERR_MISSING_KID}, Case{"TOK_UNKNOWN_KID", JWKS_ERR_KEY_NOT_FOUND}}) {
        try {
            (void)c.verify(env(tc.token));
            ADD_FAILURE() << tc.token << " verified";
        } catch (const jwks::Error &e) {
            EXPECT_EQ(e.status(), tc.status) << tc.token << ": " << e.what();
            EXPECT_FALSE(e.message().empty());
            EXPECT_EQ(std::string(e.what()).rfind(jwks_status_str(tc.status), 0), 0u) << e.what();
        }
    }
    try {
        (void)c.verify("a.b");
        ADD_FAILURE() << "a.b verified";
    } catch (const jwks::Error &e) {
        EXPECT_EQ(e.status(), JWKS_ERR_MALFORMED_TOKEN);
    }
    EXPECT_THROW(jwks::Options().uri("not a url"), jwks::Error);
    EXPECT_THROW(jwks::Options().lifespan(std::chrono::milliseconds(0)), jwks::Error);
    EXPECT_THROW(jwks::Options().algorithms("RS256,FOO"), jwks::Error);
    EXPECT_THROW(jwks::Options().log([](jwks::LogLevel, std::string_view) {}, static_cast<jwks::LogLevel>(9)),
                 jwks::Error);  // the function is freed (LSan)
    EXPECT_THROW(jwks::VerifyOptions().algorithms("nope"), jwks::Error);
    EXPECT_THROW(jwks::Client(jwks::Options()), jwks::Error);  // no URL, no issuer
    EXPECT_THROW((void)c.signing_key("zz"), jwks::Error);
}

TEST(Client, NonThrowingVariant) {
    auto c = client();
    auto ok = c.try_verify(env("TOK_GOOD"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok.value().kid, "ec");
    auto bad = c.try_verify(env("TOK_EXPIRED"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().status(), JWKS_ERR_EXPIRED);
    EXPECT_FALSE(bad.pending());
    EXPECT_THROW((void)bad.value(), jwks::Error);  // value() of a failure throws its error
    auto made = jwks::Client::create(jwks::Options());
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().status(), JWKS_ERR_INVALID_ARGUMENT);
    auto key = c.try_signing_key("zz");
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().status(), JWKS_ERR_KEY_NOT_FOUND);
}

TEST(Client, HandlesAreMoveOnly) {
    static_assert(!std::is_copy_constructible_v<jwks::Client> && !std::is_copy_assignable_v<jwks::Client>);
    static_assert(std::is_nothrow_move_constructible_v<jwks::Client>);
    static_assert(!std::is_copy_constructible_v<jwks::Key> && std::is_nothrow_move_constructible_v<jwks::Key>);
    static_assert(!std::is_copy_constructible_v<jwks::KeySet> && std::is_nothrow_move_constructible_v<jwks::KeySet>);
    static_assert(!std::is_copy_constructible_v<jwks::Options> && !std::is_copy_constructible_v<jwks::Request>);
    auto a = client();
    jwks::Client b = std::move(a);
    EXPECT_EQ(b.verify(env("TOK_GOOD")).kid, "ec");
    jwks::Client c = client();
    c = std::move(b);  // the old c is freed, no leak (ASan)
    EXPECT_EQ(c.verify(env("TOK_GOOD")).kid, "ec");
    jwks::Key k = c.signing_key("ec");
    jwks::Key k2 = std::move(k);
    jwks::Key k3 = c.signing_key("rsa");
    k3 = std::move(k2);  // the RSA key is freed
    EXPECT_EQ(k3.kid(), "ec");
    jwks::KeySet s = c.jwk_set();
    jwks::KeySet s2 = std::move(s);
    EXPECT_EQ(s2.size(), 2u);
}

TEST(Client, KeysOutliveTheClient) {
    jwks::KeySet set = client().jwk_set();
    jwks::Key key = client().signing_key("ec");
    EXPECT_EQ(set.size(), 2u);
    EXPECT_EQ(key.kty(), "EC");
}

TEST(Client, ManyThreadsShareOneClient) {
    auto c = client();
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    const std::string token = env("TOK_GOOD");
    for (int i = 0; i < 8; i++) {
        threads.emplace_back([&] {
            for (int j = 0; j < 50; j++) ok += c.try_verify(token).ok() ? 1 : 0;
        });
    }
    for (auto &t : threads) t.join();
    EXPECT_EQ(ok.load(), 400);
    EXPECT_EQ(c.stats().fetches, 1u);
}

TEST(Client, KeySetsAndFetchData) {
    auto c = client();
    jwks::KeySet set = c.jwk_set();
    EXPECT_EQ(set.size(), 2u);
    EXPECT_EQ(set.skipped(), 1u);  // the server also publishes an encryption key
    EXPECT_NE(set.json().find("\"keys\""), std::string::npos);
    std::vector<std::string> kids;
    for (jwks::KeyView k : set) kids.emplace_back(k.kid());
    EXPECT_EQ(kids, (std::vector<std::string>{"ec", "rsa"}));
    ASSERT_TRUE(set.find("rsa"));
    EXPECT_EQ(set.find("rsa")->kty(), "RSA");
    EXPECT_FALSE(set.find("nope"));
    EXPECT_EQ(c.signing_keys().size(), 2u);
    EXPECT_EQ(c.stats().fetches, 1u);  // both from the cache
    jwks::KeySet fresh = c.fetch_data();
    EXPECT_EQ(fresh.json(), set.json());
    EXPECT_EQ(c.stats().fetches, 2u);  // fetch_data always fetches
    (void)c.jwk_set(true);
    EXPECT_EQ(c.stats().fetches, 3u);
    jwks::Key k = c.signing_key_from_jwt(env("TOK_EXPIRED"));  // not verified: expired is fine
    EXPECT_EQ(k.kid(), "ec");
    EXPECT_EQ(k.alg(), "ES256");
    EXPECT_THROW((void)c.signing_key_from_jwt(env("TOK_NO_KID")), jwks::Error);
}

TEST(Client, PerCallVerifyOptions) {
    auto c = client();
    auto other = jwks::VerifyOptions().audience("other");
    EXPECT_EQ(c.verify(env("TOK_WRONG_AUD"), other).kid, "ec");
    EXPECT_EQ(c.try_verify(env("TOK_GOOD"), &other).error().status(), JWKS_ERR_WRONG_AUDIENCE);
    auto rsa_only = jwks::VerifyOptions().algorithms("RS256");
    EXPECT_EQ(c.try_verify(env("TOK_GOOD"), &rsa_only).error().status(), JWKS_ERR_ALGORITHM_NOT_ALLOWED);
    auto lenient = jwks::VerifyOptions().verify_exp(false);
    EXPECT_TRUE(c.try_verify(env("TOK_EXPIRED"), &lenient));
}

TEST(Client, DiscoveryByIssuer) {
    const std::string issuer = env("ISSUER_A");
    jwks::Client c(jwks::Options().allowed_issuer(issuer));
    jwks::Verified v = c.verify(env("TOK_ISS_A"));
    EXPECT_EQ(v.kid, "a-key");
    EXPECT_EQ(c.signing_key_for_issuer(issuer, "a-key").kty(), "EC");
    EXPECT_EQ(c.jwk_set_for_issuer(issuer).size(), 1u);
    EXPECT_EQ(c.stats().fetches, 2u);  // configuration + keys, once
    EXPECT_EQ(c.try_verify(env("TOK_ISS_B")).error().status(), JWKS_ERR_ISSUER_NOT_ALLOWED);
    EXPECT_EQ(c.try_signing_key("a-key").error().status(), JWKS_ERR_INVALID_ARGUMENT);  // fixed-URL only

    jwks::Client st(jwks::Options().static_issuer(issuer, env("BASE") + "/a/jwks"));
    EXPECT_EQ(st.verify(env("TOK_ISS_A")).kid, "a-key");
    EXPECT_EQ(st.stats().fetches, 1u);  // no configuration document
}

struct MemoryIdp {
    std::atomic<int> calls{0};
    std::atomic<bool> fail{false};
};

TEST(Client, FetchAndLogFunctions) {
    // The hosts are .invalid: only the fetch function can answer.
    auto idp = std::make_shared<MemoryIdp>();
    auto logs = std::make_shared<std::vector<std::pair<int, std::string>>>();
    auto log_mutex = std::make_shared<std::mutex>();
    std::weak_ptr<MemoryIdp> watch = idp;
    const std::string config = env("CB_CONFIG"), keys = env("CB_JWKS");
    {
        auto options = jwks::Options().allowed_issuer(env("CB_ISSUER")).failure_backoff(std::chrono::milliseconds(1), std::chrono::milliseconds(1));
        options.fetch([idp, config, keys](std::string_view url, const std::vector<jwks::HttpHeader> &headers,
                                          jwks::HttpResponse &response) {
            idp->calls++;
            if (idp->fail) return false;
            bool accept = false;
            for (const auto &h : headers) accept = accept || h.name == "Accept";
            if (!accept) return false;
            const bool is_config = url.find("/.well-known/openid-configuration") != std::string_view::npos;
            EXPECT_EQ(response.status(42), JWKS_ERR_INVALID_ARGUMENT);
            EXPECT_EQ(response.status(200), JWKS_OK);
            EXPECT_EQ(response.header("Content-Type", "application/json"), JWKS_OK);
            EXPECT_EQ(response.body(is_config ? config : keys), JWKS_OK);
            return true;
        });
        options.log([logs, log_mutex](jwks::LogLevel level, std::string_view message) {
            std::lock_guard<std::mutex> lock(*log_mutex);
            logs->emplace_back(static_cast<int>(level), std::string(message));
        }, jwks::LogLevel::debug);
        jwks::Client c(options);
        EXPECT_EQ(c.verify(env("TOK_CB")).alg, "EdDSA");
        EXPECT_EQ(idp->calls.load(), 2);
        idp->fail = true;
        auto refreshed = c.try_jwk_set_for_issuer(env("CB_ISSUER"), true);
        ASSERT_FALSE(refreshed);
        EXPECT_EQ(refreshed.error().status(), JWKS_ERR_CONNECTION);
        std::lock_guard<std::mutex> lock(*log_mutex);
        std::string all;
        for (const auto &[level, text] : *logs) all += std::to_string(level) + " " + text + "\n";
        ASSERT_EQ(logs->size(), 2u) << all;
        EXPECT_EQ(logs->front().first, 4);  // the key fetch (debug)
        EXPECT_NE(logs->front().second.find("fetched, 1 keys"), std::string::npos) << all;
        EXPECT_EQ(logs->back().first, 2);  // a failure with a usable set left: a warning
        EXPECT_NE(logs->back().second.find("connection failed"), std::string::npos) << all;
    }
    idp.reset();
    // The options and the client are gone: the library releases the functions (and the
    // shared state they hold) once no call can come.
    EXPECT_TRUE(eventually([&] { return watch.expired(); }));
}

TEST(Client, EmptyFunctionsAreRefusedOrRestoreDefaults) {
    // An empty fetch function restores the built-in HTTP client; an empty log turns logging off.
    jwks::Client c(jwks::Options()
                       .uri(env("JWKS_URL"))
                       .audience("api")
                       .fetch([](std::string_view, const std::vector<jwks::HttpHeader> &, jwks::HttpResponse &) { return false; })
                       .fetch(nullptr)
                       .log(nullptr));
    EXPECT_EQ(c.verify(env("TOK_GOOD")).kid, "ec");
    // An empty callable cannot be called back: refused at once.
    std::function<void(jwks::Result<jwks::Verified>)> empty;
    auto a = c.verify_async(env("TOK_GOOD"), empty);
    ASSERT_TRUE(a.failed());
    EXPECT_EQ(a.error().status(), JWKS_ERR_INVALID_ARGUMENT);
    void (*none)(jwks::Result<jwks::Key>) = nullptr;
    EXPECT_TRUE(c.signing_key_async("ec", none).failed());
    // error() of a success is an Error with status JWKS_OK, not undefined behaviour.
    auto ok = c.try_verify(env("TOK_GOOD"));
    EXPECT_EQ(ok.error().status(), JWKS_OK);
    EXPECT_EQ(c.try_warm_up().error().status(), JWKS_OK);
}

TEST(Client, NonBlockingWarmUpAndStats) {
    auto c = client();
    auto first = c.verify_nonblocking(env("TOK_GOOD"));
    ASSERT_FALSE(first);
    EXPECT_TRUE(first.pending());
    EXPECT_TRUE(eventually([&] { return c.verify_nonblocking(env("TOK_GOOD")).ok(); }));
    auto key = c.signing_key_nonblocking("rsa");
    ASSERT_TRUE(key);
    EXPECT_EQ(key.value().kty(), "RSA");

    auto warm = client();
    warm.warm_up();
    EXPECT_EQ(warm.stats().fetches, 1u);
    EXPECT_TRUE(warm.verify_nonblocking(env("TOK_GOOD")));
    jwks_stats st = warm.stats();
    EXPECT_EQ(st.cache_hits, 1u);
    EXPECT_EQ(st.keys_held, 2u);

    jwks::Client down(jwks::Options().uri(env("BASE") + "/500"));
    auto failed = down.try_warm_up();
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().status(), JWKS_ERR_HTTP_STATUS);
    EXPECT_THROW(down.warm_up(), jwks::Error);
}

TEST(Client, AsyncVerifyCallsBackOnceOrAnswersAtOnce) {
    auto c = client();
    std::atomic<int> calls{0};
    std::atomic<bool> ok{false};
    auto first = c.verify_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Verified> r) {
        ok = r.ok() && r.value().kid == "ec";
        calls++;
    });
    ASSERT_TRUE(first.pending());  // a fresh client must fetch
    jwks::Request request = first.take_request();
    EXPECT_TRUE(eventually([&] { return calls.load() == 1; }));
    EXPECT_TRUE(ok.load());
    auto second = c.verify_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Verified>) { calls++; });
    ASSERT_TRUE(second.ok());  // a cache hit: no callback
    EXPECT_EQ(second.value().kid, "ec");
    auto bad = c.verify_async("a.b", [&](jwks::Result<jwks::Verified>) { calls++; });
    ASSERT_TRUE(bad.failed());  // decided at once, no callback, no exception
    EXPECT_EQ(bad.error().status(), JWKS_ERR_MALFORMED_TOKEN);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(calls.load(), 1);
}

TEST(Client, AsyncKeysTakeMoveOnlyCallables) {
    auto c = client();
    std::atomic<int> calls{0};
    std::string got_kid, got_set;
    std::mutex m;
    auto owned = std::make_unique<int>(7);  // makes the callable move-only
    auto k = c.signing_key_async("rsa", [&, owned = std::move(owned)](jwks::Result<jwks::Key> r) {
        std::lock_guard<std::mutex> lock(m);
        got_kid = r.ok() ? std::string(r.value().kid()) + std::to_string(*owned) : r.error().what();
        calls++;
    });
    ASSERT_TRUE(k.pending());
    jwks::Request kr = k.take_request();
    EXPECT_TRUE(eventually([&] { return calls.load() == 1; }));
    {
        std::lock_guard<std::mutex> lock(m);
        EXPECT_EQ(got_kid, "rsa7");
    }
    auto s = c.jwk_set_async(false, [&](jwks::Result<jwks::KeySet>) { calls++; });
    ASSERT_TRUE(s.ok());  // cached
    EXPECT_EQ(s.value().size(), 2u);
    auto refreshed = c.jwk_set_async(true, [&](jwks::Result<jwks::KeySet> r) {
        std::lock_guard<std::mutex> lock(m);
        got_set = r.ok() ? std::to_string(r.value().size()) : r.error().what();
        calls++;
    });
    ASSERT_TRUE(refreshed.pending());
    jwks::Request sr = refreshed.take_request();
    EXPECT_TRUE(eventually([&] { return calls.load() == 2; }));
    {
        std::lock_guard<std::mutex> lock(m);
        EXPECT_EQ(got_set, "2");
    }
    auto j = c.signing_key_from_jwt_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Key>) { calls++; });
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j.value().kid(), "ec");
    auto missing = c.signing_key_from_jwt_async(env("TOK_NO_KID"), [&](jwks::Result<jwks::Key>) { calls++; });
    ASSERT_TRUE(missing.failed());
    EXPECT_EQ(missing.error().status(), JWKS_ERR_MISSING_KID);
    EXPECT_EQ(calls.load(), 2);
}

TEST(Client, DestroyingTheRequestCancels) {
    std::atomic<int> calls{0};
    {
        auto c = client();
        auto pending = c.verify_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Verified>) { calls++; });
        ASSERT_TRUE(pending.pending());
        jwks::Request moved = pending.take_request();
        jwks::Request other = std::move(moved);
    }  // the request is destroyed first (cancel), then the client
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LE(calls.load(), 1);  // at most a callback that had already started
    EXPECT_EQ(jwks_status_str(JWKS_PENDING), std::string("JWKS_PENDING"));
}

TEST(Client, QueuedCompletionsForAnEventLoop) {
    auto c = client();
    const int fd = c.completion_fd();
    ASSERT_GE(fd, 0);
    EXPECT_EQ(c.completion_fd(), fd);
    EXPECT_FALSE(c.poll());
    auto good = c.verify_async_queued(env("TOK_GOOD"), 7);
    auto expired = c.verify_async_queued(env("TOK_EXPIRED"), 8);
    ASSERT_TRUE(good.pending());
    ASSERT_TRUE(expired.pending());
    jwks::Request r1 = good.take_request(), r2 = expired.take_request();
    std::vector<jwks::Completion> done;
    while (done.size() < 2) {
        pollfd p{fd, POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 10000), 1) << "no completion within 10 s";
        while (auto completion = c.poll()) done.push_back(std::move(*completion));
    }
    std::sort(done.begin(), done.end(), [](const auto &a, const auto &b) { return a.tag < b.tag; });
    EXPECT_EQ(done[0].tag, 7u);
    ASSERT_TRUE(done[0].result);
    EXPECT_EQ(done[0].result.value().kid, "ec");
    EXPECT_EQ(done[1].tag, 8u);
    EXPECT_EQ(done[1].result.error().status(), JWKS_ERR_EXPIRED);
    auto hit = c.verify_async_queued(env("TOK_GOOD"), 9);
    EXPECT_TRUE(hit.ok());  // answered at once; nothing queued
    EXPECT_FALSE(c.poll());
}

TEST(Client, SecondTranslationUnit) {
    EXPECT_EQ(verify_in_second_translation_unit(env("JWKS_URL"), env("TOK_GOOD")), "ec");
}

}  // namespace

TEST(Options, DurationsAreChronoAndNegativeOnesAreRefused) {
    using namespace std::chrono_literals;
    jwks::Options o;
    o.uri(env("JWKS_URL")).timeout(5s).lifespan(10min).leeway(30s).max_stale(24h).min_refetch_interval(1min);
    o.failure_backoff(100ms, 2min).lifespan_bounds(1min, 1h).issuer_ttl(1h).issuer_min_refetch_interval(30s);
    try {
        jwks::Options().timeout(-1ms);
        ADD_FAILURE() << "a negative timeout was taken";
    } catch (const jwks::Error &e) {
        EXPECT_EQ(e.status(), JWKS_ERR_INVALID_ARGUMENT);
        EXPECT_NE(e.message().find("timeout must not be negative"), std::string::npos) << e.message();
    }
    EXPECT_THROW(jwks::Options().failure_backoff(-1s, 1s), jwks::Error);
    EXPECT_THROW(jwks::VerifyOptions().leeway(-5s), jwks::Error);
    jwks::Client c(o.audience("api"));
    EXPECT_EQ(c.verify(env("TOK_GOOD"), jwks::VerifyOptions().leeway(0s)).kid, "ec");
}

TEST(Options, TheDeprecatedMillisecondAndIntLevelFormsStillWork) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    int seen = 0;
    jwks::Options o;
    o.uri(env("JWKS_URL")).audience("api").timeout_ms(5000).lifespan_ms(60000).leeway_ms(1000);
    o.log([&seen](int level, std::string_view) { seen = level; }, 4);
    EXPECT_THROW(jwks::Options().log([](int, std::string_view) {}, 9), jwks::Error);
#pragma GCC diagnostic pop
    jwks::Client c(o);
    EXPECT_EQ(c.verify(env("TOK_GOOD")).kid, "ec");
    EXPECT_EQ(seen, 4);  // the fetch, at debug level, reached the int-level function
}
