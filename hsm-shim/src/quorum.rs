//! M-of-N splitting of the keystore master key among key custodians (Shamir over GF(256),
//! via `blahaj`), with a checksum on every share text and a commitment per custodian so that
//! unsealing can name a wrong share instead of silently producing a wrong key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Error, Result};

const SHARE_PREFIX: &str = "sandi-share-v1";
const COMMITMENT_CONTEXT: &[u8] = b"sandi keystore share commitment v1\0";

/// Whether a keystore guards real keys (quorum enforced) or is a local development store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Production,
    /// Unsealed from a local file; never for classified material.
    Dev,
    /// Unsealed from a local file for a key that must work while the node is sealed (its TLS
    /// server key, so custodians can unseal it over HTTPS): protected by the file permissions
    /// of its directory, as any TLS server key is. Holds no key of classified material.
    Local,
}

/// The quorum a master key is split under: `threshold` of `custodians` shares unseal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quorum {
    pub threshold: u8,
    pub custodians: u8,
}

impl Quorum {
    /// The default ceremony quorum: 3 of 5.
    pub const DEFAULT: Quorum = Quorum {
        threshold: 3,
        custodians: 5,
    };

    /// Checks the quorum makes sense; a production keystore needs at least two custodians to
    /// act together.
    pub fn validate(self, mode: Mode) -> Result<Self> {
        if self.custodians == 0 {
            return Err(Error::InvalidQuorum(
                "there must be at least one custodian".into(),
            ));
        }
        if self.threshold == 0 {
            return Err(Error::InvalidQuorum(
                "the threshold must be at least 1".into(),
            ));
        }
        if self.threshold > self.custodians {
            return Err(Error::InvalidQuorum(format!(
                "threshold {} is larger than the number of custodians {}",
                self.threshold, self.custodians
            )));
        }
        if mode == Mode::Production && self.threshold < 2 {
            return Err(Error::InvalidQuorum(
                "a production keystore needs a threshold of at least 2: one custodian alone must not unseal it".into(),
            ));
        }
        Ok(self)
    }
}

/// One custodian's share of a keystore master key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct CustodianShare {
    keystore: Uuid,
    threshold: u8,
    /// blahaj's encoding: the x coordinate (custodian index, from 1) then the y bytes.
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for CustodianShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustodianShare")
            .field("keystore", &self.keystore)
            .field("index", &self.index())
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

impl CustodianShare {
    /// The custodian's number, from 1.
    pub fn index(&self) -> u8 {
        self.bytes[0]
    }
    pub fn keystore(&self) -> Uuid {
        self.keystore
    }
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// The share as one line of text for a custodian to keep (secret: handle as such).
    pub fn to_text(&self) -> Zeroizing<String> {
        let body = Zeroizing::new(format!(
            "{SHARE_PREFIX}.{}.{}.{}",
            self.keystore.simple(),
            self.threshold,
            URL_SAFE_NO_PAD.encode(self.bytes.as_slice())
        ));
        let check = checksum(body.as_bytes());
        Zeroizing::new(format!("{}.{check}", body.as_str()))
    }

    /// Parses a share line, checking its checksum so that a typing error is caught here.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let (body, check) = text
            .rsplit_once('.')
            .ok_or(Error::MalformedShare("not a sandi share"))?;
        let mut parts = body.split('.');
        if parts.next() != Some(SHARE_PREFIX) {
            return Err(Error::MalformedShare(
                "not a sandi share (wrong prefix or version)",
            ));
        }
        if !bool::from(checksum(body.as_bytes()).as_bytes().ct_eq(check.as_bytes())) {
            return Err(Error::MalformedShare(
                "checksum mismatch: the share was mistyped or damaged",
            ));
        }
        let keystore = parts
            .next()
            .and_then(|s| Uuid::try_parse(s).ok())
            .ok_or(Error::MalformedShare("bad keystore id"))?;
        let threshold: u8 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(Error::MalformedShare("bad threshold"))?;
        let bytes = Zeroizing::new(
            parts
                .next()
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
                .ok_or(Error::MalformedShare("bad share data"))?,
        );
        if parts.next().is_some() {
            return Err(Error::MalformedShare("trailing fields"));
        }
        if bytes.len() != 33 || bytes[0] == 0 {
            return Err(Error::MalformedShare("share data has the wrong length"));
        }
        Ok(CustodianShare {
            keystore,
            threshold,
            bytes,
        })
    }

    /// The public commitment to this share that the keystore keeps to recognise it.
    pub(crate) fn commitment(&self) -> [u8; 32] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(COMMITMENT_CONTEXT);
        ctx.update(self.keystore.as_bytes());
        ctx.update(&self.bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// Whether this share matches the stored commitment, compared in constant time.
    pub(crate) fn matches(&self, commitment: &[u8; 32]) -> bool {
        self.commitment().ct_eq(commitment).into()
    }
}

fn checksum(body: &[u8]) -> String {
    hex::encode(&digest::digest(&digest::SHA256, body).as_ref()[..4])
}

/// Splits `secret` into `quorum.custodians` shares, any `quorum.threshold` of which recover it.
pub(crate) fn deal(secret: &[u8; 32], keystore: Uuid, quorum: Quorum) -> Vec<CustodianShare> {
    let sharks = blahaj::Sharks(quorum.threshold);
    sharks
        .dealer(secret)
        .take(usize::from(quorum.custodians))
        .map(|share| CustodianShare {
            keystore,
            threshold: quorum.threshold,
            bytes: Zeroizing::new(Vec::from(&share)),
        })
        .collect()
}

/// Recovers the secret from at least `threshold` distinct shares.
pub(crate) fn combine(shares: &[CustodianShare], threshold: u8) -> Result<Zeroizing<[u8; 32]>> {
    let parsed: Vec<blahaj::Share> = shares
        .iter()
        .map(|s| blahaj::Share::try_from(s.bytes.as_slice()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::MalformedShare("share data is not a Shamir share"))?;
    let secret = Zeroizing::new(
        blahaj::Sharks(threshold)
            .recover(&parsed)
            .map_err(|_| Error::Crypto("not enough distinct shares to recover the master key"))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if secret.len() != 32 {
        return Err(Error::Crypto("recovered master key has the wrong length"));
    }
    out.copy_from_slice(&secret);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_recovers_and_fewer_do_not() {
        let secret = [7u8; 32];
        let ks = Uuid::new_v4();
        let shares = deal(&secret, ks, Quorum::DEFAULT);
        assert_eq!(shares.len(), 5);
        for combo in [[0, 1, 2], [0, 2, 4], [2, 3, 4], [1, 3, 4]] {
            let pick: Vec<_> = combo.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(*combine(&pick, 3).expect("recover"), secret);
        }
        assert!(combine(&shares[..2], 3).is_err());
    }

    #[test]
    fn share_text_round_trips_and_catches_typos() {
        let shares = deal(&[1u8; 32], Uuid::new_v4(), Quorum::DEFAULT);
        let text = shares[1].to_text();
        let back = CustodianShare::parse(&text).expect("parse");
        assert_eq!(back.index(), 2);
        assert_eq!(back.commitment(), shares[1].commitment());
        // Flip one character of the share data.
        let mut typo = text.to_string();
        let pos = typo.len() - 12;
        let c = if &typo[pos..=pos] == "A" { "B" } else { "A" };
        typo.replace_range(pos..=pos, c);
        assert!(matches!(
            CustodianShare::parse(&typo),
            Err(Error::MalformedShare(_))
        ));
        assert!(CustodianShare::parse("hello").is_err());
        assert!(CustodianShare::parse("").is_err());
    }

    #[test]
    fn quorum_rules() {
        assert!(
            Quorum {
                threshold: 3,
                custodians: 5
            }
            .validate(Mode::Production)
            .is_ok()
        );
        assert!(
            Quorum {
                threshold: 6,
                custodians: 5
            }
            .validate(Mode::Production)
            .is_err()
        );
        assert!(
            Quorum {
                threshold: 1,
                custodians: 5
            }
            .validate(Mode::Production)
            .is_err()
        );
        assert!(
            Quorum {
                threshold: 1,
                custodians: 1
            }
            .validate(Mode::Dev)
            .is_ok()
        );
        assert!(
            Quorum {
                threshold: 0,
                custodians: 5
            }
            .validate(Mode::Dev)
            .is_err()
        );
    }
}
