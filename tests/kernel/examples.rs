//! Every script in examples/ runs in the sandbox kernel (the labs assert their own traffic:
//! both real servers answer, rr alternates, connection entries match).

use crate::support::*;

#[test]
fn every_example_runs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".lua") && n != "lablib.lua")
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let path = format!("{dir}/{name}");
        in_netns(move || {
            let out = run(env!("CARGO_BIN_EXE_lvsh"), &[&path]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{path} failed: {err}");
            assert!(!out.stdout.is_empty(), "{path} printed nothing");
        });
    }
}
