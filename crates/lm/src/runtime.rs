//! Finding and opening the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`, so nothing is linked at build time and
//! the library is opened here, once per process, from the first of:
//! 1. `ORT_DYLIB_PATH` (a file; it is an error if it is set and missing),
//! 2. the project cache ([`cache_dir`]: `REFINERY_CACHE`, else
//!    `~/.cache/refinery` when it exists, else `.cache/refinery` in the
//!    repository the tools were built from, where `make models` puts it),
//! 3. the system: `LD_LIBRARY_PATH`, then the usual library directories.
//!
//! Any `ort` call made before the library is opened would make `ort` look
//! for it on its own and panic when it is missing, so every entry point of
//! this crate goes through [`environment`] first.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{LmError, Result};

const LIBRARY_NAMES: [&str; 2] = ["libonnxruntime.so", "libonnxruntime.so.1"];
const SYSTEM_DIRS: [&str; 5] = [
    "/usr/local/lib",
    "/usr/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
];

/// The project cache, the first of: `REFINERY_CACHE`; the user's cache
/// directory (`$XDG_CACHE_HOME/refinery` or `~/.cache/refinery`) when it
/// exists, so installed tools keep finding their models after the checkout
/// moves; `.cache/refinery` in the repository the tools were built from
/// (where `make models` puts them).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REFINERY_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let user = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|d| d.join("refinery"));
    match user {
        Some(dir) if dir.is_dir() => dir,
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/refinery"),
    }
}

/// Where the runtime library is, or an error listing every place looked at.
pub fn locate_runtime() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(LmError::Runtime(format!(
            "ORT_DYLIB_PATH is set to {}, which is not a file; point it at libonnxruntime.so \
             (ONNX Runtime 1.31) or unset it to use the project cache",
            path.display()
        )));
    }
    let mut looked = vec!["ORT_DYLIB_PATH (unset)".to_string()];
    let cached = cache_dir().join("onnxruntime");
    let mut dirs = vec![cached];
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        dirs.extend(std::env::split_paths(&paths));
    }
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    for dir in &dirs {
        for name in LIBRARY_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        looked.push(dir.display().to_string());
    }
    Err(LmError::Runtime(format!(
        "the ONNX Runtime library (libonnxruntime.so, version 1.31) was not found; looked in: {}. \
         Run `make runtime` in the refinery repository (it fetches it from PyPI into the project cache), \
         or set ORT_DYLIB_PATH to the library file",
        looked.join(", ")
    )))
}

/// The process-wide ONNX Runtime environment, opened on first use.
pub fn environment() -> Result<&'static ort::environment::Environment> {
    static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> =
        OnceLock::new();
    ENV.get_or_init(open_environment)
        .as_ref()
        .map_err(|m| LmError::Runtime(m.clone()))
}

fn open_environment() -> std::result::Result<ort::environment::Environment, String> {
    let path = locate_runtime().map_err(|e| e.to_string())?;
    let builder = ort::init_from(&path).map_err(|e| {
        format!(
            "could not open the ONNX Runtime library {}: {e} (refinery needs ONNX Runtime 1.31; \
             run `make runtime` or set ORT_DYLIB_PATH)",
            path.display()
        )
    })?;
    builder
        .with_name("refinery")
        .build()
        .map_err(|e| format!("could not start ONNX Runtime from {}: {e}", path.display()))
}
