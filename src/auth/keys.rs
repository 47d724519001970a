//! API keys: generation, the checksum, hashing, the display prefix.
//!
//! Format: `kv_` + 36 random base62 characters (≈214 bits) + 6 base62 characters of the
//! CRC-32 of the random part. The checksum lets the server refuse a mistyped or invented key
//! without a database lookup, and lets secret scanners recognise a leaked key
//! (`kv_[0-9A-Za-z]{42}`). Only the SHA-256 of the whole key is stored; the first 11
//! characters (`kv_` + 8) are the display prefix.

use rand::Rng;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "kv_";
const RANDOM_LEN: usize = 36;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
pub const DISPLAY_PREFIX_LEN: usize = 11;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key: the secret (shown once) and what is stored.
pub struct NewKey {
    pub secret: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

pub fn generate() -> NewKey {
    let mut rng = rand::thread_rng();
    let random: String = (0..RANDOM_LEN).map(|_| BASE62[rng.gen_range(0..62)] as char).collect();
    let secret = format!("{KEY_PREFIX}{random}{}", checksum(random.as_bytes()));
    NewKey { prefix: secret[..DISPLAY_PREFIX_LEN].to_string(), hash: hash(&secret), secret }
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// True when the key has the right shape and its checksum matches.
pub fn is_well_formed(secret: &str) -> bool {
    let bytes = secret.as_bytes();
    if bytes.len() != KEY_LEN || !secret.starts_with(KEY_PREFIX) {
        return false;
    }
    let body = &bytes[KEY_PREFIX.len()..];
    if !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    constant_time_eq(checksum(random).as_bytes(), sum)
}

fn checksum(data: &[u8]) -> String {
    let mut n = crc32(data) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Compares without an early exit, so timing does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), KEY_LEN);
        assert!(a.secret.starts_with("kv_"));
        assert_eq!(a.prefix, &a.secret[..11]);
        assert!(is_well_formed(&a.secret));
        assert_eq!(a.hash, hash(&a.secret));
    }

    #[test]
    fn a_single_typo_fails_the_checksum() {
        let key = generate().secret;
        let mut chars: Vec<char> = key.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!is_well_formed(&typo));
        assert!(!is_well_formed("kv_short"));
        assert!(!is_well_formed(&format!("{key}x")));
    }

    #[test]
    fn crc32_matches_the_standard() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
