//! An authenticator for native tests: it makes the JSON a browser would post, from keys of
//! each kind, with any field made wrong on purpose.

use minicbor::Encoder;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{AuthenticationResponse, RegistrationResponse, EDDSA, ES256, RS256};

/// A 2048-bit RSA key made once for these tests (node's generateKeyPairSync, as JWK).
const RSA_N: &str = "q1yKAKAnYFdHBRlj6ybH8Ml0No1wxuFNoYKYmI5-IVsMkDR3hDc86odV971UOq_ZXDiSqTTNEzlkz6ipQM6IAnvvgoCS7IY33M-VWTMmshNIbM5VdPo9nfHwUv8_t-5hMu4YZWgVThaS7zCzoZM91Jf21KLSmHDoTrWmDqzmDo4pBimaa8ovbXrCZnW9foqpQYPOa29NYxiB3xhWOjgneXbv1MbH0-anbztK88liW02A6jBhPHPNCgJE0FRox74L88I6Ir8TrOTldemwJ4G1ncOl7DbxjrUMS_iDaHLPmYb4XqQK2_zZreqBx5AyQ95_3pc-2walYy5S2WvsY6M5Pw";
const RSA_D: &str = "FfFbmojngearKXP-33Wv1J13TCUAc_cVwcC_WYmljQ_jo_OT-lI4cq-xym9sAbfS1YRJA3HHcNbAmfa29Z18vRSxrrxYFAF71cKfFTT_l33woD4rozcH_NmmNHqK5jqYJ7VlWlbho4YweoB6AA6itD5hVQkkfnC2zp1kDi0FqIdF_6otrltg5oYslLRKl0heBZ6b_ideXTFKHmQM6WkBEgfZ96hEYhEPjU3H0ADr4bR-3bmvFjirlsBlVTQgbJrmPKKsPD7oZdXU2-yNs3AgZEpQBeWDuRnyYc2kIjPOQBmDVRV5-2mT-GivuBXA9Fza_0mq9-cSA6HTNxeyxNmIAQ";
const RSA_P: &str = "17Kng-8cSn39RyBj-i5zczQwva5crH02aF06ilKoNkNA3E1RnAu08spdXVzKpc5MrbG5HY0AN_9QsvfSNIsa_PMC_Q7b4_Ph6z-e6ds8m38iCFxnbE4YxXIMSvDiy4nC2sSbREf2Bmy3rusJ9yNbfATJf4zUMryEPWcBlSTgU4E";
const RSA_Q: &str = "y2ErSjUkhXUCY8IEHjtBwbSYkXKJlUnzcpekWIzXnWmtC_qTzAvfK4rV9nFj5TnF_lkmlXE6a9D6aeVl97EwBzUwNBTEih4ZWNjH6yYFiMerfVeDFgLwXW7JoSpyeRUkaFJC4twni7CVaafjbFvhepKlKuFKyyfjtnyThvBK7L8";
/// The modulus of a 1024-bit RSA key: too weak to register.
pub const WEAK_RSA_N: &str = "vrgdSAIwjXU0ieGWl4GT8gLVhGYhI8tUCjvdpyfTmddS_CqTBJMCQL-j223dA_m0zYXK01w1H-jltW8IJfoHzt5A3xjyqrL-c2PbJ2GlsTLfeQQKndXIE0F2XcHozPdEwxQTPZiuvnn3p_z79ZI1ikoG3aRNu93r9scaosIunKs";

fn b64(bytes: &[u8]) -> String {
    super::encode(bytes)
}

fn big(text: &str) -> rsa::BigUint {
    rsa::BigUint::from_bytes_be(&super::decode(text, 1024).unwrap())
}

/// A key of one of the three kinds, made from `seed`.
pub enum TestKey {
    Ed25519(ed25519_compact::KeyPair),
    P256(p256::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl TestKey {
    pub fn ed25519(seed: u8) -> TestKey {
        TestKey::Ed25519(ed25519_compact::KeyPair::from_seed(
            ed25519_compact::Seed::new([seed; 32]),
        ))
    }

    pub fn p256(seed: u8) -> TestKey {
        TestKey::P256(p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap())
    }

    pub fn rsa() -> TestKey {
        let key = rsa::RsaPrivateKey::from_components(
            big(RSA_N),
            rsa::BigUint::from(65537u32),
            big(RSA_D),
            vec![big(RSA_P), big(RSA_Q)],
        )
        .unwrap();
        TestKey::Rsa(Box::new(key))
    }

    pub fn algorithm(&self) -> i64 {
        match self {
            TestKey::Ed25519(_) => EDDSA,
            TestKey::P256(_) => ES256,
            TestKey::Rsa(_) => RS256,
        }
    }

    /// The public key as COSE, claiming algorithm `alg`.
    pub fn cose_as(&self, alg: i64) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        match self {
            TestKey::Ed25519(pair) => {
                e.map(4).unwrap();
                e.i64(1).unwrap().i64(1).unwrap();
                e.i64(3).unwrap().i64(alg).unwrap();
                e.i64(-1).unwrap().i64(6).unwrap();
                e.i64(-2).unwrap().bytes(pair.pk.as_ref()).unwrap();
            }
            TestKey::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                e.map(5).unwrap();
                e.i64(1).unwrap().i64(2).unwrap();
                e.i64(3).unwrap().i64(alg).unwrap();
                e.i64(-1).unwrap().i64(1).unwrap();
                e.i64(-2).unwrap().bytes(point.x().unwrap()).unwrap();
                e.i64(-3).unwrap().bytes(point.y().unwrap()).unwrap();
            }
            TestKey::Rsa(key) => {
                use rsa::traits::PublicKeyParts;
                e.map(4).unwrap();
                e.i64(1).unwrap().i64(3).unwrap();
                e.i64(3).unwrap().i64(alg).unwrap();
                e.i64(-1).unwrap().bytes(&key.n().to_bytes_be()).unwrap();
                e.i64(-2).unwrap().bytes(&key.e().to_bytes_be()).unwrap();
            }
        }
        e.into_writer()
    }

    pub fn cose(&self) -> Vec<u8> {
        self.cose_as(self.algorithm())
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Ed25519(pair) => pair.sk.sign(message, None).to_vec(),
            TestKey::P256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            TestKey::Rsa(key) => {
                use rsa::signature::{SignatureEncoding, Signer};
                let key = rsa::pkcs1v15::SigningKey::<Sha256>::new((**key).clone());
                key.sign(message).to_vec()
            }
        }
    }
}

/// What a ceremony's client data and authenticator data say; each field can be set wrong.
#[derive(Clone)]
pub struct Ceremony {
    pub rp_id: String,
    pub origin: String,
    pub kind: Option<String>,
    pub challenge: Vec<u8>,
    pub cross_origin: Option<bool>,
    pub top_origin: Option<String>,
    pub flags: u8,
    pub sign_count: u32,
}

impl Ceremony {
    pub fn new(rp_id: &str, origin: &str, challenge: &[u8]) -> Ceremony {
        Ceremony {
            rp_id: rp_id.into(),
            origin: origin.into(),
            kind: None,
            challenge: challenge.to_vec(),
            cross_origin: Some(false),
            top_origin: None,
            // UP, UV, BE, BS.
            flags: 0x01 | 0x04 | 0x08 | 0x10,
            sign_count: 0,
        }
    }

    fn client_data(&self, kind: &str) -> Vec<u8> {
        let mut data = json!({
            "type": self.kind.as_deref().unwrap_or(kind),
            "challenge": b64(&self.challenge),
            "origin": self.origin,
        });
        if let Some(cross) = self.cross_origin {
            data["crossOrigin"] = json!(cross);
        }
        if let Some(top) = &self.top_origin {
            data["topOrigin"] = json!(top);
        }
        serde_json::to_vec(&data).unwrap()
    }

    fn authenticator_data(&self, attested: Option<(&[u8], &[u8])>) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        let at = if attested.is_some() { 0x40 } else { 0 };
        data.push(self.flags | at);
        data.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some((id, key)) = attested {
            data.extend_from_slice(&[0; 16]);
            data.extend_from_slice(&(id.len() as u16).to_be_bytes());
            data.extend_from_slice(id);
            data.extend_from_slice(key);
        }
        data
    }
}

/// An attestation object of format `fmt` around `auth_data`, with an attestation statement
/// that has something in it (which must be ignored).
pub fn attestation_object(fmt: &str, auth_data: &[u8]) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.map(3).unwrap();
    e.str("fmt").unwrap().str(fmt).unwrap();
    e.str("attStmt").unwrap();
    if fmt == "none" {
        e.map(0).unwrap();
    } else {
        e.map(3).unwrap();
        e.str("alg").unwrap().i64(-7).unwrap();
        e.str("sig").unwrap().bytes(&[1, 2, 3]).unwrap();
        e.str("x5c")
            .unwrap()
            .array(1)
            .unwrap()
            .bytes(&[0x30; 40])
            .unwrap();
    }
    e.str("authData").unwrap().bytes(auth_data).unwrap();
    e.into_writer()
}

/// The JSON of a registration of `key` under credential id `id`, with the COSE key `cose`.
pub fn registration_with(
    id: &[u8],
    cose: &[u8],
    ceremony: &Ceremony,
    object: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> RegistrationResponse {
    let auth_data = ceremony.authenticator_data(Some((id, cose)));
    let value = json!({
        "id": b64(id),
        "rawId": b64(id),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(&ceremony.client_data("webauthn.create")),
            "attestationObject": b64(&object(auth_data)),
            "transports": ["internal", "hybrid", "carrier-pigeon"],
        },
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    });
    serde_json::from_value(value).unwrap()
}

pub fn registration(key: &TestKey, id: &[u8], ceremony: &Ceremony) -> RegistrationResponse {
    registration_with(id, &key.cose(), ceremony, |auth| {
        attestation_object("none", &auth)
    })
}

/// The JSON of a sign-in with `key` under credential id `id`, signed by `signer`.
pub fn assertion_signed_by(
    signer: &TestKey,
    id: &[u8],
    ceremony: &Ceremony,
    user_handle: Option<&[u8]>,
) -> AuthenticationResponse {
    let client_data = ceremony.client_data("webauthn.get");
    let auth_data = ceremony.authenticator_data(None);
    let mut message = auth_data.clone();
    message.extend_from_slice(&Sha256::digest(&client_data));
    let value = json!({
        "id": b64(id),
        "rawId": b64(id),
        "type": "public-key",
        "response": {
            "clientDataJSON": b64(&client_data),
            "authenticatorData": b64(&auth_data),
            "signature": b64(&signer.sign(&message)),
            "userHandle": user_handle.map(b64),
        },
        "clientExtensionResults": {},
    });
    serde_json::from_value(value).unwrap()
}
