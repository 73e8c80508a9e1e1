//! `docsvc`: the sandi document service. A thin CLI over the library; the commands are in
//! `cli/`.

mod cli;

use clap::Parser as _;

/// mimalloc: the signing API and delivery allocate many small buffers per request; see
/// `bench/results/` for what it changed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the -sys crate names no constant for
/// it); `purge_delay_is_the_option_meant` holds the number to that option.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc 3 keeps freed memory for a second before it gives it back to the system, so an
/// argon2 check (19 MiB) or a letter's 1 MiB chunks count against the node's RSS long after
/// they are gone: a 1 GiB letter's round trip peaked at 127-153 MiB, against 97 with 10 ms
/// (mimalloc 2's default; the benches moved within their noise). An operator's
/// `MIMALLOC_PURGE_DELAY` (or its old name, `MIMALLOC_RESET_DELAY`, in any case, as mimalloc
/// reads them) still wins.
fn give_back_freed_memory_soon() {
    if !operator_sets_purge_delay() {
        // SAFETY: mi_option_set stores a number in mimalloc's option table; it is called
        // before any other thread exists (see `main`), so nothing reads the option meanwhile.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 10);
        }
    }
}

/// Whether the environment names the purge delay, as mimalloc reads it.
fn operator_sets_purge_delay() -> bool {
    std::env::vars_os().any(|(k, _)| {
        k.to_str().is_some_and(|k| {
            k.eq_ignore_ascii_case("MIMALLOC_PURGE_DELAY")
                || k.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")
        })
    })
}

fn main() {
    // Before the runtime starts its threads.
    give_back_freed_memory_soon();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(docsvc::crypto::envelope::BLOCKING_THREADS)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("docsvc: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(run());
}

async fn run() {
    // Held to the end: dropping it gives the log thread a second to write what is queued.
    let logs = docsvc::logging::init();
    let outcome = cli::run(cli::Cli::parse()).await;
    // `exit` skips destructors: the queued lines go first, then the error after them.
    drop(logs);
    if let Err(e) = outcome {
        eprintln!("docsvc: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    /// Option 15 is the purge delay: its default is mimalloc 3's 1000 ms, which no other
    /// option has, and setting it is read back. A mimalloc whose options moved fails here.
    #[test]
    fn purge_delay_is_the_option_meant() {
        if super::operator_sets_purge_delay() {
            return;
        }
        #[allow(unsafe_code)]
        // SAFETY: reading and storing numbers in mimalloc's option table; this test is the
        // only one in the binary that touches it.
        let (default, set) = unsafe {
            let default = libmimalloc_sys::mi_option_get(super::PURGE_DELAY);
            super::give_back_freed_memory_soon();
            (default, libmimalloc_sys::mi_option_get(super::PURGE_DELAY))
        };
        assert_eq!(default, 1000, "mimalloc 3's purge delay");
        assert_eq!(set, 10);
    }
}
