/* The header must compile as strict C99 on its own. */
#include <jwks.h>
int main(void) { return jwks_version() == NULL; }
