//! Compact JWS parsing and the claim checks. No key lookup and no network here.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::jose::alg::Algorithm;
use crate::jose::b64;
use crate::jose::strict_json::{self, Header, Refused};
use crate::jose::validation::Validation;

/// A token split and decoded, not yet verified; its signature is in the caller's `Scratch`.
pub(crate) struct Parsed<'a, 's> {
    pub alg: Algorithm,
    pub signing_input: &'a [u8],
    pub signature: &'s [u8],
    pub texts: Texts,
    pub claims: Claims,
}

/// Where a token's signature is decoded: on the caller's stack up to 512 bytes (RSA-4096,
/// every EC and EdDSA signature), on the heap beyond (RSA-8192). The stack part is the
/// decoder's room for 512 bytes (`b64::room` of their 683 characters).
pub(crate) struct Scratch {
    inline: [u8; b64::room(683)],
    heap: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            inline: [0; b64::room(683)],
            heap: Vec::new(),
        }
    }

    /// A buffer of at least `len` bytes.
    fn take(&mut self, len: usize) -> &mut [u8] {
        if len <= self.inline.len() {
            &mut self.inline
        } else {
            self.heap.resize(len, 0);
            &mut self.heap
        }
    }
}

/// The texts a verified token hands out, in one allocation: the payload, the protected
/// header's JSON, the kid and the typ, each followed by a NUL so that the C ABI can lend them
/// as they are.
#[derive(Debug, Clone)]
pub(crate) struct Texts {
    buf: String,
    payload_end: usize,
    header: (usize, usize),
    kid: Option<(usize, usize)>,
    typ: Option<(usize, usize)>,
}

impl Texts {
    pub fn payload(&self) -> &str {
        &self.buf[..self.payload_end]
    }

    pub fn header(&self) -> &str {
        &self.buf[self.header.0..self.header.1]
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.map(|(start, end)| &self.buf[start..end])
    }

    pub fn typ(&self) -> Option<&str> {
        self.typ.map(|(start, end)| &self.buf[start..end])
    }

    /// The payload followed by its NUL, for the C ABI.
    #[cfg(feature = "capi")]
    pub fn payload_c(&self) -> &[u8] {
        &self.buf.as_bytes()[..=self.payload_end]
    }

    /// The header's JSON followed by its NUL, for the C ABI.
    #[cfg(feature = "capi")]
    pub fn header_c(&self) -> &[u8] {
        &self.buf.as_bytes()[self.header.0..=self.header.1]
    }

    /// The kid followed by its NUL, for the C ABI.
    #[cfg(feature = "capi")]
    pub fn kid_c(&self) -> Option<&[u8]> {
        self.kid
            .map(|(start, end)| &self.buf.as_bytes()[start..=end])
    }

    /// The typ followed by its NUL, for the C ABI.
    #[cfg(feature = "capi")]
    pub fn typ_c(&self) -> Option<&[u8]> {
        self.typ
            .map(|(start, end)| &self.buf.as_bytes()[start..=end])
    }

    /// Appends `text` and a NUL, returning where the text is.
    fn push(&mut self, text: &str) -> (usize, usize) {
        let start = self.buf.len();
        self.buf.push_str(text);
        self.buf.push('\0');
        (start, start + text.len())
    }
}

/// The claims, read once by the one JSON reading (`strict_json`) before any key lookup, so
/// that a malformed payload never causes a fetch; the registered claims the checks need are
/// picked out as they are read. `map` is what callers are served once the token verified.
#[derive(Debug, Clone, Default)]
pub(crate) struct Claims {
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) map: Map<String, Value>,
}

impl Claims {
    /// The `iss` claim (a string, checked when read).
    pub fn iss(&self) -> Option<&str> {
        self.map.get("iss").and_then(Value::as_str)
    }

    /// The `aud` claim, unless absent or null (a string or an array of strings, checked when
    /// read).
    pub fn aud(&self) -> Option<&Value> {
        self.map.get("aud").filter(|v| !v.is_null())
    }
}

fn not_object(what: &str) -> Error {
    Error::malformed(format!(
        "token {what} is not a valid JSON object (bad JSON, duplicate or mistyped member)"
    ))
}

/// Reads a token's JSON text: an object, with no name twice at any level.
pub(crate) fn read_object(text: &str, what: &str) -> Result<Map<String, Value>> {
    strict_json::object(text).map_err(|refused| malformed(what, refused))
}

fn read_header(json_text: &str) -> Result<Header<'_>> {
    strict_json::header(json_text).map_err(|refused| malformed("header", refused))
}

/// The error for a token's `what` (header or payload) that the one reading refused.
fn malformed(what: &str, refused: Refused) -> Error {
    match refused {
        Refused::NotObject => Error::malformed(format!("token {what} is not a JSON object")),
        // serde_json's message says what and where (line, column), never the text itself.
        Refused::Invalid(e) => Error::malformed(format!(
            "token {what} is not a valid JSON object (bad JSON, duplicate or mistyped member): {e}"
        )),
    }
}

fn read_claims(payload: &str) -> Result<Claims> {
    let map = read_object(payload, "payload")?;
    match map.get("iss") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(not_object("payload")),
    }
    // RFC 7519 §4.1.3: a string or an array of strings (null counts as absent).
    let aud_shaped = match map.get("aud") {
        None | Some(Value::Null | Value::String(_)) => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        Some(_) => false,
    };
    if !aud_shaped {
        return Err(Error::malformed(
            "token aud is neither a string nor an array of strings",
        ));
    }
    Ok(Claims {
        exp: numeric_date(map.get("exp"), "exp")?,
        nbf: numeric_date(map.get("nbf"), "nbf")?,
        // A null iat is not a number: malformed (whether or not it is checked), as the
        // header says; null exp and nbf count as absent.
        iat: match map.get("iat") {
            Some(Value::Null) => return Err(Error::malformed("claim \"iat\" is not a number")),
            iat => numeric_date(iat, "iat")?,
        },
        map,
    })
}

/// Decodes one part into `out` (long enough; longer is faster, see `b64::room`): its decoded
/// length.
fn decode_part(part: &[u8], what: &str, out: &mut [u8]) -> Result<usize> {
    b64::decode_into(part, out).ok_or_else(|| bad_base64(what))
}

fn bad_base64(what: &str) -> Error {
    Error::malformed(format!("token {what} is not unpadded base64url"))
}

/// Decodes a part that is text (the header or the payload) into `out`, which it replaces.
fn decode_text(part: &[u8], what: &str, out: &mut Vec<u8>) -> Result<()> {
    out.resize(b64::room(part.len()), 0);
    let len = decode_part(part, what, out)?;
    out.truncate(len);
    Ok(())
}

/// Refuses a token over `max_len` bytes before any work on it.
fn check_size(token: &[u8], max_len: usize) -> Result<()> {
    if token.len() > max_len {
        return Err(Error::new(
            ErrorKind::TokenTooLarge,
            format!(
                "token is {} bytes, over the limit of {max_len}",
                token.len()
            ),
        ));
    }
    Ok(())
}

/// Splits, decodes and screens a token: everything that can be refused without a key.
/// `allow_hmac` says whether HMAC keys can exist at all (the client enabled `oct` keys).
/// One allocation: the texts of the result (the header and signature decode on the stack).
pub(crate) fn parse<'a, 's>(
    token: &'a [u8],
    max_len: usize,
    validation: &Validation,
    allow_hmac: bool,
    scratch: &'s mut Scratch,
) -> Result<Parsed<'a, 's>> {
    check_size(token, max_len)?;
    // The signature part is not searched for a third dot: its decoding refuses a dot like
    // any other character outside the alphabet. Any failure is then reported as the part
    // count when that is what is wrong.
    let first = b64::find_dot(token, 0).ok_or_else(|| part_count(token))?;
    let second = b64::find_dot(token, first + 1).ok_or_else(|| part_count(token))?;
    let (header_b64, payload_b64) = (&token[..first], &token[first + 1..second]);
    let signature_b64 = &token[second + 1..];
    parse_parts(
        token,
        header_b64,
        payload_b64,
        signature_b64,
        validation,
        allow_hmac,
        scratch,
    )
    .map_err(|e| match signature_b64.contains(&b'.') {
        true => part_count(token),
        false => e,
    })
}

fn parse_parts<'a, 's>(
    token: &'a [u8],
    header_b64: &[u8],
    payload_b64: &[u8],
    signature_b64: &[u8],
    validation: &Validation,
    allow_hmac: bool,
    scratch: &'s mut Scratch,
) -> Result<Parsed<'a, 's>> {
    let mut stack = [0u8; HEADER_ROOM];
    let mut heap = Vec::new();
    let header_json = decode_header(header_b64, &mut stack, &mut heap)?;
    let header = read_header(header_json)?;

    // RFC 7515 §4.1.11: a recipient must reject a token whose crit names anything it does not
    // understand; libjwks implements no extension, so any crit is refused.
    if header.crit {
        return Err(Error::new(
            ErrorKind::UnsupportedCritical,
            "token header lists critical extensions (crit) that libjwks does not implement",
        ));
    }
    let alg_name = header
        .alg
        .ok_or_else(|| Error::malformed("token header has no \"alg\""))?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(Error::new(
            ErrorKind::AlgorithmNotAllowed,
            "unsigned tokens (alg none) are never accepted",
        ));
    }
    let alg: Algorithm = alg_name.parse()?;
    if alg.is_hmac() && !allow_hmac {
        return Err(Error::new(
            ErrorKind::AlgorithmNotAllowed,
            format!("{alg} (HMAC) tokens never verify against public keys"),
        ));
    }
    if !validation.algorithms.contains(&alg) {
        return Err(Error::new(
            ErrorKind::AlgorithmNotAllowed,
            format!("algorithm {alg} is not in the allowed list"),
        ));
    }
    crate::jose::validation::check_typ(header.typ.as_deref(), &validation.typ)?;

    let signature = scratch.take(b64::room(signature_b64.len()));
    let sig_len = decode_part(signature_b64, "signature", signature)?;
    let signature = &signature[..sig_len];

    let extra = 4
        + header_json.len()
        + header.kid.as_ref().map_or(0, |k| k.len())
        + header.typ.as_ref().map_or(0, |t| t.len());
    let mut bytes = Vec::with_capacity(b64::room(payload_b64.len()) + extra);
    decode_text(payload_b64, "payload", &mut bytes)?;
    let payload =
        utf8_string(bytes).ok_or_else(|| Error::malformed("token payload is not UTF-8"))?;
    let claims = read_claims(&payload)?;
    let mut texts = Texts {
        payload_end: payload.len(),
        buf: payload,
        header: (0, 0),
        kid: None,
        typ: None,
    };
    texts.buf.push('\0');
    texts.header = texts.push(header_json);
    texts.kid = header.kid.map(|k| texts.push(&k));
    texts.typ = header.typ.map(|t| texts.push(&t));

    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    Ok(Parsed {
        alg,
        signing_input: &token[..signing_input_len],
        signature,
        texts,
        claims,
    })
}

/// The error for a token that does not have three parts.
fn part_count(token: &[u8]) -> Error {
    let count = token.split(|&b| b == b'.').count();
    if count == 5 {
        return Error::malformed(
            "token is a JWE (five parts); only signed tokens (JWS) are supported",
        );
    }
    Error::malformed(format!("token has {count} dot-separated parts, expected 3"))
}

/// `bytes` as text, when they are UTF-8. std's check takes ASCII a word at a time; the SSE2
/// ASCII check and `from_utf8_unchecked` that stood here saved 160 instructions per
/// verification, under the 500 that unsafe code must save to stay (BENCHMARKS.md).
pub(crate) fn utf8_str(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// [`utf8_str`] for owned bytes.
fn utf8_string(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

/// The stack buffer for a header: the decoder's room for 256 bytes (342 characters).
const HEADER_ROOM: usize = b64::room(342);

/// Decodes the header into `stack` when it fits, else into `heap`, as UTF-8 text.
fn decode_header<'b>(
    header_b64: &[u8],
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b str> {
    let room = b64::room(header_b64.len());
    let bytes = if room <= stack.len() {
        stack
    } else {
        heap.resize(room, 0);
        &mut heap[..]
    };
    let len = decode_part(header_b64, "header", bytes)?;
    utf8_str(&bytes[..len]).ok_or_else(|| Error::malformed("token header is not UTF-8"))
}

/// Reads the header's `kid` and the payload's `iss` without verifying anything (for
/// `get_signing_key_from_jwt`).
pub(crate) fn peek(token: &str, max_len: usize) -> Result<(Option<String>, Option<String>)> {
    check_size(token.as_bytes(), max_len)?;
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64)) = (parts.next(), parts.next()) else {
        return Err(Error::malformed("token has no dot-separated parts"));
    };
    let mut stack = [0u8; HEADER_ROOM];
    let mut heap = Vec::new();
    let kid = read_header(decode_header(header_b64.as_bytes(), &mut stack, &mut heap)?)?
        .kid
        .map(std::borrow::Cow::into_owned);
    let mut bytes = Vec::new();
    decode_text(payload_b64.as_bytes(), "payload", &mut bytes)?;
    let payload = utf8_str(&bytes).ok_or_else(|| Error::malformed("token payload is not UTF-8"))?;
    let claims = read_claims(payload)?;
    Ok((kid, claims.iss().map(str::to_owned)))
}

fn numeric_date(value: Option<&Value>, name: &str) -> Result<Option<f64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(Error::malformed(format!(
            "claim \"{name}\" is not a number"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Scratch};
    use crate::jose::validation::Validation;

    #[test]
    fn signatures_up_to_rsa_4096_decode_on_the_stack() {
        let validation = Validation::default();
        // {"alg":"RS256","kid":"k"} and {"sub":"a"}, then signatures of 512 and 1024 zero bytes.
        let head = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJhIn0.";
        for (bytes, on_heap) in [(256usize, false), (512, false), (1024, true)] {
            let chars = (bytes * 4).div_ceil(3);
            let token = format!("{head}{}", "A".repeat(chars));
            let mut scratch = Scratch::new();
            let parsed = parse(token.as_bytes(), 1 << 16, &validation, false, &mut scratch)
                .expect("a well-formed token");
            assert_eq!(parsed.signature, vec![0; bytes], "{bytes}");
            drop(parsed);
            assert_eq!(scratch.heap.capacity() > 0, on_heap, "{bytes}");
        }
    }
}
