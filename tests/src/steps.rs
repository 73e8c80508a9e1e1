//! A long end-to-end scenario as named steps that each run even when an earlier one failed, so
//! that one failure does not hide the rest: the run fails at the end, naming every step that
//! failed and why. Steps that later ones need (a node, a letter) stay plain calls.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures_util::FutureExt as _;

/// The steps of one scenario and what failed.
#[derive(Debug, Default)]
pub struct Steps {
    failed: Vec<String>,
}

fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}

impl Steps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one step; a failure is noted and the scenario goes on.
    pub fn run(&mut self, name: &str, step: impl FnOnce()) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(step)) {
            self.failed.push(format!("{name}: {}", message(p.as_ref())));
        }
    }

    /// Like [`Steps::run`], for a step that awaits.
    pub async fn run_async(&mut self, name: &str, step: impl Future<Output = ()>) {
        if let Err(p) = AssertUnwindSafe(step).catch_unwind().await {
            self.failed.push(format!("{name}: {}", message(p.as_ref())));
        }
    }

    /// Fails, naming every failed step, if any did.
    pub fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "{} step(s) failed:\n{}",
            self.failed.len(),
            self.failed.join("\n")
        );
    }
}
