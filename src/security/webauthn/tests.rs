use super::test_authenticator::{
    assertion_signed_by, attestation_object, registration, registration_with, Ceremony, TestKey,
    WEAK_RSA_N,
};
use super::*;
use crate::security::signature::native;

const RP_ID: &str = "localhost";
const ORIGIN: &str = "http://localhost:8787";
const NOW: i64 = 1_800_000_000;
const USER_HANDLE: &[u8] = b"user-handle-of-user-7";

fn rp() -> RelyingParty {
    RelyingParty {
        id: RP_ID.into(),
        name: "Recipe API".into(),
        origins: vec![ORIGIN.into(), "https://app.example.com".into()],
    }
}

fn key() -> ChallengeKey {
    ChallengeKey::derive(&[7; 64])
}

fn keys() -> [TestKey; 3] {
    [TestKey::ed25519(1), TestKey::p256(2), TestKey::rsa()]
}

/// A registration ceremony for user 7, with a challenge issued for it.
fn register_ceremony() -> Ceremony {
    let challenge = key().issue(Purpose::Register, b"7", NOW).unwrap();
    Ceremony::new(RP_ID, ORIGIN, &challenge)
}

fn login_ceremony() -> Ceremony {
    let challenge = key().issue(Purpose::Login, b"", NOW).unwrap();
    Ceremony::new(RP_ID, ORIGIN, &challenge)
}

fn register_as_user_7(credential: &RegistrationResponse) -> Result<NewPasskey, Refusal> {
    verify_registration(&rp(), credential, |challenge| {
        key()
            .open(challenge, Purpose::Register, b"7", NOW + 1)
            .is_some()
    })
}

fn sign_in(
    credential: &AuthenticationResponse,
    stored_key: &[u8],
    sign_count: u32,
) -> Result<Assertion, Refusal> {
    let stored = StoredPasskey {
        public_key: stored_key,
    };
    let unverified = verify_assertion(&rp(), credential, &stored, |challenge| {
        key()
            .open(challenge, Purpose::Login, b"", NOW + 1)
            .is_some()
    })?;
    // What the worker does: the signature through Web Crypto (here, natively), then the
    // counter in the statement that records the sign-in, by the same rule.
    let assertion = native::verdict(unverified).map_err(|_| Refusal::BadSignature)?;
    if !counter_advances(sign_count, assertion.sign_count) {
        return Err(Refusal::CounterRegression);
    }
    Ok(assertion)
}

#[test]
fn each_kind_of_key_registers_and_signs_in() {
    for (i, test_key) in keys().iter().enumerate() {
        let id = [i as u8 + 1; 16];
        let registered = register_as_user_7(&registration(test_key, &id, &register_ceremony()))
            .unwrap_or_else(|refusal| panic!("key {i}: {refusal:?}"));
        assert_eq!(registered.credential_id, id);
        assert_eq!(registered.algorithm, test_key.algorithm());
        assert_eq!(
            registered.transports,
            ["hybrid", "internal"],
            "unknown ones dropped"
        );
        assert!(registered.backup_eligible && registered.backed_up);
        assert_eq!(registered.challenge.len(), CHALLENGE_BYTES);

        let mut ceremony = login_ceremony();
        ceremony.sign_count = 5;
        let credential = assertion_signed_by(test_key, &id, &ceremony, Some(USER_HANDLE));
        assert_eq!(credential.credential_id().unwrap(), id);
        assert_eq!(
            credential.user_handle().unwrap().as_deref(),
            Some(USER_HANDLE)
        );
        let assertion = sign_in(&credential, &registered.public_key, 4)
            .unwrap_or_else(|refusal| panic!("key {i}: {refusal:?}"));
        assert_eq!(assertion.sign_count, 5);
        assert_eq!(assertion.challenge, ceremony.challenge);
    }
}

#[test]
fn counters_that_stay_at_zero_are_fine_and_any_other_that_does_not_move_forward_is_refused() {
    let test_key = TestKey::ed25519(1);
    let cose = test_key.cose();
    let with_count = |count| {
        let mut ceremony = login_ceremony();
        ceremony.sign_count = count;
        assertion_signed_by(&test_key, b"id", &ceremony, None)
    };
    assert!(
        sign_in(&with_count(0), &cose, 0).is_ok(),
        "synced passkeys count nothing"
    );
    assert!(sign_in(&with_count(8), &cose, 7).is_ok());
    for (sent, stored) in [(7, 7), (3, 7), (0, 7)] {
        assert_eq!(
            sign_in(&with_count(sent), &cose, stored).unwrap_err(),
            Refusal::CounterRegression,
            "{sent} after {stored}"
        );
    }
}

#[test]
fn a_wrong_origin_is_refused_on_both_ceremonies() {
    for origin in [
        "https://evil.example",
        "http://localhost:8788",
        "http://localhost",
    ] {
        let mut ceremony = register_ceremony();
        ceremony.origin = origin.into();
        let credential = registration(&TestKey::p256(2), b"id", &ceremony);
        assert_eq!(
            register_as_user_7(&credential).unwrap_err(),
            Refusal::WrongOrigin
        );

        let test_key = TestKey::p256(2);
        let mut ceremony = login_ceremony();
        ceremony.origin = origin.into();
        let credential = assertion_signed_by(&test_key, b"id", &ceremony, None);
        assert_eq!(
            sign_in(&credential, &test_key.cose(), 0).unwrap_err(),
            Refusal::WrongOrigin
        );
    }
}

#[test]
fn a_cross_origin_client_is_refused() {
    let test_key = TestKey::ed25519(1);
    let mut cross = login_ceremony();
    cross.cross_origin = Some(true);
    let mut framed = login_ceremony();
    framed.top_origin = Some("https://evil.example".into());
    for ceremony in [cross, framed] {
        let credential = assertion_signed_by(&test_key, b"id", &ceremony, None);
        assert_eq!(
            sign_in(&credential, &test_key.cose(), 0).unwrap_err(),
            Refusal::CrossOrigin
        );
        let mut registering = ceremony.clone();
        registering.challenge = register_ceremony().challenge;
        let credential = registration(&test_key, b"id", &registering);
        assert_eq!(
            register_as_user_7(&credential).unwrap_err(),
            Refusal::CrossOrigin
        );
    }
}

#[test]
fn the_wrong_ceremony_type_is_refused() {
    let test_key = TestKey::ed25519(1);
    let mut ceremony = login_ceremony();
    ceremony.kind = Some("webauthn.create".into());
    let credential = assertion_signed_by(&test_key, b"id", &ceremony, None);
    assert_eq!(
        sign_in(&credential, &test_key.cose(), 0).unwrap_err(),
        Refusal::WrongType
    );
}

#[test]
fn a_wrong_rp_id_hash_is_refused() {
    let test_key = TestKey::p256(2);
    let mut ceremony = login_ceremony();
    ceremony.rp_id = "evil.example".into();
    let credential = assertion_signed_by(&test_key, b"id", &ceremony, None);
    assert_eq!(
        sign_in(&credential, &test_key.cose(), 0).unwrap_err(),
        Refusal::WrongRpId
    );
    let mut ceremony = register_ceremony();
    ceremony.rp_id = "example.com".into();
    let credential = registration(&test_key, b"id", &ceremony);
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::WrongRpId
    );
}

#[test]
fn user_verification_and_presence_are_required() {
    let test_key = TestKey::ed25519(1);
    for (flags, refusal) in [
        (0x01, Refusal::UserNotVerified),
        (0x04, Refusal::UserNotPresent),
        (0x01 | 0x04 | 0x10, Refusal::Malformed),
    ] {
        let mut ceremony = login_ceremony();
        ceremony.flags = flags;
        let credential = assertion_signed_by(&test_key, b"id", &ceremony, None);
        assert_eq!(
            sign_in(&credential, &test_key.cose(), 0).unwrap_err(),
            refusal,
            "flags {flags:#x}"
        );
        let mut ceremony = register_ceremony();
        ceremony.flags = flags;
        let credential = registration(&test_key, b"id", &ceremony);
        assert_eq!(register_as_user_7(&credential).unwrap_err(), refusal);
    }
}

#[test]
fn another_users_challenge_and_other_purposes_are_refused() {
    let test_key = TestKey::ed25519(1);
    let someone_elses = key().issue(Purpose::Register, b"8", NOW).unwrap();
    let login = key().issue(Purpose::Login, b"", NOW).unwrap();
    let other_key = ChallengeKey::derive(&[8; 64])
        .issue(Purpose::Register, b"7", NOW)
        .unwrap();
    let mut tampered = key().issue(Purpose::Register, b"7", NOW).unwrap();
    tampered[0] ^= 1;
    for challenge in [someone_elses, login, other_key, tampered] {
        let ceremony = Ceremony::new(RP_ID, ORIGIN, &challenge);
        let credential = registration(&test_key, b"id", &ceremony);
        assert_eq!(
            register_as_user_7(&credential).unwrap_err(),
            Refusal::BadChallenge
        );
    }
    let too_long = Ceremony::new(RP_ID, ORIGIN, &[1; 33]);
    let credential = registration(&test_key, b"id", &too_long);
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::BadChallenge
    );
}

#[test]
fn a_challenge_expires_after_five_minutes_and_opens_under_a_previous_secret() {
    let challenge = key().issue(Purpose::Login, b"", NOW).unwrap();
    assert_eq!(challenge.len(), 32);
    assert_ne!(
        challenge,
        key().issue(Purpose::Login, b"", NOW).unwrap(),
        "random"
    );
    assert!(key()
        .open(&challenge, Purpose::Login, b"", NOW + 299)
        .is_some());
    assert!(key()
        .open(&challenge, Purpose::Login, b"", NOW + 300)
        .is_none());
    let rotated = [ChallengeKey::derive(&[9; 64]), key()];
    assert!(open_with_any(&rotated, &challenge, Purpose::Login, b"", NOW).is_some());
    assert!(open_with_any(&rotated[..1], &challenge, Purpose::Login, b"", NOW).is_none());
    assert_eq!(challenge_hash(&challenge), challenge_hash(&challenge));
    assert_eq!(challenge_hash(&challenge).len(), 43);
}

#[test]
fn another_keys_signature_is_refused() {
    for (signer, stored) in [
        (TestKey::ed25519(1), TestKey::ed25519(3)),
        (TestKey::p256(2), TestKey::p256(4)),
        (TestKey::p256(2), TestKey::ed25519(1)),
        (TestKey::rsa(), TestKey::p256(4)),
    ] {
        let credential = assertion_signed_by(&signer, b"id", &login_ceremony(), None);
        assert_eq!(
            sign_in(&credential, &stored.cose(), 0).unwrap_err(),
            Refusal::BadSignature
        );
    }
}

#[test]
fn a_signature_over_other_data_is_refused() {
    let test_key = TestKey::ed25519(1);
    let ceremony = login_ceremony();
    let credential = assertion_signed_by(&test_key, b"id", &ceremony, None);
    // The same signature with other authenticator data (counter moved on).
    let mut other = ceremony.clone();
    other.sign_count = 9;
    let mut forged = assertion_signed_by(&test_key, b"id", &other, None);
    forged.response.signature = credential.response.signature.clone();
    assert_eq!(
        sign_in(&forged, &test_key.cose(), 0).unwrap_err(),
        Refusal::BadSignature
    );
}

#[test]
fn an_algorithm_not_offered_is_refused() {
    let p256 = TestKey::p256(2);
    let ed25519 = TestKey::ed25519(1);
    for (cose, refusal) in [
        // ES384, Ed25519 (fully specified), PS256: none offered.
        (p256.cose_as(-35), Refusal::AlgorithmNotOffered),
        (ed25519.cose_as(-19), Refusal::AlgorithmNotOffered),
        (p256.cose_as(-37), Refusal::AlgorithmNotOffered),
        // An offered algorithm with a key of another type.
        (p256.cose_as(EDDSA), Refusal::UnsupportedKey),
        (ed25519.cose_as(ES256), Refusal::UnsupportedKey),
    ] {
        let credential = registration_with(b"id", &cose, &register_ceremony(), |auth| {
            attestation_object("none", &auth)
        });
        assert_eq!(register_as_user_7(&credential).unwrap_err(), refusal);
    }
}

#[test]
fn a_p256_point_off_the_curve_is_refused() {
    let cose = TestKey::p256(2).cose();
    // The last byte of y, the map's last value, flipped.
    let mut off = cose.clone();
    *off.last_mut().unwrap() ^= 1;
    assert!(public_key_from_cose(&cose).is_ok());
    assert_eq!(
        public_key_from_cose(&off).unwrap_err(),
        Refusal::UnsupportedKey
    );
}

#[test]
fn rsa_keys_below_2048_bits_are_refused() {
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(4).unwrap();
    e.i64(1).unwrap().i64(3).unwrap();
    e.i64(3).unwrap().i64(RS256).unwrap();
    e.i64(-1)
        .unwrap()
        .bytes(&decode(WEAK_RSA_N, 512).unwrap())
        .unwrap();
    e.i64(-2).unwrap().bytes(&[1, 0, 1]).unwrap();
    let cose = e.into_writer();
    assert_eq!(
        public_key_from_cose(&cose).unwrap_err(),
        Refusal::UnsupportedKey
    );
}

#[test]
fn attestation_statements_of_any_format_are_parsed_and_ignored() {
    let test_key = TestKey::p256(2);
    for fmt in [
        "packed",
        "tpm",
        "android-key",
        "fido-u2f",
        "apple",
        "something-new",
    ] {
        let credential = registration_with(b"id", &test_key.cose(), &register_ceremony(), |auth| {
            attestation_object(fmt, &auth)
        });
        assert!(register_as_user_7(&credential).is_ok(), "{fmt}");
    }
}

#[test]
fn truncated_or_oversized_cbor_is_refused() {
    let test_key = TestKey::ed25519(1);
    let cose = test_key.cose();
    type Mangle = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;
    let cases: Vec<(&str, Mangle)> = vec![
        (
            "attestation object cut short",
            Box::new(|auth| {
                let mut object = attestation_object("none", &auth);
                object.truncate(object.len() - 3);
                object
            }),
        ),
        (
            "bytes after the attestation object",
            Box::new(|auth| {
                let mut object = attestation_object("none", &auth);
                object.push(0);
                object
            }),
        ),
        (
            "COSE key cut short",
            Box::new(|mut auth| {
                auth.truncate(auth.len() - 5);
                attestation_object("none", &auth)
            }),
        ),
        (
            "bytes after the COSE key",
            Box::new(|mut auth| {
                auth.extend_from_slice(&[0xa0]);
                attestation_object("none", &auth)
            }),
        ),
        ("not CBOR", Box::new(|_| vec![0xff, 0xff, 0xff])),
        (
            "a map claiming 2^32 entries",
            Box::new(|_| vec![0xba, 0xff, 0xff, 0xff, 0xff, 0x63, b'f', b'm', b't']),
        ),
    ];
    for (case, object) in cases {
        let credential = registration_with(b"id", &cose, &register_ceremony(), object);
        assert_eq!(
            register_as_user_7(&credential).unwrap_err(),
            Refusal::BadCbor,
            "{case}"
        );
    }
    // Over 16 KiB: refused before it is decoded.
    let big = registration_with(b"id", &cose, &register_ceremony(), |auth| {
        let mut object = attestation_object("none", &auth);
        object.resize(MAX_ATTESTATION_OBJECT + 1, 0);
        object
    });
    assert_eq!(register_as_user_7(&big).unwrap_err(), Refusal::Malformed);
}

#[test]
fn a_registration_without_attested_credential_data_is_refused() {
    let test_key = TestKey::ed25519(1);
    let credential = registration_with(b"id", &test_key.cose(), &register_ceremony(), |auth| {
        let mut auth = auth[..37].to_vec();
        auth[32] &= !0x40;
        attestation_object("none", &auth)
    });
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::NoCredential
    );
}

#[test]
fn malformed_json_fields_are_refused() {
    let test_key = TestKey::ed25519(1);
    let mut credential = registration(&test_key, b"id", &register_ceremony());
    credential.id = "other".into();
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::Malformed
    );
    let mut credential = registration(&test_key, b"id", &register_ceremony());
    credential.kind = "password".into();
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::Malformed
    );
    let mut credential = registration(&test_key, b"id", &register_ceremony());
    credential.response.client_data_json = "not base64!".into();
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::Malformed
    );
    let mut credential = registration(&test_key, b"id", &register_ceremony());
    credential.response.client_data_json = encode(&vec![b' '; 3000]);
    assert_eq!(
        register_as_user_7(&credential).unwrap_err(),
        Refusal::Malformed
    );
    let long_id = vec![1u8; MAX_CREDENTIAL_ID + 1];
    let credential = assertion_signed_by(&test_key, &long_id, &login_ceremony(), None);
    assert_eq!(credential.credential_id().unwrap_err(), Refusal::Malformed);
}
