//! Unpadded base64url decoding (RFC 7515 §2) into a buffer the caller owns, for the token's
//! three parts on every verification, and the search for the dots between them: the token's
//! vector code, the one module of `jose` where `unsafe` is allowed.
//!
//! It accepts exactly what the `base64` crate's `URL_SAFE_NO_PAD` engine accepts (a unit test
//! and the token fuzz target compare the two): the URL-safe alphabet only, no padding, no
//! length of the form 4n+1, and zero bits past the last whole byte. On x86-64, blocks of
//! characters are checked and decoded in vector registers (lookups by nibble, as described by
//! Muła and Lemire for standard base64, with tables for the URL-safe alphabet): with AVX2 and
//! an output with [`room`], the whole text in blocks of 32, the last one padded; otherwise
//! blocks of 16 with SSSE3, and the rest four characters at a time, each group one OR of four
//! table entries that already sit at their bit positions. About five times faster than the crate
//! for a token, with no allocation.

/// Marks a byte outside the alphabet: bit 31 is never set by a valid group.
const BAD: u32 = 1 << 31;

/// `TABLES[i][c]`: the six bits of character `c`, placed where the i-th character of a group
/// of four puts them in the group's 24 bits; `BAD` for a character outside the alphabet.
static TABLES: [[u32; 256]; 4] = tables();

const fn tables() -> [[u32; 256]; 4] {
    let mut t = [[BAD; 256]; 4];
    let mut c = 0;
    while c < 256 {
        let v = match c as u8 {
            b'A'..=b'Z' => c as u32 - b'A' as u32,
            b'a'..=b'z' => c as u32 - b'a' as u32 + 26,
            b'0'..=b'9' => c as u32 - b'0' as u32 + 52,
            b'-' => 62,
            b'_' => 63,
            _ => BAD,
        };
        if v != BAD {
            t[0][c] = v << 18;
            t[1][c] = v << 12;
            t[2][c] = v << 6;
            t[3][c] = v;
        }
        c += 1;
    }
    t
}

/// The decoded length of `encoded` characters, or None when no valid text has that length.
pub(crate) fn decoded_len(encoded: usize) -> Option<usize> {
    match encoded % 4 {
        1 => None,
        r => Some(encoded / 4 * 3 + r.saturating_sub(1)),
    }
}

/// How long `out` must be for [`decode_into`] to take its fastest path on `encoded`
/// characters: whole blocks of 32 characters, the last one padded, each stored as 32 bytes
/// (24 decoded, 8 that the next block overwrites).
pub(crate) const fn room(encoded: usize) -> usize {
    encoded.div_ceil(32) * 24 + 8
}

/// Decodes `input` into the start of `out`, returning the decoded length, or None when
/// `input` is not canonical unpadded base64url or `out` is too short. When `out` has
/// [`room`] for the input, its bytes past the decoded length are overwritten too.
pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = decoded_len(input.len())?;
    #[cfg(target_arch = "x86_64")]
    if out.len() >= room(input.len()) && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above), the only requirement of the
        // target_feature function; `out` has room for its stores (checked just above).
        let valid = unsafe { avx2::whole(input, out) };
        return (valid && last_bits_zero(input)).then_some(len);
    }
    let out = out.get_mut(..len)?;
    #[cfg(target_arch = "x86_64")]
    if let Some(valid) = simd(input, out) {
        return (valid && last_bits_zero(input)).then_some(len);
    }
    (scalar(input, out) && last_bits_zero(input)).then_some(len)
}

/// Decodes all of `input` into `out` (its decoded length) four characters at a time: whether
/// every character is in the alphabet.
fn scalar(input: &[u8], out: &mut [u8]) -> bool {
    let [t0, t1, t2, t3] = &TABLES;
    let mut bad = 0u32;
    let mut groups = input.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(3);
    for (g, o) in (&mut groups).zip(&mut outs) {
        let v = t0[g[0] as usize] | t1[g[1] as usize] | t2[g[2] as usize] | t3[g[3] as usize];
        bad |= v;
        o.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    let rest = groups.remainder();
    let tail = outs.into_remainder();
    match rest.len() {
        0 => {}
        2 => {
            let v = t0[rest[0] as usize] | t1[rest[1] as usize];
            bad |= v;
            tail[0] = (v >> 16) as u8;
        }
        3 => {
            let v = t0[rest[0] as usize] | t1[rest[1] as usize] | t2[rest[2] as usize];
            bad |= v;
            tail[0] = (v >> 16) as u8;
            tail[1] = (v >> 8) as u8;
        }
        _ => return false,
    };
    bad & BAD == 0
}

/// Whether the bits of the last character that fall past the last whole byte are zero (a
/// character outside the alphabet passes here; the decoding refuses it).
fn last_bits_zero(input: &[u8]) -> bool {
    match (input.len() % 4, input.last()) {
        (2, Some(&c)) => TABLES[1][c as usize] & 0xF000 == 0,
        (3, Some(&c)) => TABLES[2][c as usize] & 0xC0 == 0,
        _ => true,
    }
}

/// Decodes all of `input` into `out` (its decoded length) in SSSE3 blocks: whether every
/// character is in the alphabet, or None when the CPU lacks SSSE3. (A buffer with `room` takes
/// the AVX2 path instead; the token's parts always have it.)
#[cfg(target_arch = "x86_64")]
fn simd(input: &[u8], out: &mut [u8]) -> Option<bool> {
    if !std::arch::is_x86_feature_detected!("ssse3") {
        return None;
    }
    // SAFETY: the CPU has SSSE3 (checked just above), the only requirement of the
    // target_feature function.
    Some(unsafe { ssse3::rest(input, out) })
}

#[cfg(target_arch = "x86_64")]
mod ssse3 {
    use std::arch::x86_64::*;

    /// One block of 16 characters: its 12 bytes (in the first 12 of 16), or None when a
    /// character is outside the alphabet. Each byte's high nibble class gets a bit (2: '-',
    /// 3: digits, 4 and 5: upper case and '_', 6 and 7: lower case); the low-nibble table
    /// holds, for each low nibble, the classes in which it makes a character of the alphabet.
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn block(v: __m128i) -> Option<__m128i> {
        let by_high = _mm_setr_epi8(
            0, 0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0, 0,
        );
        let by_low = _mm_setr_epi8(
            0x2A, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3C, 0x14, 0x14, 0x15,
            0x14, 0x1C,
        );
        // What to add to a character of each high nibble to get its six bits.
        let shift = _mm_setr_epi8(0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
        let nibble = _mm_set1_epi8(0x0F);
        let high = _mm_and_si128(_mm_srli_epi32(v, 4), nibble);
        let low = _mm_and_si128(v, nibble);
        let fits = _mm_and_si128(
            _mm_shuffle_epi8(by_low, low),
            _mm_shuffle_epi8(by_high, high),
        );
        if _mm_movemask_epi8(_mm_cmpeq_epi8(fits, _mm_setzero_si128())) != 0 {
            return None;
        }
        // '_' shares its high nibble with 'P'..'Z' but comes 33 later in the alphabet.
        let fix = _mm_and_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8)),
            _mm_set1_epi8(33),
        );
        let sixes = _mm_add_epi8(v, _mm_add_epi8(_mm_shuffle_epi8(shift, high), fix));
        let twelves = _mm_maddubs_epi16(sixes, _mm_set1_epi32(0x0140_0140));
        let words = _mm_madd_epi16(twelves, _mm_set1_epi32(0x0001_1000));
        let order = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
        Some(_mm_shuffle_epi8(words, order))
    }

    /// Decodes all of `input` into `out` (its decoded length): blocks of 16 characters
    /// stored straight into `out` while 16 bytes fit there, the rest four characters at a
    /// time. Whether every character is in the alphabet.
    #[target_feature(enable = "ssse3")]
    pub(super) fn rest(input: &[u8], out: &mut [u8]) -> bool {
        let (mut i, mut o) = (0, 0);
        while i + 16 <= input.len() && o + 16 <= out.len() {
            // SAFETY: i + 16 <= input.len(), so the 16 bytes read are inside `input`
            // (loadu has no alignment requirement).
            let v = unsafe { _mm_loadu_si128(input.as_ptr().add(i).cast()) };
            let Some(bytes) = block(v) else { return false };
            // SAFETY: o + 16 <= out.len(), so the 16 bytes written (12 decoded, 4 that the next
            // step overwrites) are inside `out`.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().add(o).cast(), bytes) };
            i += 16;
            o += 12;
        }
        // The last few groups (a copy into a padded block costs as much).
        super::scalar(&input[i..], &mut out[o..])
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The SSSE3 step's tables in both 128-bit lanes.
    struct Tables {
        by_high: __m256i,
        by_low: __m256i,
        shift: __m256i,
        nibble: __m256i,
        underscore: __m256i,
        to_12_bits: __m256i,
        to_24_bits: __m256i,
        order: __m256i,
        join: __m256i,
    }

    impl Tables {
        #[inline]
        #[target_feature(enable = "avx2")]
        fn new() -> Tables {
            #[rustfmt::skip]
            let by_high = _mm256_setr_epi8(
                0, 0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0, 0, 0, 0, 0, 0, 0, 0,
            );
            #[rustfmt::skip]
            let by_low = _mm256_setr_epi8(
                0x2A, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3C, 0x14, 0x14, 0x15, 0x14, 0x1C,
                0x2A, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3C, 0x14, 0x14, 0x15, 0x14, 0x1C,
            );
            #[rustfmt::skip]
            let shift = _mm256_setr_epi8(
                0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
            );
            #[rustfmt::skip]
            let order = _mm256_setr_epi8(
                2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
                2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
            );
            Tables {
                by_high,
                by_low,
                shift,
                nibble: _mm256_set1_epi8(0x0F),
                underscore: _mm256_set1_epi8(b'_' as i8),
                to_12_bits: _mm256_set1_epi32(0x0140_0140),
                to_24_bits: _mm256_set1_epi32(0x0001_1000),
                order,
                // Each lane's 12 bytes, moved together: dwords 0-2 and 4-6.
                join: _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7),
            }
        }

        /// One block of 32 characters: its 24 bytes (in the first 24 of 32), or None when a
        /// character is outside the alphabet.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn block(&self, v: __m256i) -> Option<__m256i> {
            let high = _mm256_and_si256(_mm256_srli_epi32(v, 4), self.nibble);
            let low = _mm256_and_si256(v, self.nibble);
            let fits = _mm256_and_si256(
                _mm256_shuffle_epi8(self.by_low, low),
                _mm256_shuffle_epi8(self.by_high, high),
            );
            if _mm256_movemask_epi8(_mm256_cmpeq_epi8(fits, _mm256_setzero_si256())) != 0 {
                return None;
            }
            let fix = _mm256_and_si256(_mm256_cmpeq_epi8(v, self.underscore), _mm256_set1_epi8(33));
            let sixes = _mm256_add_epi8(
                v,
                _mm256_add_epi8(_mm256_shuffle_epi8(self.shift, high), fix),
            );
            let twelves = _mm256_maddubs_epi16(sixes, self.to_12_bits);
            let words = _mm256_madd_epi16(twelves, self.to_24_bits);
            Some(_mm256_permutevar8x32_epi32(
                _mm256_shuffle_epi8(words, self.order),
                self.join,
            ))
        }
    }

    /// Decodes all of `input` in blocks of 32 characters, the last one filled up with 'A'
    /// (six zero bits): whether every character is in the alphabet. `out` must be at least
    /// `room(input.len())` long, which a real assert checks (the stores' soundness rests on
    /// it, so it is no debug_assert); every block is stored whole.
    #[target_feature(enable = "avx2")]
    pub(super) fn whole(input: &[u8], out: &mut [u8]) -> bool {
        assert!(
            out.len() >= super::room(input.len()),
            "base64url output without room for whole blocks"
        );
        let tables = Tables::new();
        let (mut i, mut o) = (0, 0);
        let mut store = |o: usize, bytes: __m256i| {
            // SAFETY: block k (from 0) is stored at o = 24k, and there are
            // ceil(input.len() / 32) blocks, so o + 32 <= 24 * blocks + 8 = room(input.len()),
            // which `out.len()` is at least (the caller's check): the 32 bytes written are
            // inside `out`.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(o).cast(), bytes) };
        };
        while i + 32 <= input.len() {
            // SAFETY: i + 32 <= input.len(), so the 32 bytes read are inside `input`
            // (loadu has no alignment requirement).
            let v = unsafe { _mm256_loadu_si256(input.as_ptr().add(i).cast()) };
            let Some(bytes) = tables.block(v) else {
                return false;
            };
            store(o, bytes);
            i += 32;
            o += 24;
        }
        let tail = &input[i..];
        if tail.is_empty() {
            return true;
        }
        let Some(bytes) = tables.block(padded(tail)) else {
            return false;
        };
        store(o, bytes);
        true
    }

    /// The 1 to 31 characters of `tail` followed by 'A's, copied in two overlapping pieces
    /// of a fixed size (no call, no loop).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn padded(tail: &[u8]) -> __m256i {
        let mut block = [b'A'; 32];
        let n = tail.len();
        if n >= 16 {
            block[..16].copy_from_slice(&tail[..16]);
            block[n - 16..n].copy_from_slice(&tail[n - 16..]);
        } else if n >= 8 {
            block[..8].copy_from_slice(&tail[..8]);
            block[n - 8..n].copy_from_slice(&tail[n - 8..]);
        } else if n >= 4 {
            block[..4].copy_from_slice(&tail[..4]);
            block[n - 4..n].copy_from_slice(&tail[n - 4..]);
        } else {
            block[0] = tail[0];
            block[n / 2] = tail[n / 2];
            block[n - 1] = tail[n - 1];
        }
        // SAFETY: `block` is 32 bytes (loadu has no alignment requirement).
        unsafe { _mm256_loadu_si256(block.as_ptr().cast()) }
    }
}

/// Where the first '.' at or after `from` is in a token (this module holds the token's vector
/// code, the one place in `jose` allowed `unsafe`), sixteen bytes at a time on x86-64 (it saves
/// 1,035 instructions per RS256 verification over the byte loop, BENCHMARKS.md).
pub(crate) fn find_dot(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2, all these intrinsics need, is part of every x86-64 CPU; each load
        // reads 16 bytes from i, with i + 16 <= bytes.len(), so inside `bytes` (loadu has no
        // alignment requirement).
        unsafe {
            let dots = _mm_set1_epi8(b'.' as i8);
            while i + 16 <= bytes.len() {
                let block = _mm_loadu_si128(bytes.as_ptr().add(i).cast());
                let hits = _mm_movemask_epi8(_mm_cmpeq_epi8(block, dots));
                if hits != 0 {
                    return Some(i + hits.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| b == b'.')
        .map(|p| p + i)
}

#[cfg(test)]
mod tests {
    use super::{decode_into, decoded_len, room};
    use base64::Engine;

    /// Decodes into a buffer of exactly the decoded length and into one with room for whole
    /// blocks, which must agree; the answer.
    fn both(text: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0; decoded_len(text.len()).unwrap_or(0)];
        let exact = decode_into(text, &mut out).map(|n| out[..n].to_vec());
        let mut roomy = vec![0xEE; room(text.len())];
        let whole = decode_into(text, &mut roomy).map(|n| roomy[..n].to_vec());
        assert_eq!(whole, exact, "with room, on {text:?}");
        exact
    }

    /// Decodes with every path this machine has (the dispatch with and without room, the
    /// scalar code, SSSE3 alone), which must agree; the answer.
    fn ours_bytes(text: &[u8]) -> Option<Vec<u8>> {
        let answer = both(text);
        let mut alone = vec![0; decoded_len(text.len()).unwrap_or(0)];
        let scalar =
            (super::scalar(text, &mut alone) && super::last_bits_zero(text)).then(|| alone.clone());
        assert_eq!(scalar, answer, "scalar path on {text:?}");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("ssse3") {
            // SAFETY: the CPU has SSSE3 (checked just above).
            let valid = unsafe { super::ssse3::rest(text, &mut alone) };
            let ssse3 = (valid && super::last_bits_zero(text)).then_some(alone);
            assert_eq!(ssse3, answer, "SSSE3 path on {text:?}");
        }
        answer
    }

    fn ours(text: &str) -> Option<Vec<u8>> {
        ours_bytes(text.as_bytes())
    }

    fn reference(text: &str) -> Option<Vec<u8>> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()
    }

    #[test]
    fn agrees_with_the_base64_crate() {
        let mut cases: Vec<String> = [
            "", "A", "AA", "AAA", "AAAA", "AB", "AQ", "AR", "AAB", "AAE", "AAC", "_-_-", "____",
            "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy", "Zm9vYmE=", "Zm9vYg==", "Zm9v+/", "Zm9v\n",
            "Zm 9v", "Zm9vY", "é", "Zm9vYé", "\0AAA",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every pair and triple of one character class each, and every single byte in each
        // position of a group.
        let alphabet = "AQgw_-09azZ=+/.\u{7f}";
        for a in alphabet.chars() {
            for b in alphabet.chars() {
                cases.push(format!("{a}{b}"));
                for c in alphabet.chars() {
                    cases.push(format!("{a}{b}{c}"));
                }
            }
        }
        for byte in 0u8..=127 {
            for pos in 0..8 {
                let mut s = b"QUJDREVG".to_vec();
                s[pos] = byte;
                cases.push(String::from_utf8(s).unwrap());
            }
        }
        for case in &cases {
            assert_eq!(ours(case), reference(case), "input {case:?}");
        }
    }

    #[test]
    fn agrees_on_every_byte_in_every_position_of_long_texts() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let base = engine.encode((0..=255u8).collect::<Vec<u8>>());
        for len in [40, 43, 50, 63, 64, 66, 79, 95, 100, 130] {
            for pos in 0..len {
                for byte in 0..=255u8 {
                    let mut text = base.as_bytes()[..len].to_vec();
                    text[pos] = byte;
                    assert_eq!(
                        both(&text),
                        engine.decode(&text).ok(),
                        "byte {byte} at {pos} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn round_trips_every_length() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for n in 0..bytes.len() {
            let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..n]);
            assert_eq!(ours(&text).as_deref(), Some(&bytes[..n]));
        }
    }

    #[test]
    fn refuses_a_short_buffer() {
        assert_eq!(decode_into(b"Zm9vYmFy", &mut [0; 5]), None);
        assert_eq!(decode_into(b"Zm9vYmFy", &mut [0; 6]), Some(6));
    }

    #[test]
    fn room_covers_every_whole_block_store() {
        // The last block of n characters is stored at 24 * (ceil(n / 32) - 1), 32 bytes.
        for n in 1..200usize {
            let last = 24 * (n.div_ceil(32) - 1);
            assert!(last + 32 <= room(n), "{n}");
            assert!(decoded_len(n).is_none_or(|len| len <= room(n)), "{n}");
        }
    }
}
