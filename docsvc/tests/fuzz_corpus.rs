//! The committed fuzz corpus (`tests/fuzz/corpus/<target>/`), replayed through the fuzz
//! targets' own functions in every test run: each parser of outside input returns on every
//! input the fuzzer kept, and there is a seed for each target. `tests/run --extended` runs the
//! fuzzers themselves.

// The same file is the fuzz crate's library, where these items are its public face.
#[allow(unreachable_pub)]
#[path = "../../tests/fuzz/src/lib.rs"]
mod targets;

#[test]
fn every_parser_of_outside_input_survives_the_committed_fuzz_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz/corpus");
    for (name, target) in targets::TARGETS {
        let dir = root.join(name);
        let mut inputs = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            target(&bytes);
            inputs += 1;
        }
        assert!(inputs > 0, "no corpus for the {name} target");
        eprintln!("{name}: {inputs} inputs");
    }
}
