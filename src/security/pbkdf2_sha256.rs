//! PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), shaped for the 600 000 iterations a login runs, and
//! resumable: [`Pbkdf2Sha256`] is the derivation's state, advanced a number of iterations at a
//! time, so that the worker can stop between slices and let other requests run (a Worker
//! isolate serves many requests on one thread; a hash in one piece holds them all for its
//! ~0.4 s).
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
/// In one piece: see [`Pbkdf2Sha256`] for the resumable form.
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    let mut derivation = Pbkdf2Sha256::new(password, salt, rounds, out.len());
    derivation.advance(u64::MAX);
    out.copy_from_slice(derivation.output().expect("a derivation run to its end"));
}

/// A PBKDF2-HMAC-SHA256 derivation under way: `rounds` iterations for each 32-byte block of
/// the output, run [`advance`](Self::advance) by as many as the caller allows at a time. The
/// output is the same however the work is sliced.
pub struct Pbkdf2Sha256 {
    key: HmacKey,
    salt: Vec<u8>,
    rounds: u32,
    length: usize,
    /// The blocks done, in bytes (the last one cut to `length`).
    output: Vec<u8>,
    /// Iterations of the current block done, 0 to `rounds`; `u` and `t` are its U_n and T.
    done: u32,
    u: [u32; 8],
    t: [u32; 8],
}

impl Pbkdf2Sha256 {
    /// A derivation of `length` bytes. `rounds` of 0 is treated as 1.
    ///
    /// # Panics
    /// When `length` needs more than 2^32 − 1 blocks (RFC 8018's limit).
    pub fn new(password: &[u8], salt: &[u8], rounds: u32, length: usize) -> Pbkdf2Sha256 {
        assert!(
            u32::try_from(length.div_ceil(DIGEST_BYTES)).is_ok(),
            "PBKDF2 output too long"
        );
        Pbkdf2Sha256 {
            key: HmacKey::new(password),
            salt: salt.to_vec(),
            rounds: rounds.max(1),
            length,
            output: Vec::with_capacity(length),
            done: 0,
            u: [0; 8],
            t: [0; 8],
        }
    }

    /// Iterations still to run, over every block left.
    pub fn remaining(&self) -> u64 {
        let blocks_left = (self.length - self.output.len()).div_ceil(DIGEST_BYTES) as u64;
        (blocks_left * u64::from(self.rounds)).saturating_sub(u64::from(self.done))
    }

    pub fn is_done(&self) -> bool {
        self.output.len() == self.length
    }

    /// Runs at most `budget` iterations; returns how many ran (fewer only at the end).
    pub fn advance(&mut self, budget: u64) -> u64 {
        let mut ran = 0;
        while ran < budget && !self.is_done() {
            if self.done == 0 {
                let block_number = (self.output.len() / DIGEST_BYTES + 1) as u32;
                self.u = self.key.first_u(&self.salt, block_number);
                self.t = self.u;
                self.done = 1;
                ran += 1;
            } else {
                let left_in_block = self.rounds - self.done;
                let step =
                    u32::try_from(budget - ran).map_or(left_in_block, |b| b.min(left_in_block));
                self.key.iterate(&mut self.u, &mut self.t, step);
                self.done += step;
                ran += u64::from(step);
            }
            if self.done == self.rounds {
                let mut bytes = [0u8; DIGEST_BYTES];
                write_be(&self.t, &mut bytes);
                let take = (self.length - self.output.len()).min(DIGEST_BYTES);
                self.output.extend_from_slice(&bytes[..take]);
                self.done = 0;
            }
        }
        ran
    }

    /// The derived key, once every iteration has run.
    pub fn output(&self) -> Option<&[u8]> {
        self.is_done().then_some(&self.output[..])
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

    /// `iterations` more of U_n = HMAC(password, U_{n-1}), each XORed into `t`
    /// (T = U_1 ^ U_2 ^ …), as eight big-endian words.
    fn iterate(&self, u: &mut [u32; 8], t: &mut [u32; 8], iterations: u32) {
        // One block serves both halves of every iteration: 32 message bytes, then the
        // padding of a 96-byte message (0x80, zeros, bit length 768), which never changes.
        let mut block = Block::default();
        block[DIGEST_BYTES] = 0x80;
        block[BLOCK_BYTES - 8..]
            .copy_from_slice(&(((BLOCK_BYTES + DIGEST_BYTES) as u64) * 8).to_be_bytes());
        // Locals, so the loop keeps them out of memory, as it did before the state was
        // resumable.
        let (mut u_n, mut t_n) = (*u, *t);
        for _ in 0..iterations {
            write_be(&u_n, &mut block[..DIGEST_BYTES]);
            let mut inner = self.inner;
            compress256(&mut inner, std::slice::from_ref(&block));
            write_be(&inner, &mut block[..DIGEST_BYTES]);
            u_n = self.outer;
            compress256(&mut u_n, std::slice::from_ref(&block));
            for (t, u) in t_n.iter_mut().zip(u_n) {
                *t ^= u;
            }
        }
        (*u, *t) = (u_n, t_n);
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

    /// Runs a derivation in slices of `slice` iterations; the output and how many ran.
    fn sliced(
        password: &[u8],
        salt: &[u8],
        rounds: u32,
        length: usize,
        slice: u64,
    ) -> (Vec<u8>, u64) {
        let mut derivation = Pbkdf2Sha256::new(password, salt, rounds, length);
        let total = derivation.remaining();
        let mut ran = 0;
        while !derivation.is_done() {
            assert_eq!(
                derivation.output(),
                None,
                "no output before the last iteration"
            );
            let step = derivation.advance(slice);
            assert!(
                step >= 1 && step <= slice,
                "a slice runs 1 to {slice} iterations, ran {step}"
            );
            ran += step;
            assert_eq!(derivation.remaining(), total - ran);
        }
        assert_eq!(derivation.advance(slice), 0, "nothing is left to run");
        (derivation.output().unwrap().to_vec(), ran)
    }

    #[test]
    fn sliced_at_any_boundary_it_derives_the_same_bytes() {
        let (password, salt) = (b"correct horse".as_slice(), b"0123456789abcdef".as_slice());
        for rounds in [1, 2, 3, 1_000, 1_001] {
            // 100 bytes: four blocks, the last cut short, so slices straddle block boundaries.
            for length in [1, 32, 33, 100] {
                let mut expected = vec![0u8; length];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, &mut expected);
                let blocks = length.div_ceil(32) as u64;
                let r = u64::from(rounds);
                for slice in [1, 2, 3, 7, 999, r - 1, r, r + 1, 2 * r + 1, u64::MAX] {
                    if slice == 0 {
                        continue;
                    }
                    let (ours, ran) = sliced(password, salt, rounds, length, slice);
                    assert_eq!(
                        ours, expected,
                        "{rounds} rounds, {length} bytes, slices of {slice}"
                    );
                    assert_eq!(ran, blocks * r, "every iteration of every block runs once");
                }
            }
        }
    }

    #[test]
    fn a_slice_of_nothing_runs_nothing_and_zero_rounds_are_one() {
        let mut derivation = Pbkdf2Sha256::new(b"pw", b"salt", 5, 32);
        assert_eq!(derivation.advance(0), 0);
        assert_eq!(derivation.remaining(), 5);
        let mut zero = Pbkdf2Sha256::new(b"pw", b"salt", 0, 32);
        assert_eq!(zero.remaining(), 1);
        assert_eq!(zero.advance(10), 1);
        let mut one = [0u8; 32];
        pbkdf2_hmac_sha256(b"pw", b"salt", 1, &mut one);
        assert_eq!(zero.output(), Some(&one[..]));
        let empty = Pbkdf2Sha256::new(b"pw", b"salt", 5, 0);
        assert!(empty.is_done());
        assert_eq!(empty.remaining(), 0);
    }

    /// The RFC's 80 000-round vector, in slices of an odd size that does not divide it.
    #[test]
    fn matches_the_rfc_7914_vector_in_slices_of_4099() {
        let (out, ran) = sliced(b"Password", b"NaCl", 80_000, 64, 4_099);
        assert_eq!(ran, 160_000);
        assert_eq!(
            hex(&out),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }
}
