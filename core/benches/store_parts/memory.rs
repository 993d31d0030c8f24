//! Memory on the device: a store holding many records, a process that opens it, lists a case and
//! opens 100 records, and reads its own VmRSS / VmHWM from /proc/self/status.

use std::path::Path;
use std::process::Command;

use fieldbook_core::records::RecordBody;
use fieldbook_core::Store;

use super::fixtures::{visit, KEY};

const CHILD: &str = "FIELDBOOK_BENCH_MEMORY_CHILD";
const PER_CASE: usize = 20;

pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// `VmRSS` and `VmHWM` in KiB (0 where /proc is not available).
fn status() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Fills a store with `stored` records, then measures a fresh process opening `opened` of them.
pub fn run(dir: &Path, quick: bool) {
    let (stored, opened) = if quick { (200, 20) } else { (10_000, 100) };
    let path = dir.join("memory.db");
    {
        let mut store = Store::open(&path, &KEY, "bench", "bench-device").unwrap();
        for i in 0..stored {
            let case = format!("case-m{:04}", i / PER_CASE);
            store.create_record(&case, &RecordBody::Visit(visit(i))).unwrap();
        }
        store.compact_all().unwrap();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, &path)
        .env("FIELDBOOK_BENCH_MEMORY_OPEN", opened.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let kib: Vec<u64> = text.split_whitespace().map(|s| s.parse().unwrap()).collect();
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "Memory, {stored} records stored, a case listed and {opened} records opened in a fresh \
         process: VmRSS {:.1} MiB, VmHWM (peak) {:.1} MiB (target < 64 MiB); the process before \
         opening the store: {:.1} MiB.",
        mib(kib[1]),
        mib(kib[2]),
        mib(kib[0]),
    );
}

/// The child: open, list, open records, report `rss_before rss hwm` in KiB.
pub fn child() {
    let path = std::env::var_os(CHILD).unwrap();
    let opened: usize = std::env::var("FIELDBOOK_BENCH_MEMORY_OPEN").unwrap().parse().unwrap();
    let (before, _) = status();
    let mut store = Store::open(&path, &KEY, "bench", "bench-device").unwrap();
    let mut ids = Vec::new();
    let mut case = 0;
    while ids.len() < opened {
        let rows = store.case_records(&format!("case-m{case:04}")).unwrap();
        assert!(!rows.is_empty(), "the store holds fewer than {opened} records");
        ids.extend(rows.into_iter().map(|r| r.id));
        case += 1;
    }
    for id in ids.iter().take(opened) {
        store.record(id).unwrap();
    }
    let (rss, hwm) = status();
    println!("{before} {rss} {hwm}");
}
