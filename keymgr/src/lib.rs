//! keymgr: the sandi network's certificate authority, key ceremonies, issuance, rotation and
//! revocation, over hsm-shim. Filled in by the keymgr issue.
#![forbid(unsafe_code)]
