//! PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), shaped for the 600 000 iterations a login runs.
//!
//! The generic `pbkdf2::pbkdf2_hmac::<Sha256>` clones a keyed HMAC and runs the full
//! update/finalize buffering twice per iteration. Here the HMAC key's inner and outer
//! states are computed once; each iteration is then exactly two calls of the SHA-256
//! compression function on one 64-byte block whose padding never changes, because both the
//! inner message (ipad ‖ U) and the outer one (opad ‖ inner digest) are 96 bytes long.
//! In wasm, which has no SHA instructions, the compression function is most of the cost
//! either way; skipping the rest saved about a tenth of a hash's time (`make bench`).

use sha2::digest::generic_array::GenericArray;
use sha2::{compress256, Digest, Sha256};

type Block = GenericArray<u8, sha2::digest::consts::U64>;

const BLOCK_BYTES: usize = 64;
const DIGEST_BYTES: usize = 32;
/// FIPS 180-4 §5.3.3: SHA-256's initial hash value.
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Fills `out` with PBKDF2-HMAC-SHA256(`password`, `salt`, `rounds`); any length of `out`.
/// Bit-identical to `pbkdf2::pbkdf2_hmac::<Sha256>`. `rounds` of 0 is treated as 1, as there.
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    let key = HmacKey::new(password);
    for (index, chunk) in out.chunks_mut(DIGEST_BYTES).enumerate() {
        let block_number = u32::try_from(index + 1).expect("PBKDF2 output too long");
        let t = key.derive_block(salt, block_number, rounds);
        let mut bytes = [0u8; DIGEST_BYTES];
        write_be(&t, &mut bytes);
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// SHA-256 states after absorbing the key XOR ipad and the key XOR opad (RFC 2104).
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    fn new(password: &[u8]) -> HmacKey {
        let mut key = [0u8; BLOCK_BYTES];
        if password.len() > BLOCK_BYTES {
            key[..DIGEST_BYTES].copy_from_slice(&Sha256::digest(password));
        } else {
            key[..password.len()].copy_from_slice(password);
        }
        let state_after = |pad: u8| {
            let block = Block::from_iter(key.iter().map(|byte| byte ^ pad));
            let mut state = SHA256_IV;
            compress256(&mut state, std::slice::from_ref(&block));
            state
        };
        HmacKey {
            inner: state_after(0x36),
            outer: state_after(0x5c),
        }
    }

    /// T_i = U_1 ^ U_2 ^ … ^ U_rounds, as eight big-endian words.
    fn derive_block(&self, salt: &[u8], block_number: u32, rounds: u32) -> [u32; 8] {
        let mut u = self.first_u(salt, block_number);
        let mut t = u;
        // One block serves both halves of every later iteration: 32 message bytes, then the
        // padding of a 96-byte message (0x80, zeros, bit length 768), which never changes.
        let mut block = Block::default();
        block[DIGEST_BYTES] = 0x80;
        block[BLOCK_BYTES - 8..]
            .copy_from_slice(&(((BLOCK_BYTES + DIGEST_BYTES) as u64) * 8).to_be_bytes());
        for _ in 1..rounds {
            write_be(&u, &mut block[..DIGEST_BYTES]);
            let mut inner = self.inner;
            compress256(&mut inner, std::slice::from_ref(&block));
            write_be(&inner, &mut block[..DIGEST_BYTES]);
            u = self.outer;
            compress256(&mut u, std::slice::from_ref(&block));
            for (t, u) in t.iter_mut().zip(u) {
                *t ^= u;
            }
        }
        t
    }

    /// U_1 = HMAC(password, salt ‖ INT(block_number)): the one message of arbitrary length.
    fn first_u(&self, salt: &[u8], block_number: u32) -> [u32; 8] {
        let mut message = Vec::with_capacity(salt.len() + 4);
        message.extend_from_slice(salt);
        message.extend_from_slice(&block_number.to_be_bytes());
        let inner = finish(self.inner, &message);
        let mut inner_digest = [0u8; DIGEST_BYTES];
        write_be(&inner, &mut inner_digest);
        finish(self.outer, &inner_digest)
    }
}

/// Absorbs `message` and SHA-256's padding into `state`, which has already absorbed one
/// 64-byte block (the padded key).
fn finish(mut state: [u32; 8], message: &[u8]) -> [u32; 8] {
    let bit_length = ((BLOCK_BYTES + message.len()) as u64) * 8;
    let mut padded = message.to_vec();
    padded.push(0x80);
    while padded.len() % BLOCK_BYTES != BLOCK_BYTES - 8 {
        padded.push(0);
    }
    padded.extend_from_slice(&bit_length.to_be_bytes());
    let blocks: Vec<Block> = padded
        .chunks_exact(BLOCK_BYTES)
        .map(Block::clone_from_slice)
        .collect();
    compress256(&mut state, &blocks);
    state
}

fn write_be(words: &[u32; 8], out: &mut [u8]) {
    for (bytes, word) in out.chunks_exact_mut(4).zip(words) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Sha256;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 7914 §11, both PBKDF2-HMAC-SHA256 vectors, full 64-byte outputs (two blocks).
    #[test]
    fn matches_the_rfc_7914_vectors() {
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex(&out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        pbkdf2_hmac_sha256(b"Password", b"NaCl", 80_000, &mut out);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    fn equals_the_generic_pbkdf2_for_many_lengths_rounds_and_inputs() {
        let long_password = [0xa5u8; 100]; // longer than a block: the key is hashed first
        let passwords: [&[u8]; 4] = [b"", b"pw", &[0x41; 64], &long_password];
        let salts: [&[u8]; 4] = [b"", b"salt", &[7; 55], &[9; 130]];
        for password in passwords {
            for salt in salts {
                for rounds in [1, 2, 3, 1_000] {
                    for length in [1, 20, 32, 33, 64, 100] {
                        let mut ours = vec![0u8; length];
                        let mut theirs = vec![0u8; length];
                        pbkdf2_hmac_sha256(password, salt, rounds, &mut ours);
                        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut theirs);
                        assert_eq!(
                            ours,
                            theirs,
                            "password {} bytes, salt {} bytes, {rounds} rounds, {length} bytes out",
                            password.len(),
                            salt.len()
                        );
                    }
                }
            }
        }
    }
}
