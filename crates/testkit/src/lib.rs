//! Helpers for the CLI tests every tool has: run the built binary on
//! fixtures from `testdata/`, and compare its output with a golden file.
//!
//! `UPDATE_GOLDEN=1 cargo test` rewrites the golden files from the current
//! output; review the diff before committing it.

pub mod fake_server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace's `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A fixture path under `testdata/`.
pub fn fixture(rel: &str) -> PathBuf {
    testdata().join(rel)
}

/// What a run of a tool produced.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `bin` with `args`, in `testdata/`, feeding `stdin` (an empty pipe
/// when `None`, so the tool never sees a terminal).
pub fn run(bin: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    run_env(bin, args, stdin, &[])
}

/// [`run`] with environment variables set (`OPENAI_API_KEY` is removed
/// unless given, so a developer's own key never reaches a test server).
pub fn run_env(bin: &str, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(bin);
    command.env_remove("OPENAI_API_KEY");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .args(args)
        .current_dir(testdata())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.unwrap_or_default().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("the tool runs");
    feeder.join().expect("stdin feeder");
    out.into()
}

/// Compares `actual` with the golden file `testdata/<rel>`, or rewrites it
/// under `UPDATE_GOLDEN=1`.
pub fn assert_golden(rel: &str, actual: &str) {
    let path = fixture(rel);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create golden dir");
        }
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {}: {e} (run with UPDATE_GOLDEN=1)",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{} differs from the output ({} vs {} lines):\n{}\n(UPDATE_GOLDEN=1 rewrites it)",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}
