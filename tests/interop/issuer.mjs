// Starts oauth2-mock-server (a third-party OpenID Connect issuer) on 127.0.0.1 with one key per
// algorithm family, signs a token with each, prints one JSON line describing them, and serves
// until standard input closes. Used by tests/interop.rs.
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
const algs = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const kids = [];
for (const alg of algs) {
  const key = await server.issuer.keys.generate(alg);
  kids.push(key.kid);
}
await server.start(0, '127.0.0.1');
const tokens = [];
for (let i = 0; i < algs.length; i++) {
  const token = await server.issuer.buildToken({
    kid: kids[i],
    scopesOrTransform: (header, payload) => {
      payload.aud = 'interop-api';
      payload.sub = `user-${algs[i]}`;
    },
  });
  tokens.push({ alg: algs[i], kid: kids[i], token });
}
const issuer = server.issuer.url;
console.log(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, tokens }));
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
process.stdin.resume();
