//! Files lvsh writes as root: atomically, and never through a link someone else planted.

use std::io::Write;
use std::path::Path;

/// Writes `path` whole or not at all: a temporary file beside it (created anew, so no link
/// can be followed), synced, then renamed over it (a rename replaces a link, never follows it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
