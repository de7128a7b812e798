//! `purge_freed` under the tools' allocator (mimalloc, tuned as every tool
//! tunes it): memory freed outside the scope stays with the process, memory
//! freed inside it goes back to the OS. Linux only (reads /proc).
#![cfg(target_os = "linux")]

use refinery_core::cli::{purge_freed, tune_allocator, Allocator};

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// Resident memory in MB.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

/// 160 MB in small strings, as a tokenizer's JSON parse makes them, freed.
fn churn() {
    let strings: Vec<String> = (0..1_250_000).map(|i| format!("{i:0>120}")).collect();
    assert_eq!(strings.len(), 1_250_000);
}

/// Huge pages reserved by the system: mimalloc cannot purge what it
/// places there (see `purge_freed`).
fn huge_pages_reserved() -> bool {
    std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
        .map(|n| n.trim() != "0")
        .unwrap_or(false)
}

/// MB still resident (over `base`) after 160 MB are allocated and freed,
/// inside `scopes` nested purge scopes (none: outside any).
fn held_after_churn(base: f64, scopes: usize) -> f64 {
    let guards: Vec<_> = (0..scopes).map(|_| purge_freed()).collect();
    churn();
    drop(guards);
    rss_mb() - base
}

#[test]
fn memory_freed_in_the_scope_goes_back_to_the_os() {
    if huge_pages_reserved() {
        eprintln!("skipped: the system reserves huge pages, which mimalloc never purges");
        return;
    }
    tune_allocator();
    let base = rss_mb();
    let kept = held_after_churn(base, 0);
    assert!(
        kept > 100.0,
        "without a scope the freed memory stays: {kept:.0} MB"
    );
    let purged = held_after_churn(base, 1);
    assert!(
        purged < 20.0,
        "freed in a scope, still held: {purged:.0} MB"
    );
    // Purging is off again after the scope.
    let again = held_after_churn(base, 0);
    assert!(
        again > 100.0,
        "purging stayed on after the scope: {again:.0} MB held"
    );
    // Two scopes, the inner one dropped first: the outer one still purges.
    let nested = {
        let _outer = purge_freed();
        let inner_left = held_after_churn(base, 1);
        churn();
        assert!(inner_left < 20.0, "an inner scope: {inner_left:.0} MB held");
        rss_mb() - base
    };
    assert!(
        nested < 20.0,
        "an inner scope turned purging off: {nested:.0} MB held"
    );
}
