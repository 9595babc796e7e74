// jwks_verify_cpp: verifies JWTs read from standard input (one per line) against a JWKS URL,
// or by issuer through OpenID Connect discovery, with the C++ wrapper jwks.hpp.
//
//   jwks_verify_cpp (--jwks URL | --issuer ISS...) [--aud AUD]... [--alg LIST] [--ca FILE]
//
// For each token it prints the verified claims (JSON, one line) on standard output, or the
// status name and message on standard error. Exit status: 0 when every token verified, 1 when
// any failed, 2 on a usage or setup error.
//
// The pattern to copy into a server: one Client made at start-up, shared by every thread,
// verify() (or try_verify() without exceptions) per request.
#include <jwks.hpp>

#include <cstring>
#include <iostream>
#include <string>

namespace {

int usage(const char *prog) {
    std::cerr << "usage: " << prog << " (--jwks URL | --issuer ISS...) [--aud AUD]... [--alg LIST] [--ca FILE]\n"
              << "Tokens are read one per line from standard input.\n";
    return 2;
}

std::string_view trim(std::string_view s) {
    const char *space = " \t\r\n";
    size_t begin = s.find_first_not_of(space);
    if (begin == std::string_view::npos) return {};
    return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

}  // namespace

int main(int argc, char **argv) {
    jwks::Options options;
    bool have_source = false;
    try {
        for (int i = 1; i < argc; i++) {
            const char *arg = argv[i];
            if (i + 1 >= argc) return usage(argv[0]);
            const char *value = argv[++i];
            if (std::strcmp(arg, "--jwks") == 0) {
                options.uri(value);
                have_source = true;
            } else if (std::strcmp(arg, "--issuer") == 0) {
                options.allowed_issuer(value);
                have_source = true;
            } else if (std::strcmp(arg, "--aud") == 0) {
                options.audience(value);
            } else if (std::strcmp(arg, "--alg") == 0) {
                options.algorithms(value);
            } else if (std::strcmp(arg, "--ca") == 0) {
                options.ca_file(value);
            } else {
                return usage(argv[0]);
            }
        }
        if (!have_source) return usage(argv[0]);
        jwks::Client client(options);

        int failed = 0;
        std::string line;
        while (std::getline(std::cin, line)) {
            std::string_view token = trim(line);
            if (token.empty()) continue;
            auto result = client.try_verify(token);
            if (result) {
                std::cout << result.value().claims << std::endl;
            } else {
                std::cerr << result.error().what() << std::endl;
                failed++;
            }
        }
        return failed ? 1 : 0;
    } catch (const jwks::Error &e) {  // a bad option or an invalid combination
        std::cerr << "setup: " << e.what() << std::endl;
        return 2;
    }
}
