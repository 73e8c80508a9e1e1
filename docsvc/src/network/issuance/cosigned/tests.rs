use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keymgr::merkle;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::*;

fn key(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("key")
}

fn public(k: &Ed25519KeyPair) -> [u8; 32] {
    k.public_key().as_ref().try_into().expect("32 bytes")
}

const PEER: &str = "sandi/peer/witness";

/// `log`'s checkpoint of `size` entries and `root`, cosigned by `witness` as the peer.
fn cosigned(log: &Ed25519KeyPair, witness: &Ed25519KeyPair, size: u64, root: [u8; 32]) -> String {
    let text = note::body(ORIGIN, size, &root);
    let signed = note::signed_note(&text, ORIGIN, &public(log), |m| {
        Ok::<_, ()>(log.sign(m).as_ref().to_vec())
    })
    .expect("signed");
    let line = note::cosignature(PEER, &public(witness), &text, 1, |m| {
        Ok::<_, ()>(witness.sign(m).as_ref().to_vec())
    })
    .expect("cosigned");
    format!("{signed}{line}")
}

fn log_key(log: &Ed25519KeyPair) -> Verifier {
    Verifier {
        name: ORIGIN.into(),
        public: public(log),
    }
}

fn doc(cosigned: String, split_view: bool) -> CosignedDoc {
    CosignedDoc {
        node: ISSUANCE_LOG.into(),
        size: 0,
        cosigned,
        split_view,
    }
}

/// A peer's cosigned checkpoint is a view to weigh, of any size; another root for this node's
/// size is keymgr's fork, whatever the peer flags; a line by another key under the peer's
/// name, or a checkpoint keymgr did not sign, counts for nothing.
#[test]
fn what_a_peer_showed_is_weighed_against_this_nodes_checkpoint() {
    let (log, peer, other) = (key(1), key(2), key(3));
    let witness = Verifier {
        name: PEER.into(),
        public: public(&peer),
    };
    let lk = log_key(&log);
    let own = note::open(&lk, &cosigned(&log, &other, 5, [1; 32]), ORIGIN).expect("own");
    let seen = |note: String, split: bool| compare(&own, &witness, &lk, &doc(note, split));
    for size in [4, 5, 9] {
        let root = if size == 5 { [1; 32] } else { [2; 32] };
        assert!(matches!(
            seen(cosigned(&log, &peer, size, root), false),
            Some(Seen::View(_))
        ));
    }
    for split in [false, true] {
        assert!(matches!(
            seen(cosigned(&log, &peer, 5, [4; 32]), split),
            Some(Seen::Fork(_))
        ));
    }
    assert!(seen(cosigned(&log, &peer, 5, [1; 32]), true).is_none());
    assert!(seen(cosigned(&log, &other, 5, [4; 32]), false).is_none());
    assert!(seen(cosigned(&other, &peer, 5, [4; 32]), false).is_none());
}

/// A view of another size lies on this node's chain only through a proof for exactly those
/// sizes that ties both roots, larger or smaller: a forked tree does not.
#[test]
fn a_view_of_another_size_lies_on_the_chain_only_through_a_true_proof() {
    let (log, peer) = (key(1), key(2));
    let lk = log_key(&log);
    let leaves: Vec<[u8; 32]> = (0..9u8).map(|i| merkle::leaf_hash(&[i])).collect();
    let mut forked = leaves.clone();
    forked[1] = merkle::leaf_hash(b"rewritten");
    let open = |of: &[[u8; 32]], n: u64| {
        let n_leaves = usize::try_from(n).expect("size");
        note::open(
            &lk,
            &cosigned(&log, &peer, n, merkle::root(&of[..n_leaves])),
            ORIGIN,
        )
        .expect("opens")
    };
    let proof = |of: &[[u8; 32]], m: u64, n: u64| Consistency {
        first: m,
        second: n,
        proof: merkle::consistency_proof(
            &of[..usize::try_from(n).expect("n")],
            usize::try_from(m).expect("m"),
        )
        .expect("a proof")
        .iter()
        .map(|h| B64.encode(h))
        .collect(),
    };
    let own = open(&leaves, 5);
    assert!(on_chain(
        &own,
        &open(&leaves, 9),
        Some(&proof(&leaves, 5, 9))
    ));
    assert!(on_chain(
        &own,
        &open(&leaves, 3),
        Some(&proof(&leaves, 3, 5))
    ));
    assert!(on_chain(&own, &open(&leaves, 5), None));
    assert!(!on_chain(
        &own,
        &open(&forked, 9),
        Some(&proof(&forked, 5, 9))
    ));
    assert!(!on_chain(&own, &open(&forked, 5), None));
    assert!(!on_chain(
        &own,
        &open(&leaves, 9),
        Some(&proof(&leaves, 4, 9))
    ));
    assert!(!on_chain(&own, &open(&leaves, 9), None));
}

/// With k peers needed, the k-th largest view is trusted (never beyond this node's own), and
/// every peer at least that large is its witness; fewer than k, nothing.
#[test]
fn the_kth_largest_view_is_trusted() {
    let (log, peer) = (key(1), key(2));
    let lk = log_key(&log);
    let at = |n: u64| {
        note::open(
            &lk,
            &cosigned(&log, &peer, n, [u8::try_from(n).expect("n"); 32]),
            ORIGIN,
        )
        .expect("opens")
    };
    let own = at(6);
    let views = || {
        vec![
            ("a".to_owned(), at(8)),
            ("b".to_owned(), at(4)),
            ("c".to_owned(), at(6)),
        ]
    };
    let t = pick(&own, views(), 1).expect("one");
    assert_eq!((t.size, t.witnesses.len()), (6, 2), "own is the cap");
    assert!(t.note.starts_with(&own.text));
    let t = pick(&own, views(), 2).expect("two");
    assert_eq!(t.size, 6);
    let t = pick(&own, views(), 3).expect("three");
    assert_eq!((t.size, t.root), (4, [4; 32]));
    assert_eq!(t.witnesses.len(), 3);
    assert!(pick(&own, views(), 4).is_none());
    assert!(pick(&own, views(), 0).is_none());
}
