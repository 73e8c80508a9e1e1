//! A box whose memory is zeroed when dropped, for key types from `ring` that do not zeroize
//! themselves. The one place in sandi with `unsafe`.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use zeroize::Zeroize;

/// Owns a `T` on the heap and overwrites its bytes with zeros after dropping it.
///
/// Only for types that keep their secret inline (no heap pointers of their own), which is the
/// case for ring's `Ed25519KeyPair`, `EcdsaKeyPair` and `LessSafeKey`.
pub(crate) struct Wiped<T>(Box<MaybeUninit<T>>);

impl<T> Wiped<T> {
    pub(crate) fn new(value: T) -> Self {
        Wiped(Box::new(MaybeUninit::new(value)))
    }

    pub(crate) fn get(&self) -> &T {
        // SAFETY: the value is initialised in `new` and only dropped in `Drop`, after which
        // `self` is gone.
        unsafe { self.0.assume_init_ref() }
    }
}

impl<T> Drop for Wiped<T> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`; dropped exactly once, here.
        unsafe { self.0.assume_init_drop() };
        // `MaybeUninit` may hold any bytes, so zeroing it after the drop is sound.
        self.0.zeroize();
    }
}
