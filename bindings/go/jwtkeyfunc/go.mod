module libjwks.dev/jwks/jwtkeyfunc

go 1.24

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	libjwks.dev/jwks v0.1.0
)

replace libjwks.dev/jwks => ../
