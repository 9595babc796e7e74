// GoogleTest suite for jwks.hpp. Run by tests/cpp_binding.rs, which starts the JWKS server on
// 127.0.0.1 and passes its URL and tokens in the environment.
#include <jwks.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (!v) throw std::runtime_error(std::string("missing environment variable ") + name);
    return v;
}

jwks::Client client() { return jwks::Client(jwks::Options().uri(env("JWKS_URL")).audience("api")); }

TEST(Client, VerifiesAndReturnsClaims) {
    auto c = client();
    jwks::Verified v = c.verify(env("TOK_GOOD"));
    EXPECT_EQ(v.kid, "ec");
    EXPECT_EQ(v.alg, "ES256");
    EXPECT_EQ(v.typ, "JWT");
    EXPECT_NE(v.claims.find("\"sub\":\"user-1\""), std::string::npos);
    EXPECT_FALSE(v.stale);
    jwks::Key k = c.signing_key("rsa");
    EXPECT_EQ(k.kty, "RSA");
    EXPECT_EQ(k.algorithms, "RS256");
    EXPECT_EQ(k.pem.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
    EXPECT_FALSE(k.der.empty());
    EXPECT_EQ(c.stats().fetches, 1u);
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
        }
    }
    EXPECT_THROW((void)c.verify("a.b"), jwks::Error);
    EXPECT_THROW(jwks::Options().uri("not a url"), jwks::Error);
    EXPECT_THROW(jwks::Client(jwks::Options()), jwks::Error);  // no URL, no issuer
}

TEST(Client, NonThrowingVariant) {
    auto c = client();
    auto ok = c.try_verify(env("TOK_GOOD"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok.value().kid, "ec");
    auto bad = c.try_verify(env("TOK_EXPIRED"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().status(), JWKS_ERR_EXPIRED);
}

TEST(Client, IsMoveOnly) {
    static_assert(!std::is_copy_constructible_v<jwks::Client>);
    static_assert(!std::is_copy_assignable_v<jwks::Client>);
    static_assert(std::is_nothrow_move_constructible_v<jwks::Client>);
    auto a = client();
    jwks::Client b = std::move(a);
    EXPECT_EQ(b.verify(env("TOK_GOOD")).kid, "ec");
    jwks::Client c = client();
    c = std::move(b);  // the old c is freed, no leak (ASan)
    EXPECT_EQ(c.verify(env("TOK_GOOD")).kid, "ec");
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

}  // namespace

namespace {

TEST(Client, AsyncVerifyCallsBackOnceOrAnswersAtOnce) {
    auto c = client();
    std::atomic<int> calls{0};
    std::atomic<bool> ok{false};
    auto first = c.verify_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Verified> r) {
        ok = r.ok() && r.value().kid == "ec";
        calls++;
    });
    ASSERT_TRUE(std::holds_alternative<jwks::Request>(first));  // a fresh client must fetch
    for (int i = 0; i < 500 && calls.load() == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(calls.load(), 1);
    EXPECT_TRUE(ok.load());
    auto second = c.verify_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Verified>) { calls++; });
    ASSERT_TRUE(std::holds_alternative<jwks::Verified>(second));  // a cache hit: no callback
    EXPECT_EQ(std::get<jwks::Verified>(second).kid, "ec");
    EXPECT_THROW((void)c.verify_async("a.b", [&](jwks::Result<jwks::Verified>) { calls++; }), jwks::Error);
    EXPECT_EQ(calls.load(), 1);
}

TEST(Client, DestroyingTheRequestCancels) {
    std::atomic<int> calls{0};
    {
        auto c = client();
        auto pending = c.verify_async(env("TOK_GOOD"), [&](jwks::Result<jwks::Verified>) { calls++; });
        ASSERT_TRUE(std::holds_alternative<jwks::Request>(pending));
        jwks::Request moved = std::move(std::get<jwks::Request>(pending));
    }  // the request is destroyed first (cancel), then the client
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LE(calls.load(), 1);  // at most a callback that had already started
}

}  // namespace
