//! One worker per product per host: an exclusive lock (`File::try_lock`, an OS file lock
//! released when the process ends, even by SIGKILL) on a lock file holding the PID.
//!
//! The file is never deleted: removing it would let a second worker lock a new file while
//! the first still holds the old one. Its default path is `crate::config::default_lock_file`.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// The lock file.
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds it.
    Held {
        /// The lock file.
        path: PathBuf,
        /// The PID written by the holder (empty if unreadable).
        pid: String,
    },
    /// The file could not be opened or locked.
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { path, pid } => write!(
                f,
                "another apiphant-background (PID {pid}) holds the lock file '{}' for this product (stop it first; one worker per product per host)",
                path.display()
            ),
            LockError::Io { path, source } => write!(
                f,
                "cannot lock '{}': {source} (set [background] lock_file in apiphant.toml to a writable path)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::Io { source, .. } => Some(source),
            LockError::Held { .. } => None,
        }
    }
}

impl Lock {
    /// Takes the lock at `path` and writes this process's PID into it.
    pub fn acquire(path: &Path) -> Result<Lock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    pid: pid.trim().to_owned(),
                });
            }
            Err(TryLockError::Error(error)) => return Err(io(error)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_file_and_the_pid() {
        let path =
            std::env::temp_dir().join(format!("apiphant-lock-test-{}.lock", std::process::id()));
        let first = Lock::acquire(&path).expect("first lock");
        let pid = std::process::id().to_string();
        assert_eq!(
            std::fs::read_to_string(&path)
                .ok()
                .as_deref()
                .map(str::trim),
            Some(pid.as_str())
        );
        let second = Lock::acquire(&path).expect_err("second lock refused");
        let message = second.to_string();
        assert!(message.contains(&format!("PID {pid}")), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        drop(first);
        assert!(Lock::acquire(&path).is_ok());
        let _ = std::fs::remove_file(&path);
    }
}
