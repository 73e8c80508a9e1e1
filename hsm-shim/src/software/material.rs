//! Key material of the software keystore: keys derived from the master key (HKDF), sealing
//! and opening with AES-256-GCM, and fresh or stored material turned into usable keys.

use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::pkcs8;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair,
};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{KeyAttrs, LoadedKey, Material, random_key};
use crate::key::{KeyKind, spki_from_raw};
use crate::wiped::Wiped;
use crate::{Error, Result};

struct HkdfLen(usize);
impl hkdf::KeyType for HkdfLen {
    fn len(&self) -> usize {
        self.0
    }
}

pub(super) fn derive(master: &[u8; 32], id: Uuid, info: &[u8]) -> Result<Wiped<LessSafeKey>> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, id.as_bytes()).extract(master);
    let mut okm = Zeroizing::new([0u8; 32]);
    prk.expand(&[info], HkdfLen(32))
        .and_then(|o| o.fill(okm.as_mut_slice()))
        .map_err(|_| Error::Crypto("HKDF expansion"))?;
    let key = UnboundKey::new(&AES_256_GCM, okm.as_slice())
        .map_err(|_| Error::Crypto("AES-256-GCM key"))?;
    Ok(Wiped::new(LessSafeKey::new(key)))
}

pub(super) fn seal_with(
    rng: &SystemRandom,
    key: &LessSafeKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)
        .map_err(|_| Error::Crypto("random nonce"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| Error::Crypto("AES-256-GCM seal"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

pub(super) fn open_with(
    key: &LessSafeKey,
    aad: &[u8],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

pub(super) fn ecdsa_alg(kind: KeyKind) -> &'static EcdsaSigningAlgorithm {
    if kind == KeyKind::EcdsaP384 {
        &ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

/// Makes fresh key material of a kind: PKCS#8 for signing keys, raw bytes for the others.
pub(super) fn generate_material(kind: KeyKind, rng: &SystemRandom) -> Result<Zeroizing<Vec<u8>>> {
    let doc: Wiped<pkcs8::Document> = match kind {
        KeyKind::Ed25519 => Wiped::new(
            Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| Error::Crypto("Ed25519 keygen"))?,
        ),
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => Wiped::new(
            EcdsaKeyPair::generate_pkcs8(ecdsa_alg(kind), rng)
                .map_err(|_| Error::Crypto("ECDSA keygen"))?,
        ),
        KeyKind::X25519 | KeyKind::Aes256Wrap => {
            return Ok(Zeroizing::new(random_key(rng)?.to_vec()));
        }
    };
    Ok(Zeroizing::new(doc.get().as_ref().to_vec()))
}

pub(super) fn load(
    attrs: &KeyAttrs,
    material: &[u8],
    rng: &SystemRandom,
    path: &Path,
) -> Result<LoadedKey> {
    let bad = || Error::CorruptKeyFile {
        path: path.to_path_buf(),
        reason: "the key material does not parse",
    };
    let (material, spki) = match attrs.kind {
        KeyKind::Ed25519 => {
            let kp = Ed25519KeyPair::from_pkcs8(material).map_err(|_| bad())?;
            let spki = spki_from_raw(attrs.kind, kp.public_key().as_ref())?;
            (Material::Ed25519(Wiped::new(kp)), spki)
        }
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
            let kp = EcdsaKeyPair::from_pkcs8(ecdsa_alg(attrs.kind), material, rng)
                .map_err(|_| bad())?;
            let spki = spki_from_raw(attrs.kind, kp.public_key().as_ref())?;
            (Material::Ecdsa(Wiped::new(kp)), spki)
        }
        KeyKind::X25519 => {
            let raw: [u8; 32] = material.try_into().map_err(|_| bad())?;
            let secret = x25519_dalek::StaticSecret::from(raw);
            let public = x25519_dalek::PublicKey::from(&secret);
            let spki = spki_from_raw(attrs.kind, public.as_bytes())?;
            (Material::X25519(secret), spki)
        }
        KeyKind::Aes256Wrap => {
            let key = UnboundKey::new(&AES_256_GCM, material).map_err(|_| bad())?;
            (Material::Aes(Wiped::new(LessSafeKey::new(key))), Vec::new())
        }
    };
    Ok(LoadedKey {
        info: attrs.info(),
        spki,
        material,
    })
}
