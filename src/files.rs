//! The user's files: writing outputs so that an interruption or a crash
//! never leaves half a file (write a temporary file beside the target,
//! then rename it over), and finding out *before* a run whether each output
//! can be written at all and which file a path names, so that a bad path
//! costs a second instead of a whole benchmark.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// `inferload/history.db` under the user's data directory: `$XDG_DATA_HOME`
/// or `~/.local/share` on Linux, `~/Library/Application Support` on macOS,
/// `%APPDATA%` on Windows. The run history's default home, named here so
/// the plan can resolve it without depending on the history.
pub fn default_history_db() -> Option<std::path::PathBuf> {
    dirs::data_dir().map(|d| d.join("inferload").join("history.db"))
}

/// Writes `bytes` to `path` atomically (same-directory temp file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why an output cannot be written where it is asked for.
#[derive(Debug, Error)]
pub enum Unwritable {
    #[error("the directory {} does not exist", .0.display())]
    NoDirectory(PathBuf),
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("is a directory; give a file name")]
    IsADirectory,
    #[error("is a file, not a directory")]
    IsAFile,
    /// The OS cause (permission, read-only file system) is the message.
    #[error("cannot write in {}: {cause}", dir.display())]
    Denied { dir: PathBuf, cause: std::io::Error },
}

/// The directory a file path is written in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether a file can be written at `path` now, as [`write_atomic`] and
/// the records writer will: its directory exists and takes a new file, and
/// an existing file there is not a directory and opens for writing. Checked
/// by doing: a probe file is created beside it and removed, and an
/// existing file is opened for appending (nothing in it changes).
pub fn check_file_writable(path: &Path) -> Result<(), Unwritable> {
    let dir = parent_of(path);
    match std::fs::metadata(dir) {
        Err(_) => return Err(Unwritable::NoDirectory(dir.to_path_buf())),
        Ok(m) if !m.is_dir() => return Err(Unwritable::NotADirectory(dir.to_path_buf())),
        Ok(_) => {}
    }
    if path.is_dir() {
        return Err(Unwritable::IsADirectory);
    }
    probe_dir(dir)?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|cause| Unwritable::Denied {
                dir: dir.to_path_buf(),
                cause,
            })?;
    }
    Ok(())
}

/// Whether a directory of outputs can be made at `path` (it is created
/// when written, with its parents): it is not an existing file, and the
/// nearest existing directory above it (or itself) takes new files.
pub fn check_dir_writable(path: &Path) -> Result<(), Unwritable> {
    if path.exists() && !path.is_dir() {
        return Err(Unwritable::IsAFile);
    }
    let mut existing = path;
    while !existing.exists() {
        existing = parent_of(existing);
        if existing == Path::new(".") && !existing.exists() {
            break;
        }
    }
    if !existing.is_dir() {
        return Err(Unwritable::NotADirectory(existing.to_path_buf()));
    }
    probe_dir(existing)
}

/// Creates and removes a file in `dir`: the one sure test that it takes new
/// files (permissions, ACLs, a read-only mount all answer here).
fn probe_dir(dir: &Path) -> Result<(), Unwritable> {
    let probe = dir.join(format!(".inferload-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        // Left by an earlier run of this pid: the directory took it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(cause) => Err(Unwritable::Denied {
            dir: dir.to_path_buf(),
            cause,
        }),
    }
}

/// The file a path names, to tell whether two paths are one file: the
/// canonical path where the file exists, else its directory's canonical
/// path joined with its name (so `./a/x.json` and `a/../a/x.json` agree
/// before either is written), else the path made absolute.
pub fn identity(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    if let (Ok(dir), Some(name)) = (std::fs::canonicalize(parent_of(path)), path.file_name()) {
        return dir.join(name);
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_files_and_directories_are_told_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(check_file_writable(&d.join("new.json")).is_ok());
        std::fs::write(d.join("old.json"), "keep").unwrap();
        assert!(check_file_writable(&d.join("old.json")).is_ok());
        assert_eq!(
            std::fs::read_to_string(d.join("old.json")).unwrap(),
            "keep",
            "unchanged"
        );
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 1, "no probe left behind");
        assert!(matches!(
            check_file_writable(&d.join("missing/x.json")),
            Err(Unwritable::NoDirectory(p)) if p == d.join("missing")
        ));
        assert!(matches!(
            check_file_writable(&d.join("old.json/x.json")),
            Err(Unwritable::NotADirectory(_))
        ));
        assert!(matches!(check_file_writable(d), Err(Unwritable::IsADirectory)));
        // Directories are created with their parents; a file in the way is not.
        assert!(check_dir_writable(&d.join("plots/deep")).is_ok());
        assert!(check_dir_writable(d).is_ok());
        assert!(matches!(
            check_dir_writable(&d.join("old.json")),
            Err(Unwritable::IsAFile)
        ));
        assert!(matches!(
            check_dir_writable(&d.join("old.json/plots")),
            Err(Unwritable::NotADirectory(_))
        ));
        let e = check_file_writable(&d.join("missing/x.json")).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("the directory {} does not exist", d.join("missing").display())
        );
    }

    #[test]
    #[cfg(unix)]
    fn a_directory_without_write_permission_is_told() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root writes anywhere: then the probe is right to let it through.
        let can_write = std::fs::write(ro.join("t"), "").is_ok();
        let checked = check_file_writable(&ro.join("x.json"));
        assert_eq!(checked.is_ok(), can_write, "{checked:?}");
        if !can_write {
            assert!(matches!(checked, Err(Unwritable::Denied { .. })));
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn one_file_under_two_spellings_has_one_identity() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("a")).unwrap();
        assert_eq!(identity(&d.join("a/x.json")), identity(&d.join("a/../a/./x.json")));
        std::fs::write(d.join("a/x.json"), "").unwrap();
        assert_eq!(identity(&d.join("a/x.json")), identity(&d.join("./a/x.json")));
        assert_ne!(identity(&d.join("a/x.json")), identity(&d.join("a/y.json")));
    }

    #[test]
    fn replaces_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("missing/out.json"), b"x").is_err());
    }
}
