#!/usr/bin/env python3
"""An independent checker of sandi's access-log checkpoints, written from the texts alone:
C2SP signed-note (https://c2sp.org/signed-note), C2SP tlog-checkpoint
(https://c2sp.org/tlog-checkpoint) and RFC 9162 sections 2.1.3.2 (verifying an inclusion
proof) and 2.1.4.2 (verifying a consistency proof). It shares no code with sandi's Rust.

    checkpoint_checker.py note VKEY CHECKPOINT
    checkpoint_checker.py consistency VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF_JSON
    checkpoint_checker.py inclusion VKEY CHECKPOINT PROOF_JSON
    checkpoint_checker.py certificate VKEY CHECKPOINT PROOF_JSON CERT_DER
    checkpoint_checker.py cosigned VKEY CHECKPOINT WITNESS_NAME=NOTE_VKEY_FILE ...
    checkpoint_checker.py absent VKEY STATEMENT SHA256_HEX SIZE
    checkpoint_checker.py selftest

certificate: the proof's entry issues the certificate (its SHA-256) and is in the tree.
cosigned: every witness named has a C2SP tlog-cosignature/v1 line
(https://c2sp.org/tlog-cosignature) over the checkpoint, made with the Ed25519 key of the
verifier key given.

absent: keymgr's signed word (its 404) that the hash is not among the first SIZE entries: a
note signed by the log's key whose text is the checkpoint's shape under the first line
"<origin>/absent", SIZE, and the hash in base64 where the root is.

selftest checks the checker itself: the Go note package's published example note, and proofs
built from RFC 9162's recursive definitions (2.1.1, 2.1.3.1, 2.1.4.1) for every pair of sizes
up to 17, each also mutated.

Exit 0 and print "ok ..." when everything verifies; exit 1 with the reason otherwise.
"""

import base64
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Bad(Exception):
    pass


def parse_vkey(text):
    """name+hash+keydata; keydata is the signature type byte then the key (C2SP signed-note)."""
    parts = text.strip().split("+", 2)  # the key data is base64, which may hold "+"
    if len(parts) != 3:
        raise Bad("verifier key: expected name+hash+keydata")
    name, key_hash, data = parts
    raw = base64.b64decode(data, validate=True)
    if raw[0] != 0x01 or len(raw) != 33:
        raise Bad("verifier key: not an Ed25519 key (type 0x01, 32 bytes)")
    expect = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if bytes.fromhex(key_hash) != expect:
        raise Bad("verifier key: its hash does not match its name and key")
    return name, expect, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(vkey, note):
    """The note's text once a signature line by vkey verifies over it."""
    name, key_hash, public = vkey
    if not note.endswith("\n"):
        raise Bad("note: does not end with a newline")
    at = note.rfind("\n\n")
    if at < 0:
        raise Bad("note: no blank line before the signatures")
    text, sigs = note[: at + 1], note[at + 2 :]
    verified = False
    for line in sigs.split("\n")[:-1]:
        if not line.startswith("\u2014 "):
            raise Bad("note: a signature line does not start with an em dash and a space")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise Bad("note: a signature line is not 'name signature'")
        sig = base64.b64decode(fields[1], validate=True)
        if fields[0] != name or sig[:4] != key_hash:
            continue  # another key's signature (a witness's, say)
        try:
            public.verify(sig[4:], text.encode())
        except InvalidSignature:
            raise Bad("note: the signature by the log's key does not verify")
        verified = True
    if not verified:
        raise Bad("note: no signature by the log's key")
    return text


def checkpoint(vkey, note, origin=None):
    """(origin, size, root) of a signed checkpoint: origin, decimal size, base64 root."""
    lines = open_note(vkey, note).split("\n")[:-1]
    if len(lines) < 3:
        raise Bad("checkpoint: fewer than three lines")
    o, size, root = lines[0], lines[1], lines[2]
    if not o or (origin is not None and o != origin):
        raise Bad("checkpoint: unexpected origin %r" % o)
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise Bad("checkpoint: size is not a decimal without leading zeros")
    root = base64.b64decode(root, validate=True)
    if len(root) != 32:
        raise Bad("checkpoint: root is not 32 bytes")
    return o, int(size), root


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def verify_inclusion(index, size, leaf_hash, path, root):
    """RFC 9162 2.1.3.2."""
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 2.1.4.2."""
    if type(first) is not int or type(second) is not int:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0 or first > second or not path:
        return False
    if first & (first - 1) == 0:  # a power of two: first_hash is the old root
        path = [first_root] + path
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def hashes(xs):
    out = [base64.b64decode(x, validate=True) for x in xs]
    if any(len(h) != 32 for h in out):
        raise Bad("proof: a hash is not 32 bytes")
    return out


def mth(leaves):
    """The Merkle Tree Hash by its definition (RFC 9162 2.1.1)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    """PATH(m, D[n]) by its definition (RFC 9162 2.1.3.1)."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, b):
    """SUBPROOF(m, D[n], b) by its definition (RFC 9162 2.1.4.1)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_SIG = ("\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZS"
          "NXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")


def selftest():
    """The checker against the Go note package's published example and against proofs built
    from the RFC's recursive definitions; every mutation must fail."""
    vkey = parse_vkey(GO_VKEY)
    if open_note(vkey, GO_TEXT + "\n" + GO_SIG) != GO_TEXT:
        raise Bad("selftest: the Go example note does not open")
    try:
        open_note(vkey, GO_TEXT.replace("problem,", "problem;") + "\n" + GO_SIG)
        raise Bad("selftest: a changed note opened")
    except Bad as e:
        if "selftest" in str(e):
            raise
    data = [b"entry %d" % i for i in range(17)]
    for n in range(1, len(data) + 1):
        root = mth(data[:n])
        for i in range(n):
            p = path(i, data[:n])
            if not verify_inclusion(i, n, leaf(data[i]), p, root):
                raise Bad("selftest: inclusion %d in %d" % (i, n))
            if verify_inclusion(i, n, leaf(b"other"), p, root) or (
                p and verify_inclusion(i, n, leaf(data[i]), p[:-1], root)):
                raise Bad("selftest: a wrong inclusion proof verified")
        for m in range(1, n + 1):
            p = subproof(m, data[:n], True) if m < n else []
            if not verify_consistency(m, n, mth(data[:m]), root, p):
                raise Bad("selftest: consistency %d -> %d" % (m, n))
            if m < n and verify_consistency(m, n, mth(data[:m]), mth(data[:n - 1] + [b"x"]), p):
                raise Bad("selftest: an inconsistent pair verified")
    if verify_inclusion(-1, 4, leaf(data[0]), path(0, data[:4]), mth(data[:4])):
        raise Bad("selftest: a negative index verified")
    return "ok selftest"


def cosigned_by(text, sigs, name, public_raw):
    """The time of a valid tlog-cosignature/v1 line by (name, key) among sigs, or None."""
    key_hash = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_raw).digest()[:4]
    public = Ed25519PublicKey.from_public_bytes(public_raw)
    for line in sigs:
        fields = line[2:].split(" ")
        if len(fields) != 2 or fields[0] != name:
            continue
        sig = base64.b64decode(fields[1], validate=True)
        if len(sig) != 4 + 8 + 64 or sig[:4] != key_hash:
            continue
        t = int.from_bytes(sig[4:12], "big")
        try:
            public.verify(sig[12:], b"cosignature/v1\ntime %d\n" % t + text.encode())
            return t
        except InvalidSignature:
            continue
    return None


def main(argv):
    read = lambda p: open(p, encoding="utf-8").read()
    if argv[1] == "selftest":
        return selftest()
    cmd, vkey = argv[1], parse_vkey(read(argv[2]))
    if cmd == "note":
        o, size, root = checkpoint(vkey, read(argv[3]), vkey[0])
        return "ok %s size %d root %s" % (o, size, root.hex())
    if cmd == "consistency":
        _, m, old = checkpoint(vkey, read(argv[3]), vkey[0])
        _, n, new = checkpoint(vkey, read(argv[4]), vkey[0])
        proof = json.loads(read(argv[5]))
        if (proof["first"], proof["second"]) != (m, n):
            raise Bad("consistency: the proof is for other sizes")
        if not verify_consistency(m, n, old, new, hashes(proof["proof"])):
            raise Bad("consistency: size %d is not a prefix of size %d" % (m, n))
        return "ok consistent %d -> %d" % (m, n)
    if cmd == "inclusion":
        _, n, root = checkpoint(vkey, read(argv[3]), vkey[0])
        proof = json.loads(read(argv[4]))
        if proof["size"] != n:
            raise Bad("inclusion: the proof is for another size")
        lh = leaf(proof["entry"].encode())
        if not verify_inclusion(proof["index"], n, lh, hashes(proof["proof"]), root):
            raise Bad("inclusion: entry %d is not in the tree of size %d" % (proof["index"], n))
        return "ok entry %d in %d" % (proof["index"], n)
    if cmd == "certificate":
        _, n, root = checkpoint(vkey, read(argv[3]), vkey[0])
        proof = json.loads(read(argv[4]))
        der = open(argv[5], "rb").read()
        entry = json.loads(proof["entry"])
        if entry["kind"] not in ("issued", "rotated"):
            raise Bad("certificate: the entry issues nothing")
        if entry["data"]["certificate_sha256"] != hashlib.sha256(der).hexdigest():
            raise Bad("certificate: the entry issues another certificate")
        if proof["size"] != n:
            raise Bad("certificate: the proof is for another size")
        lh = leaf(proof["entry"].encode())
        if not verify_inclusion(proof["index"], n, lh, hashes(proof["proof"]), root):
            raise Bad("certificate: entry %d is not in the tree of size %d" % (proof["index"], n))
        return "ok certificate in entry %d of %d" % (proof["index"], n)
    if cmd == "cosigned":
        note = read(argv[3])
        checkpoint(vkey, note, vkey[0])
        at = note.rfind("\n\n")
        text, sigs = note[: at + 1], note[at + 2 :].split("\n")[:-1]
        for spec in argv[4:]:
            name, path = spec.split("=", 1)
            raw = base64.b64decode(read(path).strip().split("+", 2)[2], validate=True)
            if raw[0] != 0x01 or len(raw) != 33:
                raise Bad("cosigned: %s: not an Ed25519 verifier key" % path)
            if cosigned_by(text, sigs, name, raw[1:]) is None:
                raise Bad("cosigned: no valid cosignature by %s" % name)
        return "ok cosigned by %d" % len(argv[4:])
    if cmd == "absent":
        o, n, said = checkpoint(vkey, read(argv[3]), vkey[0] + "/absent")
        if said != bytes.fromhex(argv[4]) or n != int(argv[5]):
            raise Bad("absent: the statement is for another hash or size")
        return "ok %s absent from the first %d entries" % (argv[4], n)
    raise Bad("unknown command %r" % cmd)


if __name__ == "__main__":
    try:
        print(main(sys.argv))
    except (Bad, ValueError, KeyError, IndexError) as e:
        print("FAILED: %s" % e)
        sys.exit(1)
