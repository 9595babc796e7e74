//! A strict, allocation-free reader of the JSON object that a token's header or payload is
//! (RFC 8259), for every verification.
//!
//! It checks the whole text: every nested value, string escape and number, nesting at most
//! `MAX_DEPTH` deep (as serde_json's own limit), nothing after the object. It refuses any
//! member name that appears twice (RFC 7515 §5.2 and RFC 7519 §4 allow refusing; picking one
//! would let two readers of the same token see different claims), lone UTF-16 surrogates in
//! escapes (serde_json refuses them too, so any text accepted here also parses as a
//! `serde_json::Value` later), and anything that is not an object. It hands each member to the
//! caller as its raw text; values are decoded only when the caller asks.
//!
//! Unit tests and the token fuzz target compare it with serde_json.

use std::borrow::Cow;

/// Nesting limit, counting the top-level object: serde_json refuses the 128th level.
const MAX_DEPTH: usize = 127;

/// Why a text is refused (the callers word their own messages).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Not JSON, or not an object.
    Syntax,
    /// A member name appears twice.
    Duplicate,
}

/// The kind of a member's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Number,
    Object,
    Array,
    Bool,
    Null,
}

/// A member's value: its kind and its JSON text (a string's with its quotes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Value<'a> {
    pub kind: Kind,
    pub raw: &'a str,
    /// Whether a string has escapes (false for other kinds).
    pub escaped: bool,
    /// Whether the reader already found the value to be digits alone, at most 15 of them
    /// with no leading zero (exact in an f64): `as_f64` then converts without a second look.
    pub digits: bool,
}

impl<'a> Value<'a> {
    /// A string value's contents, unescaped (borrowed when it has no escapes); None for any
    /// other kind.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let contents = self.raw.get(1..self.raw.len().checked_sub(1)?)?;
        match (self.kind, self.escaped) {
            (Kind::String, false) => Some(Cow::Borrowed(contents)),
            (Kind::String, true) => Some(unescape(contents)),
            _ => None,
        }
    }

    /// A number's value (finite, or None; also None for any other kind).
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind != Kind::Number {
            return None;
        }
        let bytes = self.raw.as_bytes();
        if self.digits {
            return Some(integer(bytes) as f64);
        }
        // Most numeric dates are plain integers: exact in an f64 up to 15 digits.
        if (1..=15).contains(&bytes.len()) && digits_fast(bytes, 0) == bytes.len() {
            return Some(integer(bytes) as f64);
        }
        let value = self.raw.parse::<f64>().ok()?;
        value.is_finite().then_some(value)
    }

    /// An array's elements, when they are all strings; None otherwise.
    pub fn strings(&self) -> Option<impl Iterator<Item = Cow<'a, str>>> {
        if self.kind != Kind::Array {
            return None;
        }
        let mut all_strings = true;
        elements(self.raw, |v| all_strings &= v.kind == Kind::String);
        all_strings.then(|| {
            let mut list = Vec::new();
            elements(self.raw, |v| list.extend(v.as_str()));
            list.into_iter()
        })
    }

    /// Whether any element of an array of strings, or the string itself, equals `wanted`.
    pub fn contains_str(&self, mut wanted: impl FnMut(&str) -> bool) -> bool {
        match self.kind {
            Kind::String => self.as_str().is_some_and(|s| wanted(&s)),
            Kind::Array => {
                let mut found = false;
                elements(self.raw, |v| {
                    found = found || v.as_str().is_some_and(|s| wanted(&s));
                });
                found
            }
            _ => false,
        }
    }
}

/// Calls `f` for each element of `raw`, an array this module has already checked.
fn elements<'a>(raw: &'a str, mut f: impl FnMut(Value<'a>)) {
    let s = raw.as_bytes();
    let mut i = ws(s, 1);
    if s.get(i) == Some(&b']') {
        return;
    }
    loop {
        let Ok((v, end)) = value_of(raw, ws(s, i)) else {
            return;
        };
        f(v);
        i = ws(s, end);
        if s.get(i) != Some(&b',') {
            return;
        }
        i += 1;
    }
}

/// Byte classes for the scan of a string's contents.
const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const CONTROL: u8 = 3;

static STRING_BYTES: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = CONTROL;
        c += 1;
    }
    t[b'"' as usize] = QUOTE;
    t[b'\\' as usize] = BACKSLASH;
    t
};

/// The bytes of `word` (in memory order) that are a quote, a backslash or a control
/// character, as the high bit of each such byte; exact up to the first one, which is all the
/// caller uses. `(x - 0x01..) & !x & 0x80..` marks the zero bytes of `x`, and
/// `(w - 0x20..) & !w & 0x80..` the bytes of `w` below 0x20.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    quote | backslash | control
}

type Step<T> = Result<T, Bad>;

// The reader is a set of functions from a position in the text to the position after what
// they read, so that the position stays in a register through the whole object.

/// Past any whitespace at `i`.
#[inline(always)]
fn ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
    }
    i
}

/// Past byte `c` at `i`.
#[inline(always)]
fn expect(s: &[u8], i: usize, c: u8) -> Step<usize> {
    if s.get(i) == Some(&c) {
        Ok(i + 1)
    } else {
        Err(Bad::Syntax)
    }
}

/// Past the string whose opening quote is at `i`, and whether it has escapes.
#[inline(always)]
fn string(s: &[u8], i: usize) -> Step<(usize, bool)> {
    let mut i = expect(s, i, b'"')?;
    let mut escaped = false;
    // Most names and values are short: their first bytes one at a time.
    let short_end = (i + 8).min(s.len());
    while i < short_end {
        match STRING_BYTES[s[i] as usize] {
            PLAIN => i += 1,
            QUOTE => return Ok((i + 1, false)),
            _ => break,
        }
    }
    loop {
        // Then eight bytes at a time, straight to the first special one.
        while let Some(chunk) = s.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let special = special_bytes(word);
            if special != 0 {
                i += special.trailing_zeros() as usize / 8;
                break;
            }
            i += 8;
        }
        let c = *s.get(i).ok_or(Bad::Syntax)?;
        match STRING_BYTES[c as usize] {
            PLAIN => i += 1,
            QUOTE => return Ok((i + 1, escaped)),
            BACKSLASH => {
                escaped = true;
                i = escape(s, i + 1)?;
            }
            _ => return Err(Bad::Syntax),
        }
    }
}

/// Past the rest of an escape whose backslash is just before `i`.
#[cold]
fn escape(s: &[u8], i: usize) -> Step<usize> {
    match s.get(i) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
        Some(b'u') => {
            let unit = hex4(s, i + 1)?;
            match unit {
                0xD800..=0xDBFF => {
                    // A leading surrogate must be followed by an escaped trailing one.
                    if s.get(i + 5..i + 7) != Some(b"\\u") {
                        return Err(Bad::Syntax);
                    }
                    match hex4(s, i + 7)? {
                        0xDC00..=0xDFFF => Ok(i + 11),
                        _ => Err(Bad::Syntax),
                    }
                }
                0xDC00..=0xDFFF => Err(Bad::Syntax),
                _ => Ok(i + 5),
            }
        }
        _ => Err(Bad::Syntax),
    }
}

/// The four hex digits at `i`.
fn hex4(s: &[u8], i: usize) -> Step<u32> {
    let digits = s.get(i..i + 4).ok_or(Bad::Syntax)?;
    let mut unit = 0;
    for &d in digits {
        unit = unit << 4 | (d as char).to_digit(16).ok_or(Bad::Syntax)?;
    }
    Ok(unit)
}

/// Past the digits at `i`, and whether there was one.
#[inline(always)]
fn digits(s: &[u8], mut i: usize) -> (usize, bool) {
    let start = i;
    while let Some(b'0'..=b'9') = s.get(i) {
        i += 1;
    }
    (i, i > start)
}

/// Past the number at `i`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
#[inline(always)]
fn number(s: &[u8], mut i: usize) -> Step<usize> {
    let start = i;
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(s, i).0,
        _ => return Err(Bad::Syntax),
    }
    // At most 15 integer digits and no fraction or exponent: always within range.
    let mut short_integer = i - int_start <= 15;
    if s.get(i) == Some(&b'.') {
        short_integer = false;
        let (end, any) = digits(s, i + 1);
        if !any {
            return Err(Bad::Syntax);
        }
        i = end;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        short_integer = false;
        i += 1;
        if let Some(b'+' | b'-') = s.get(i) {
            i += 1;
        }
        let (end, any) = digits(s, i);
        if !any {
            return Err(Bad::Syntax);
        }
        i = end;
    }
    // A number too large for an f64 is refused, as serde_json refuses it (so that every text
    // accepted here also parses into the claims map). Short integers cannot be.
    if !short_integer && !finite(&s[start..i]) {
        return Err(Bad::Syntax);
    }
    Ok(i)
}

/// Whether a number (checked ASCII) is within an f64's range.
#[cold]
fn finite(number: &[u8]) -> bool {
    std::str::from_utf8(number)
        .ok()
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(f64::is_finite)
}

/// Past the literal `word` at `i`.
fn literal(s: &[u8], i: usize, word: &[u8]) -> Step<usize> {
    if s.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        Err(Bad::Syntax)
    }
}

/// Past the value at `i`, checked whole, with its kind and (for a string) whether it has
/// escapes; `depth` is the nesting of the container it is in.
#[inline(always)]
fn value(s: &[u8], i: usize, depth: usize) -> Step<(usize, Kind, bool)> {
    Ok(match *s.get(i).ok_or(Bad::Syntax)? {
        b'"' => {
            let (end, escaped) = string(s, i)?;
            (end, Kind::String, escaped)
        }
        b'{' => (nested(s, i, depth)?, Kind::Object, false),
        b'[' => (nested(s, i, depth)?, Kind::Array, false),
        b't' => (literal(s, i, b"true")?, Kind::Bool, false),
        b'f' => (literal(s, i, b"false")?, Kind::Bool, false),
        b'n' => (literal(s, i, b"null")?, Kind::Null, false),
        _ => (number(s, i)?, Kind::Number, false),
    })
}

/// The value at `i` of `text`, and the position after it.
#[inline(always)]
fn value_of(text: &str, i: usize) -> Step<(Value<'_>, usize)> {
    let (end, kind, escaped) = value(text.as_bytes(), i, 1)?;
    // SAFETY: `value` read a whole value from `i` to `end`: it starts with an ASCII byte and
    // its last byte (before `end`) is ASCII, so both ends are char boundaries of `text`, and
    // i <= end <= text.len().
    let raw = unsafe { text.get_unchecked(i..end) };
    let value = Value {
        kind,
        raw,
        escaped,
        digits: false,
    };
    Ok((value, end))
}

/// Past the object or array at `i`, inside `outer` levels, with everything in it; without
/// recursion (a flag per level says object or array).
fn nested(s: &[u8], i: usize, outer: usize) -> Step<usize> {
    enum State {
        Opened,
        Element,
        After,
    }
    let mut objects = [false; MAX_DEPTH];
    let mut depth = 0;
    let open = |i: usize, objects: &mut [bool], depth: &mut usize| -> Step<usize> {
        if outer + *depth + 1 > MAX_DEPTH {
            return Err(Bad::Syntax);
        }
        objects[*depth] = s.get(i) == Some(&b'{');
        *depth += 1;
        Ok(i + 1)
    };
    let mut i = open(i, &mut objects, &mut depth)?;
    let mut state = State::Opened;
    loop {
        i = ws(s, i);
        let close = if objects[depth - 1] { b'}' } else { b']' };
        match state {
            State::Opened => {
                state = State::Element;
                if s.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                    state = State::After;
                }
            }
            State::Element => {
                if close == b'}' {
                    i = string(s, i)?.0;
                    i = ws(s, i);
                    i = expect(s, i, b':')?;
                    i = ws(s, i);
                }
                if let Some(b'{' | b'[') = s.get(i) {
                    i = open(i, &mut objects, &mut depth)?;
                    state = State::Opened;
                } else {
                    i = value(s, i, outer + depth)?.0;
                    state = State::After;
                }
            }
            State::After => match s.get(i) {
                Some(b',') => {
                    i += 1;
                    state = State::Element;
                }
                Some(&c) if c == close => {
                    i += 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => return Err(Bad::Syntax),
            },
        }
    }
}

/// Member names whose fingerprints are kept on the stack for the duplicate check; objects
/// with more members (or a name with escapes) take the slower general check.
const FAST_NAMES: usize = 16;

/// Reads `text`, which must be one JSON object, and calls `member` with each member's name
/// (unescaped) and value, in order, until `member` returns an error; the text is checked to
/// its end all the same, and its own faults (syntax, then duplicates) come before that error.
/// `member` must only record what it is given: a text the compact reader gives up on part
/// way is read again from the start, so a member can be handed over twice.
pub(crate) fn object<'a, E>(
    text: &'a str,
    mut member: impl FnMut(&str, Value<'a>) -> Result<(), E>,
) -> Result<Result<(), E>, Bad> {
    match compact(text, &mut member) {
        Some(read) => Ok(read),
        None => general(text, member),
    }
}

/// The longest text whose quotes [`quote_bits`] maps (eight words of 64 bits).
const MAPPED: usize = 512;

/// Bit i (of word i / 64) set when byte i of `s` is a quote, for a text of 16 to 512 bytes
/// with no backslash and no control character (so that every string in it ends at the next
/// quote); None for any other text. Sixteen bytes at a time with SSE2, part of every x86-64.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn quote_bits(s: &[u8]) -> Option<[u64; MAPPED / 64]> {
    use std::arch::x86_64::*;
    let len = s.len();
    if !(16..=MAPPED).contains(&len) {
        return None;
    }
    let mut bits = [0u64; MAPPED / 64];
    // SAFETY: SSE2 is part of every x86-64 CPU. Each load reads the 16 bytes at `at`, with
    // at + 16 <= len (the whole blocks, then the last 16 bytes, len >= 16), inside `s`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let below_space = _mm_set1_epi8(0x1F);
        // The quote bits of the 16 bytes at `at`, or None at a backslash or control byte.
        let block = |at: usize| -> Option<u64> {
            let v = _mm_loadu_si128(s.as_ptr().add(at).cast());
            let special = _mm_or_si128(
                _mm_cmpeq_epi8(v, backslash),
                _mm_cmpeq_epi8(_mm_max_epu8(v, below_space), below_space),
            );
            if _mm_movemask_epi8(special) != 0 {
                return None;
            }
            Some(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u32 as u64)
        };
        let mut at = 0;
        while at + 16 <= len {
            bits[at / 64] |= block(at)? << (at % 64);
            at += 16;
        }
        if at < len {
            // The last 16 bytes, of which the first 16 - (len - at) are already mapped.
            let rest = block(len - 16)? >> (16 - (len - at));
            bits[at / 64] |= rest << (at % 64);
        }
    }
    Some(bits)
}

/// The first quote at or after `from` in a text mapped by [`quote_bits`].
#[inline(always)]
fn next_quote(bits: &[u64; MAPPED / 64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut word = *bits.get(w)? & (!0u64 << (from % 64));
    while word == 0 {
        w += 1;
        word = *bits.get(w)?;
    }
    Some(w * 64 + word.trailing_zeros() as usize)
}

/// The end of the plain string whose opening quote is just before `i`: the position of its
/// closing quote, or None at a backslash, a control character or the end of the text.
#[inline(always)]
fn plain_string_end(s: &[u8], mut i: usize) -> Option<usize> {
    // Eight bytes at a time, straight to the first special one.
    while let Some(chunk) = s.get(i..i + 8) {
        let special = special_bytes(u64::from_le_bytes(chunk.try_into().ok()?));
        if special != 0 {
            i += special.trailing_zeros() as usize / 8;
            return (s[i] == b'"').then_some(i);
        }
        i += 8;
    }
    loop {
        match STRING_BYTES[*s.get(i)? as usize] {
            PLAIN => i += 1,
            QUOTE => return Some(i),
            _ => return None,
        }
    }
}

/// The value of 1 to 19 ASCII digits: eight at a time (the digits of a little-endian word
/// paired into two-digit, then four-digit, then eight-digit numbers by multiply and shift),
/// then one at a time.
fn integer(digits: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut n = 0u64;
    let mut rest = digits;
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        let w = u64::from_le_bytes(*head) - ONES * u64::from(b'0');
        let w = (w * 10 + (w >> 8)) & 0x00FF_00FF_00FF_00FF;
        let w = (w * 100 + (w >> 16)) & 0x0000_FFFF_0000_FFFF;
        let w = (w * 10_000 + (w >> 32)) & 0xFFFF_FFFF;
        n = n * 100_000_000 + w;
        rest = tail;
    }
    rest.iter().fold(n, |n, d| n * 10 + u64::from(d - b'0'))
}

/// Past the digits at `i`, eight at a time: `(w - 0x30..) | (w + 0x46..) | w` has the high
/// bit of each byte below '0', above '9' or past ASCII, exact up to the first such byte (a
/// borrow or carry only ever starts at one).
#[inline(always)]
fn digits_fast(s: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    while let Some(chunk) = s.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let other = (word.wrapping_sub(ONES * 0x30) | word.wrapping_add(ONES * 0x46) | word)
            & (ONES * 0x80);
        if other != 0 {
            return i + other.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    digits(s, i).0
}

/// The object as most tokens write it, read in one pass with no calls: no whitespace, names
/// and string values without escapes, integer numbers, literals, no nested value, no
/// fingerprint shared by two names. Some when it is that, with `member` called for each
/// member in order and its first error returned; None for anything else (including a syntax
/// error or an error from `member`), which the general reader then decides from the start.
#[inline(always)]
fn compact<'a, E>(
    text: &'a str,
    member: &mut impl FnMut(&str, Value<'a>) -> Result<(), E>,
) -> Option<Result<(), E>> {
    let s = text.as_bytes();
    if s.first() != Some(&b'{') || s.last() != Some(&b'}') {
        return None;
    }
    if s.len() == 2 {
        return Some(Ok(()));
    }
    // With the quotes mapped in one vector pass, each string ends at one bit scan.
    #[cfg(target_arch = "x86_64")]
    let quotes = quote_bits(s);
    #[cfg(not(target_arch = "x86_64"))]
    let quotes: Option<[u64; MAPPED / 64]> = None;
    let string_end = |s: &[u8], from: usize| match &quotes {
        Some(bits) => next_quote(bits, from),
        None => plain_string_end(s, from),
    };
    let mut prints = [0u32; FAST_NAMES];
    let mut count = 0;
    let mut i = 1;
    loop {
        // A name, then a colon.
        if s.get(i) != Some(&b'"') {
            return None;
        }
        let name_end = string_end(s, i + 1)?;
        if s.get(name_end + 1) != Some(&b':') {
            return None;
        }
        // SAFETY: the name lies between two ASCII quotes, at `i` and `name_end`, so it starts
        // and ends at char boundaries of `text`, and i + 1 <= name_end <= text.len().
        let name = unsafe { text.get_unchecked(i + 1..name_end) };
        let print = fingerprint(name);
        if count == FAST_NAMES || prints[..count].contains(&print) {
            return None;
        }
        prints[count] = print;
        count += 1;
        // The value: a plain string, an integer or a literal.
        let start = name_end + 2;
        let (end, kind, digits) = match *s.get(start)? {
            b'"' => (string_end(s, start + 1)? + 1, Kind::String, false),
            b't' if s.get(start..start + 4) == Some(b"true") => (start + 4, Kind::Bool, false),
            b'f' if s.get(start..start + 5) == Some(b"false") => (start + 5, Kind::Bool, false),
            b'n' if s.get(start..start + 4) == Some(b"null") => (start + 4, Kind::Null, false),
            c => {
                let first = start + usize::from(c == b'-');
                let end = digits_fast(s, first);
                // No leading zero (but "0" itself); fractions, exponents and integers long
                // enough to leave an f64's range go the long way.
                if end == first || (s[first] == b'0' && end > first + 1) || end - first > 15 {
                    return None;
                }
                (end, Kind::Number, first == start)
            }
        };
        // SAFETY: the value starts with an ASCII byte at `start` and ends after an ASCII
        // byte at `end - 1`, so both ends are char boundaries, and start < end <= text.len().
        let raw = unsafe { text.get_unchecked(start..end) };
        let value = Value {
            kind,
            raw,
            escaped: false,
            digits,
        };
        if member(name, value).is_err() {
            return None;
        }
        match s.get(end) {
            Some(b',') => i = end + 1,
            Some(b'}') if end + 1 == s.len() => return Some(Ok(())),
            _ => return None,
        }
    }
}

/// [`object`] for any text: the whole grammar, with whitespace, escapes, nesting and the
/// general duplicate check.
fn general<'a, E>(
    text: &'a str,
    mut member: impl FnMut(&str, Value<'a>) -> Result<(), E>,
) -> Result<Result<(), E>, Bad> {
    let s = text.as_bytes();
    let mut i = ws(s, 0);
    i = expect(s, i, b'{')?;
    i = ws(s, i);
    // The fingerprints of the names so far; two equal ones (a duplicate, or rarely two names
    // that share length and three bytes) send the object to the general check.
    let mut prints = [0u32; FAST_NAMES];
    let mut count = 0;
    let mut check_all = false;
    let mut outcome = Ok(());
    if s.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let (name_end, escaped) = string(s, i)?;
            // SAFETY: `string` read a string whose quotes (ASCII) are at `i` and
            // `name_end - 1`, so the bytes between them start and end at char boundaries of
            // `text`, and i + 1 <= name_end - 1 <= text.len().
            let raw = unsafe { text.get_unchecked(i + 1..name_end - 1) };
            i = ws(s, name_end);
            i = expect(s, i, b':')?;
            i = ws(s, i);
            let (value, end) = value_of(text, i)?;
            i = end;
            if !check_all {
                let print = fingerprint(raw);
                if escaped || count == FAST_NAMES || prints[..count].contains(&print) {
                    check_all = true;
                } else {
                    prints[count] = print;
                    count += 1;
                }
            }
            if outcome.is_ok() {
                outcome = if escaped {
                    member(&unescape(raw), value)
                } else {
                    member(raw, value)
                };
            }
            i = ws(s, i);
            match s.get(i) {
                Some(b',') => i = ws(s, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(Bad::Syntax),
            }
        }
    }
    if ws(s, i) != s.len() {
        return Err(Bad::Syntax);
    }
    if check_all {
        check_duplicates(text)?;
    }
    Ok(outcome)
}

/// A cheap summary of a name (its length, first, middle and last bytes), compared before the
/// names themselves.
#[inline(always)]
fn fingerprint(name: &str) -> u32 {
    let b = name.as_bytes();
    match b.len() {
        0 => 0,
        n => {
            (n as u32 & 0xFF)
                | u32::from(b[0]) << 8
                | u32::from(b[n / 2]) << 16
                | u32::from(b[n - 1]) << 24
        }
    }
}

/// Calls `f` for each member name of `text`, an object this module has already checked.
fn names_of(text: &str, mut f: impl FnMut(&str)) {
    let s = text.as_bytes();
    let mut i = ws(s, 0) + 1;
    loop {
        i = ws(s, i);
        let Ok((end, _)) = string(s, i) else { return };
        f(&text[i + 1..end - 1]);
        i = ws(s, end) + 1;
        i = ws(s, i);
        let Ok((end, _, _)) = value(s, i, 1) else {
            return;
        };
        i = ws(s, end);
        if s.get(i) != Some(&b',') {
            return;
        }
        i += 1;
    }
}

/// The general duplicate check: every name unescaped, in a set.
fn check_duplicates(text: &str) -> Result<(), Bad> {
    let mut seen = std::collections::HashSet::new();
    let mut duplicate = false;
    names_of(text, |raw| {
        duplicate |= !seen.insert(unescape(raw).into_owned())
    });
    if duplicate {
        Err(Bad::Duplicate)
    } else {
        Ok(())
    }
}

/// The contents of a string this module has checked, escapes decoded.
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let hex = |chars: &mut std::str::Chars<'_>| {
        (0..4).fold(0u32, |n, _| {
            n << 4 | chars.next().and_then(|c| c.to_digit(16)).unwrap_or(0)
        })
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next() {
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let unit = hex(&mut chars);
                let code = if (0xD800..0xDC00).contains(&unit) {
                    chars.nth(1); // the checked "\u" of the trailing surrogate
                    let low = hex(&mut chars);
                    0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF)
                } else {
                    unit
                };
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            Some(other) => other,
            None => break,
        };
        out.push(decoded);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads with this module and with serde_json; they must agree (serde_json takes the last
    /// of duplicate names, which this module refuses).
    fn agree(text: &str) -> bool {
        let ours = object(text, |_, _| Ok::<(), ()>(()));
        let theirs = serde_json::from_str::<serde_json::Value>(text);
        let is_object = theirs.as_ref().is_ok_and(serde_json::Value::is_object);
        match ours {
            Ok(_) => assert!(is_object, "accepted here, refused by serde_json: {text:?}"),
            Err(Bad::Duplicate) => assert!(is_object, "{text:?}"),
            Err(Bad::Syntax) => {
                assert!(!is_object, "refused here, accepted by serde_json: {text:?}")
            }
        }
        ours.is_ok()
    }

    #[test]
    fn accepts_and_refuses_as_serde_json_does() {
        for ok in [
            "{}",
            " { } ",
            r#"{"a":1}"#,
            r#"{"a":-0.5e+10,"b":[],"c":{},"d":[1,[2,{"e":null}]],"f":true,"g":false}"#,
            r#"{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#,
            "{\"é\":\"ü\"}",
            "{\n\t\"a\" :\r 1 }",
            r#"{"a":0,"b":1E5,"c":1e-5,"d":12.5}"#,
            r#"{"tiny":1e-400,"big":1e308,"long":123456789012345678901234567890}"#,
        ] {
            assert!(agree(ok), "{ok}");
        }
        for bad in [
            "",
            "[]",
            r#"{"n":4E02444800}"#,
            r#"{"n":-1e309}"#,
            r#"{"n":[1e400]}"#,
            "1",
            "\"a\"",
            "{",
            "}",
            "{,}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":1}x"#,
            r#"{"a":1}{}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":1e}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            "{\"a\":\"\u{1}\"}",
            "{'a':1}",
            "\u{feff}{}",
        ] {
            assert!(!agree(bad), "{bad}");
        }
    }

    /// The members `object` hands out, as (name, raw value, kind) in order.
    fn members(text: &str) -> Result<Vec<(String, String, Kind)>, Bad> {
        let mut seen = Vec::new();
        object(text, |name, v| {
            seen.push((name.to_owned(), v.raw.to_owned(), v.kind));
            Ok::<(), ()>(())
        })?
        .unwrap();
        Ok(seen)
    }

    #[test]
    fn strings_end_alike_whether_the_quotes_are_mapped_or_scanned() {
        // Texts of 23 to 542 bytes (the quote map covers 16 to 512), so the strings' quotes
        // fall at every offset of a block and on both sides of the map's end; then the same
        // with an escape, or a control byte, inside the long string (which the map refuses,
        // sending the text to the scanning readers).
        for len in 0..520 {
            let long = "x".repeat(len);
            let text = format!(r#"{{"a":"{long}","bb":"q","c":7}}"#);
            let want = vec![
                ("a".to_owned(), format!("\"{long}\""), Kind::String),
                ("bb".to_owned(), "\"q\"".to_owned(), Kind::String),
                ("c".to_owned(), "7".to_owned(), Kind::Number),
            ];
            assert_eq!(members(&text), Ok(want), "{len}");
            for (i, odd) in [(len / 2, r"\n"), (len.saturating_sub(1), r"\u0041")] {
                let text = format!(r#"{{"a":"{}{odd}{}","c":7}}"#, &long[..i], &long[i..]);
                assert!(agree(&text), "{text:?}");
                assert_eq!(members(&text).unwrap().len(), 2, "{text:?}");
            }
            let broken = format!(
                "{{\"a\":\"{}\u{1}{}\"}}",
                &long[..len / 2],
                &long[len / 2..]
            );
            assert_eq!(members(&broken), Err(Bad::Syntax), "{broken:?}");
        }
    }

    #[test]
    fn integers_read_eight_digits_at_a_time() {
        for text in [
            "0",
            "7",
            "42",
            "1767225600",
            "4102444800",
            "12345678",
            "123456789",
            "99999999",
            "100000000",
            "999999999999999",
            "1234567890123456789",
        ] {
            assert_eq!(
                integer(text.as_bytes()),
                text.parse::<u64>().unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn both_readers_give_every_number_the_same_value() {
        for number in [
            "0",
            "-0",
            "7",
            "-7",
            "1767225600",
            "4102444800",
            "999999999999999",
            "1000000000000000",
            "-999999999999999",
            "1.5",
            "1e3",
            "-2.5E-3",
            "0.0",
        ] {
            let want = number.parse::<f64>().unwrap();
            // Compact, then with a space that sends the text to the general reader.
            for text in [
                format!(r#"{{"n":{number}}}"#),
                format!(r#"{{"n": {number}}}"#),
            ] {
                let mut got = None;
                object(&text, |_, v| {
                    got = v.as_f64();
                    Ok::<(), ()>(())
                })
                .unwrap()
                .unwrap();
                assert_eq!(got.map(f64::to_bits), Some(want.to_bits()), "{text}");
            }
        }
    }

    #[test]
    fn digits_end_at_the_first_other_byte() {
        for text in [
            "",
            "1",
            "12345678",
            "123456789",
            "1234567890123456789x",
            "12/45",
            "12:45",
            "0",
            "9999999999999999999999",
            "12345678\u{e9}",
            "123\u{e9}4567890",
        ] {
            let s = text.as_bytes();
            assert_eq!(digits_fast(s, 0), digits(s, 0).0, "{text:?}");
        }
        for byte in 0..=255u8 {
            for pos in 0..12 {
                let mut s = *b"123456789012";
                s[pos] = byte;
                assert_eq!(digits_fast(&s, 0), digits(&s, 0).0, "byte {byte} at {pos}");
                assert_eq!(digits_fast(&s, 1), digits(&s, 1).0, "byte {byte} at {pos}");
            }
        }
    }

    #[test]
    fn nesting_stops_where_serde_json_stops() {
        for depth in [120, 126, 127, 128, 129, 200] {
            let text = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
            agree(&text);
        }
        let deep = format!("{{\"a\":{}1{}}}", "{\"b\":".repeat(130), "}".repeat(130));
        assert!(!agree(&deep));
    }

    #[test]
    fn refuses_duplicate_names_even_escaped_or_many() {
        assert_eq!(
            object(r#"{"a":1,"b":2,"a":3}"#, |_, _| Ok::<(), ()>(())),
            Err(Bad::Duplicate)
        );
        assert_eq!(
            object(r#"{"exp":1,"\u0065xp":2}"#, |_, _| Ok::<(), ()>(())),
            Err(Bad::Duplicate)
        );
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let text = format!("{{{},\"k3\":0}}", many.join(","));
        assert_eq!(object(&text, |_, _| Ok::<(), ()>(())), Err(Bad::Duplicate));
        let text = format!("{{{}}}", many.join(","));
        assert_eq!(object(&text, |_, _| Ok::<(), ()>(())), Ok(Ok(())));
    }

    #[test]
    fn hands_out_members_decoded() {
        let text = r#"{"iss":"a\/b","aud":["x","y\u0021"],"exp":1700000000,"n":1.5e3,"z":null,"\u0073ub":"s"}"#;
        let mut seen = Vec::new();
        object(text, |name, v| {
            seen.push((name.to_owned(), v.kind, v.raw.to_owned()));
            match name {
                "iss" => assert_eq!(v.as_str().as_deref(), Some("a/b")),
                "aud" => {
                    let list: Vec<_> = v.strings().unwrap().collect();
                    assert_eq!(list, ["x", "y!"]);
                    assert!(v.contains_str(|s| s == "y!"));
                    assert!(!v.contains_str(|s| s == "y"));
                }
                "exp" => assert_eq!(v.as_f64(), Some(1_700_000_000.0)),
                "n" => assert_eq!(v.as_f64(), Some(1500.0)),
                "z" => assert_eq!(v.kind, Kind::Null),
                "sub" => assert_eq!(v.as_str().as_deref(), Some("s")),
                other => panic!("unexpected {other}"),
            }
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
        assert_eq!(seen.len(), 6);
        let huge = Value {
            kind: Kind::Number,
            raw: "1e400",
            escaped: false,
            digits: false,
        };
        assert_eq!(huge.as_f64(), None, "not finite");
        let mixed = Value {
            kind: Kind::Array,
            raw: r#"["a",1]"#,
            escaped: false,
            digits: false,
        };
        assert!(mixed.strings().is_none());
    }
}
