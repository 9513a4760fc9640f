//! Checks on the files a configuration names (the log file, the control
//! socket), made before start so that a mistake is a configuration error
//! with its file and line rather than a failure halfway through start-up.

use std::io;
use std::path::Path;

/// The directory `path` is in: its parent, or the working directory for a
/// bare file name.
pub(crate) fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether this process may create files in `directory`: creates and
/// removes an empty file there, which answers for permissions, read-only
/// file systems and security modules alike, and leaves nothing behind.
pub(crate) fn may_create_in(directory: &Path) -> io::Result<()> {
    let probe = directory.join(format!(".service-runtime-check.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_in_the_working_directory() {
        assert_eq!(directory_of(Path::new("svc.log")), Path::new("."));
        assert_eq!(
            directory_of(Path::new("/var/log/svc.log")),
            Path::new("/var/log")
        );
    }

    #[test]
    fn the_probe_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        may_create_in(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert!(may_create_in(&dir.join("missing")).is_err());
        std::fs::remove_dir(&dir).unwrap();
    }
}
