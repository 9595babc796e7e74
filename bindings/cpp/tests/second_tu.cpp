// A second translation unit using jwks.hpp (with -Wall -Wextra -Werror, like the suite): its
// inline functions and templates must link from two units without duplicate symbols.
#include <jwks.hpp>

#include <string>

std::string verify_in_second_translation_unit(const std::string &url, const std::string &token) {
    jwks::Client client(jwks::Options().uri(url).audience("api"));
    return client.verify(token).kid;
}
