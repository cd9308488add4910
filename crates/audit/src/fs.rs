//! The I/O edge: walking directories, reading files, and resolving includes on disk. Everything else in
//! the crate works on text handed to it.

use std::io;
use std::path::{Path, PathBuf};

use crate::model::SourceFile;
use crate::sources::Resolver;

/// Files larger than this are not read (configuration files are small; a 1 GB log is not one).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a path could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The operating system refused or failed.
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ReadError::TooLarge { path, bytes } => write!(
                f,
                "{}: {bytes} bytes, larger than {MAX_FILE_BYTES}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            ReadError::TooLarge { .. } => None,
        }
    }
}

fn read_one(path: &Path) -> Result<SourceFile, ReadError> {
    let meta = std::fs::metadata(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            bytes: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(SourceFile::new(
        path.to_string_lossy(),
        String::from_utf8_lossy(&bytes),
    ))
}

/// Reads each path: a file as is, a directory recursively (sorted, hidden entries and symlinked
/// directories skipped). Returns the files read and the paths that could not be.
pub fn collect(paths: &[PathBuf]) -> (Vec<SourceFile>, Vec<ReadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        walk(p, &mut files, &mut errors, 0);
    }
    (files, errors)
}

fn walk(path: &Path, files: &mut Vec<SourceFile>, errors: &mut Vec<ReadError>, depth: usize) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(source) => {
            errors.push(ReadError::Io {
                path: path.to_owned(),
                source,
            });
            return;
        }
    };
    let is_dir = meta.is_dir() || (meta.file_type().is_symlink() && depth == 0 && path.is_dir());
    if !is_dir {
        match read_one(path) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
        return;
    }
    if depth > 32 {
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(source) => {
            errors.push(ReadError::Io {
                path: path.to_owned(),
                source,
            });
            return;
        }
    };
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        let symlinked_dir =
            std::fs::symlink_metadata(&e).is_ok_and(|m| m.file_type().is_symlink()) && e.is_dir();
        if hidden || symlinked_dir {
            continue;
        }
        walk(&e, files, errors, depth + 1);
    }
}

/// Resolves includes on disk: relative targets against the including file's directory, then against
/// each extra base directory (Asterisk resolves against `/etc/asterisk`, FreeSWITCH against its conf
/// directory); absolute targets first by file name in the including file's directory (so a copy of
/// `/etc/asterisk` audited elsewhere reads its own files), then as written. `*` in the last path
/// component is expanded.
#[derive(Debug, Default, Clone)]
pub struct DiskResolver {
    /// Extra directories to try for relative targets.
    pub bases: Vec<PathBuf>,
}

impl Resolver for DiskResolver {
    fn resolve(&mut self, from: &str, target: &str) -> Vec<SourceFile> {
        let t = Path::new(target);
        let mut candidates = Vec::new();
        if t.is_absolute() {
            // `#include /etc/asterisk/x.conf` in a copy being audited elsewhere means the copy's x.conf:
            // the tree under audit comes first, the live system path second.
            if let (Some(dir), Some(name)) = (Path::new(from).parent(), t.file_name()) {
                candidates.push(dir.join(name));
            }
            candidates.push(t.to_owned());
        } else {
            if let Some(dir) = Path::new(from).parent() {
                candidates.push(dir.join(t));
            }
            candidates.extend(self.bases.iter().map(|b| b.join(t)));
        }
        for c in candidates {
            let found = expand_glob(&normalize(&c));
            if !found.is_empty() {
                return found.iter().filter_map(|p| read_one(p).ok()).collect();
            }
        }
        Vec::new()
    }
}

/// Removes `.` and `dir/..` components without touching the disk, so a file reached as
/// `autoload_configs/../sip_profiles/x.xml` has the same path as when the walker found it.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn expand_glob(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains('*') {
        return if path.is_file() {
            vec![path.to_owned()]
        } else {
            Vec::new()
        };
    }
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let (pre, post) = name.split_once('*').unwrap_or((name, ""));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    n.len() >= pre.len() + post.len()
                        && n.starts_with(pre)
                        && n.ends_with(post)
                        && p.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
