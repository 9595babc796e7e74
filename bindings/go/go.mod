module libjwks.dev/jwks

go 1.24
