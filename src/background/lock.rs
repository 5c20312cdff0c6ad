//! One worker per product per host: an exclusive lock (`File::try_lock`, an OS file lock
//! released when the process ends, even by SIGKILL) on a lock file holding the PID.
//!
//! The file is never deleted: removing it would let a second worker lock a new file while
//! the first still holds the old one. Its default path is `crate::config::default_lock_file`
//! (the product's `run/` folder, created mode 0700 when missing).
//!
//! Opened without following a symlink and without truncating: a symlink, a file of another
//! user, or a file with other names (hard links) is refused, never written. The PID is
//! written only once the lock is held, into a file this user owns.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
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
    /// The path is not a file this user may lock: a symlink, another user's file, ...
    Unsafe {
        /// The lock file.
        path: PathBuf,
        /// Why, and the fix.
        reason: String,
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
            LockError::Unsafe { path, reason } => write!(
                f,
                "refusing the lock file '{}': {reason}",
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
            LockError::Held { .. } | LockError::Unsafe { .. } => None,
        }
    }
}

impl Lock {
    /// Takes the lock at `path` and writes this process's PID into it. A missing default
    /// run folder (`create_folder`) is created, mode 0700.
    pub fn acquire(path: &Path, create_folder: bool) -> Result<Lock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let refuse = |reason: String| LockError::Unsafe {
            path: path.to_path_buf(),
            reason,
        };
        if let (true, Some(folder)) = (create_folder, path.parent()) {
            match DirBuilder::new().mode(0o700).create(folder) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => return Err(io(error)),
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|error| match error.raw_os_error() {
                Some(libc::ELOOP) => refuse(
                    "it is a symbolic link (planted there, it would make the worker write where it points): remove it, or set [background] lock_file in apiphant.toml to a path in a folder only this user can write".to_owned(),
                ),
                _ => io(error),
            })?;
        check_own_file(&file).map_err(refuse)?;
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
        // Held, and our own: the previous holder's PID is replaced.
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

/// The opened lock file is a regular file of this user with no other name: `Err` says why
/// not, and the fix.
fn check_own_file(file: &File) -> Result<(), String> {
    let fix = "remove it, or set [background] lock_file in apiphant.toml to a path in a folder only this user can write";
    let metadata = file.metadata().map_err(|error| error.to_string())?;
    if !metadata.is_file() {
        return Err(format!("it is not a regular file: {fix}"));
    }
    let me = crate::plugin::effective_uid();
    if metadata.uid() != me {
        return Err(format!(
            "it is owned by uid {}, not by the worker's user (uid {me}): another user created it; {fix}",
            metadata.uid()
        ));
    }
    if metadata.nlink() != 1 {
        return Err(format!(
            "it has {} names (hard links): the worker would write into another file; {fix}",
            metadata.nlink()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_file_and_the_pid() {
        let path =
            std::env::temp_dir().join(format!("apiphant-lock-test-{}.lock", std::process::id()));
        let first = Lock::acquire(&path, false).expect("first lock");
        let pid = std::process::id().to_string();
        assert_eq!(
            std::fs::read_to_string(&path)
                .ok()
                .as_deref()
                .map(str::trim),
            Some(pid.as_str())
        );
        let second = Lock::acquire(&path, false).expect_err("second lock refused");
        let message = second.to_string();
        assert!(message.contains(&format!("PID {pid}")), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        drop(first);
        assert!(Lock::acquire(&path, false).is_ok());
        let _ = std::fs::remove_file(&path);
    }
}
