// The header must be clean C++ (extern "C", no warnings) and safe to include twice.
#include <jwks.h>
#include <jwks.h>
int main() { return jwks_version() == nullptr; }
