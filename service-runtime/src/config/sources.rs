//! Which configuration files are read, in which order, as oslo.config
//! decides it.
//!
//! Without `--config-file`, the default file of the project is read (the
//! first `<project>.conf` found in `~/.<project>/`, `~/`, `/etc/<project>/`,
//! `/etc/`, then likewise `<prog>.conf`); without `--config-dir`, the default
//! directory (`<project>.conf.d`, then `<prog>.conf.d`, in the same places).
//! The defaults come first, then the files and directories of the command
//! line in the order given.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::load::{LoadArgs, SourceArg};
use super::{ConfigError, Source, ini};

/// One parsed configuration file.
pub(crate) struct ReadFile {
    pub(crate) path: PathBuf,
    pub(crate) parsed: ini::IniFile,
}

/// Reads every file of the load, in reading order. Files that cannot be
/// read or parsed are reported and left out.
pub(crate) fn read_all(args: &LoadArgs, errors: &mut Vec<ConfigError>) -> Vec<ReadFile> {
    let mut files = Vec::new();
    for source in sources_in_order(args) {
        match source {
            Planned::File(path) => files.extend(read_file(&path, errors)),
            Planned::Dir { path, optional } => {
                if optional && !path.exists() {
                    continue;
                }
                for file in dir_files(&path, errors) {
                    files.extend(read_file(&file, errors));
                }
            }
        }
    }
    files
}

/// A file or directory to read; default directories that do not exist are
/// skipped, a directory named on the command line must exist.
enum Planned {
    File(PathBuf),
    Dir { path: PathBuf, optional: bool },
}

fn sources_in_order(args: &LoadArgs) -> Vec<Planned> {
    let explicit_file = args.sources.iter().any(|s| matches!(s, SourceArg::File(_)));
    let explicit_dir = args.sources.iter().any(|s| matches!(s, SourceArg::Dir(_)));
    let names = search_names(args);
    let places = search_places(&args.project);
    let mut planned = Vec::new();
    if !explicit_file {
        let found = names.iter().filter_map(|name| {
            let file = format!("{name}.conf");
            places.iter().map(|p| p.join(&file)).find(|p| p.is_file())
        });
        planned.extend(found.map(Planned::File));
    }
    if !explicit_dir {
        let found = names.iter().filter_map(|name| {
            let dir = format!("{name}.conf.d");
            places.iter().map(|p| p.join(&dir)).find(|p| p.is_dir())
        });
        planned.extend(found.map(|path| Planned::Dir {
            path,
            optional: true,
        }));
    }
    planned.extend(args.sources.iter().map(|source| match source {
        SourceArg::File(path) => Planned::File(path.clone()),
        SourceArg::Dir(path) => Planned::Dir {
            path: path.clone(),
            optional: false,
        },
    }));
    planned
}

/// The project, then the program when its name differs.
fn search_names(args: &LoadArgs) -> Vec<&str> {
    let mut names = Vec::new();
    for name in [args.project.as_str(), args.prog.as_str()] {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Where default files are looked for, in order: `~/.<project>/`, `~/`,
/// `/etc/<project>/`, `/etc/`. Nothing is searched without a project.
pub(crate) fn search_places(project: &str) -> Vec<PathBuf> {
    if project.is_empty() {
        return Vec::new();
    }
    let mut places = Vec::new();
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        places.push(home.join(format!(".{project}")));
        places.push(home);
    }
    places.push(PathBuf::from("/etc").join(project));
    places.push(PathBuf::from("/etc"));
    places
}

/// The largest configuration file read: far beyond any real one, and small
/// enough that a mistaken `--config-file /dev/zero` fails fast instead of
/// filling the memory.
pub(crate) const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

fn read_file(path: &Path, errors: &mut Vec<ConfigError>) -> Option<ReadFile> {
    let bytes = match read_capped(path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let message = format!(
                "config file {} is larger than {} MiB; is it the right file?",
                path.display(),
                MAX_FILE_SIZE / (1024 * 1024)
            );
            errors.push(ConfigError::general(None, message));
            return None;
        }
        Err(error) => {
            errors.push(unreadable(path, &error, "config file"));
            return None;
        }
    };
    match ini::parse(&bytes) {
        Ok(parsed) => Some(ReadFile {
            path: path.to_path_buf(),
            parsed,
        }),
        Err(error) => {
            let source = Source::File {
                path: path.to_path_buf(),
                line: error.line(),
            };
            errors.push(ConfigError::general(Some(source), error.to_string()));
            None
        }
    }
}

/// The whole file, or `None` when it holds more than [`MAX_FILE_SIZE`]
/// bytes. Pipes (`--config-file <(...)`) are read like files.
fn read_capped(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;

    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    let within = u64::try_from(bytes.len()).is_ok_and(|len| len <= MAX_FILE_SIZE);
    Ok(within.then_some(bytes))
}

/// The error for a file or directory that cannot be read. "Not found" and
/// "permission denied" are told apart: they call for different fixes.
pub(crate) fn unreadable(path: &Path, error: &std::io::Error, what: &str) -> ConfigError {
    let shown = path.display();
    let message = match error.kind() {
        ErrorKind::NotFound => format!("{what} not found: {shown}"),
        ErrorKind::PermissionDenied => {
            format!("{what} not readable (permission denied): {shown}")
        }
        _ => format!("{what} could not be read: {shown}: {error}"),
    };
    ConfigError::general(None, message)
}

/// The `*.conf` files of a directory, sorted by name (byte order), names
/// starting with a dot skipped, as Python's `sorted(glob("*.conf"))`.
fn dir_files(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(unreadable(dir, &error, "config dir"));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".conf") && !name.starts_with('.')
        })
        .collect();
    files.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: ErrorKind) -> String {
        let error = std::io::Error::from(kind);
        unreadable(Path::new("/etc/x.conf"), &error, "config file").to_string()
    }

    #[test]
    fn not_found_and_permission_denied_read_differently() {
        assert_eq!(
            message(ErrorKind::NotFound),
            "config file not found: /etc/x.conf"
        );
        assert_eq!(
            message(ErrorKind::PermissionDenied),
            "config file not readable (permission denied): /etc/x.conf"
        );
        assert!(message(ErrorKind::InvalidData).starts_with("config file could not be read"));
    }

    #[test]
    fn a_missing_command_line_dir_is_an_error_naming_it() {
        let mut errors = Vec::new();
        let args = LoadArgs {
            sources: vec![SourceArg::Dir(PathBuf::from("/no/such/dir"))],
            ..LoadArgs::default()
        };
        assert!(read_all(&args, &mut errors).is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "config dir not found: /no/such/dir");
    }

    #[test]
    fn a_directory_contributes_its_conf_files_in_byte_order() {
        let dir = std::env::temp_dir().join(format!("sources-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "b.conf",
            "Z.conf",
            "a.conf",
            ".hidden.conf",
            "c.txt",
            "d.conf.bak",
        ] {
            std::fs::write(dir.join(name), "[DEFAULT]\n").unwrap();
        }
        let mut errors = Vec::new();
        let names: Vec<String> = dir_files(&dir, &mut errors)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(errors.is_empty());
        assert_eq!(names, ["Z.conf", "a.conf", "b.conf"]);
    }
}
