//! Replays every saved input in `fuzz/regressions/<target>/` through its
//! target's property: the seeds each target starts from, and every input a
//! fuzzer once failed on (kept after the fix, so the bug stays fixed).

use std::path::Path;

#[test]
fn saved_inputs_still_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut replayed = 0;
    for (target, property) in synchost_fuzz::TARGETS {
        let dir = root.join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err} (every target keeps seeds)", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| property(&input)) {
                std::panic::resume_unwind(Box::new(format!(
                    "{target}: {} fails again: {:?}",
                    path.display(),
                    panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or(panic.downcast_ref::<&str>().copied())
                )));
            }
            count += 1;
        }
        assert!(
            count > 0,
            "{target} has no saved inputs in {}",
            dir.display()
        );
        replayed += count;
    }
    println!("replayed {replayed} saved inputs");
}

#[test]
fn every_fuzz_target_has_a_property() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz_targets");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let name = file.trim_end_matches(".rs");
        assert!(
            synchost_fuzz::TARGETS
                .iter()
                .any(|(target, _)| *target == name),
            "fuzz_targets/{file} is missing from synchost_fuzz::TARGETS"
        );
    }
}
