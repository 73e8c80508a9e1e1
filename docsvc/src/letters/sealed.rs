//! Small secrets kept beside letters (disposisi notes and reports, drafts and their
//! corrections): salted, encrypted with age to the level's archive key, opened inside the node
//! with any level's archive key, and sealed again when the level or the key changes.

use std::io::{Read as _, Write as _};

use policies::Level;
use zeroize::Zeroizing;

use crate::crypto::sha256_hex;
use crate::letters::documents::{archive_identities, wrap_set};
use crate::node::Node;
use crate::{Error, Result};

/// What [`seal`] made: the ciphertext, the archive key it is under, and the SHA-256 of the
/// salted plaintext (the salt keeps a short note from being guessed from its hash).
pub(crate) struct Sealed {
    pub cipher: Vec<u8>,
    pub key_id: String,
    pub sha256: String,
}

const SALT: usize = 16;

/// The current archive key of `level`: its id and recipient.
fn archive(node: &Node, level: Level) -> Result<(String, Vec<age::x25519::Recipient>)> {
    let (ids, recipients) = wrap_set(node, &[], level)?;
    let key_id = ids
        .into_iter()
        .next()
        .ok_or_else(|| Error::KeyUnavailable(format!("no archive key of level {level}")))?;
    Ok((key_id, recipients))
}

fn encrypt(recipients: &[age::x25519::Recipient], salted: &[u8]) -> Result<Vec<u8>> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::age("sealing", e))?;
    let mut out = Vec::with_capacity(salted.len() + 256);
    let mut w = encryptor
        .wrap_output(&mut out)
        .map_err(|e| Error::age("sealing", e))?;
    w.write_all(salted)
        .and_then(|()| w.finish().map(|_| ()))
        .map_err(|e| Error::age("sealing", e))?;
    Ok(out)
}

/// `plain`, salted, encrypted to the current archive key of `level`.
pub(crate) fn seal(node: &Node, level: Level, plain: &[u8]) -> Result<Sealed> {
    let (key_id, recipients) = archive(node, level)?;
    let mut salted = Zeroizing::new(vec![0u8; SALT]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salted[..])
        .map_err(|_| Error::KeyUnavailable("no randomness for a salt".into()))?;
    salted.extend_from_slice(plain);
    Ok(Sealed {
        cipher: encrypt(&recipients, &salted)?,
        key_id,
        sha256: sha256_hex(&salted),
    })
}

/// Decrypts `cipher` with the archive keys of every level (a letter reclassified since is
/// re-sealed after), on a blocking thread; checked against `sha256`.
async fn decrypt(node: &Node, cipher: Vec<u8>, sha256: &str) -> Result<Zeroizing<Vec<u8>>> {
    let identities: Vec<_> = Level::ALL
        .iter()
        .filter_map(|l| archive_identities(node, *l).ok())
        .flatten()
        .collect();
    let salted = tokio::task::spawn_blocking(move || -> Result<Zeroizing<Vec<u8>>> {
        let bad = |e: &dyn std::fmt::Display| Error::Integrity(format!("sealed content: {e}"));
        let d = age::Decryptor::new(&cipher[..]).map_err(|e| bad(&e))?;
        let mut r = d
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| bad(&e))?;
        let mut out = Zeroizing::new(Vec::new());
        r.read_to_end(&mut out).map_err(|e| bad(&e))?;
        Ok(out)
    })
    .await
    .map_err(|e| Error::Integrity(format!("decrypting sealed content: {e}")))??;
    if salted.len() < SALT || sha256_hex(&salted) != sha256 {
        return Err(Error::Integrity(
            "sealed content does not match its hash".into(),
        ));
    }
    Ok(salted)
}

/// What [`seal`] sealed, checked against the SHA-256 the MAC binds.
pub(crate) async fn open(node: &Node, cipher: Vec<u8>, sha256: &str) -> Result<Zeroizing<Vec<u8>>> {
    let salted = decrypt(node, cipher, sha256).await?;
    Ok(Zeroizing::new(salted[SALT..].to_vec()))
}

/// `cipher` (under archive key `key_id`) sealed again to the current archive key of `level`,
/// when that is another key: same salt, same hash.
pub(crate) async fn reseal(
    node: &Node,
    level: Level,
    cipher: Vec<u8>,
    sha256: &str,
    key_id: &str,
) -> Result<Option<(Vec<u8>, String)>> {
    let (current, recipients) = archive(node, level)?;
    if current == key_id || cipher.is_empty() {
        return Ok(None);
    }
    let salted = decrypt(node, cipher, sha256).await?;
    Ok(Some((encrypt(&recipients, &salted)?, current)))
}
