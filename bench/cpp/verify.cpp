// The C++ wrapper's side of the cross-language benchmark (bench/run.sh): what a C++ server
// does per request, client.verify(token), which returns a jwks::Verified with the claims, kid,
// alg and typ copied into std::strings.
//
//   verify_cpp URL MILLIS ALG=TOKEN...   one round: prints "cpp ALG ns_per_verification"
#include <jwks.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

// ns per verification over about `millis` ms, after a short warm-up.
double timed(const jwks::Client &client, const std::string &token, long millis) {
    long n = 16;
    size_t sink = 0;
    for (long i = 0; i < n; i++) sink += client.verify(token).claims.size();
    for (;;) {
        auto start = Clock::now();
        for (long i = 0; i < n; i++) sink += client.verify(token).claims.size();
        double took = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
        if (took >= millis * 1e6) {
            if (sink == 0) std::abort();  // keeps the work observable
            return took / n;
        }
        long next = static_cast<long>(n * (millis * 1e6) / (took > 1 ? took : 1));
        n = next > 2 * n ? next : 2 * n;
    }
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 4) {
        std::cerr << "usage: " << argv[0] << " URL MILLIS ALG=TOKEN...\n";
        return 2;
    }
    try {
        jwks::Client client(jwks::Options().uri(argv[1]).audience("bench").issuer("https://issuer.bench"));
        client.warm_up();
        long millis = std::atol(argv[2]);
        for (int i = 3; i < argc; i++) {
            std::string arg = argv[i];
            size_t eq = arg.find('=');
            if (eq == std::string::npos) {
                std::cerr << "expected ALG=TOKEN, got " << arg << "\n";
                return 2;
            }
            std::printf("cpp %s %.0f\n", arg.substr(0, eq).c_str(), timed(client, arg.substr(eq + 1), millis));
        }
    } catch (const jwks::Error &e) {
        std::cerr << "verify_cpp: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
