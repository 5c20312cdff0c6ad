//! Whether a plugin file may be loaded at all, decided before any byte of it is read as
//! code: a regular file the server can read, not writable by other users, in a folder not
//! writable by other users, owned (file and folder) by root or the server's own user.
//! sshd's `StrictModes` is the model. Group-writable is a warning; a foreign owner is
//! allowed, with a warning, only with `--allow-foreign-plugins` (development).
//!
//! The checks read the opened file's own metadata, and the symbol table is read from that
//! same open file (`elf.rs`); the `dlopen` afterwards goes by path, so only a user who can
//! write the folder could swap the file in between, which the folder check refuses.

use super::{ffi::effective_uid, PluginError};
use std::fs::{File, Metadata};
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--allow-foreign-plugins`: load plugins owned by another user (with a warning).
static ALLOW_FOREIGN: AtomicBool = AtomicBool::new(false);

/// Whether plugins owned by a user other than root or the server's own may be loaded
/// (`--allow-foreign-plugins`, for development). Set once at start-up, before loading.
pub fn allow_foreign_plugins(allow: bool) {
    ALLOW_FOREIGN.store(allow, Ordering::SeqCst);
}

/// Opens the plugin at `path` (absolute) if it may be trusted; the refusal names the cause
/// and the fix. Warnings (group-writable, a foreign owner allowed) are logged.
pub(crate) fn open_trusted(path: &Path) -> Result<File, PluginError> {
    let refuse = |reason: String| PluginError::Untrusted {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|error| unreachable(path, &error))?;
    if !metadata.is_file() {
        return Err(refuse(not_a_file(&metadata)));
    }
    let file = File::open(path).map_err(|error| unreachable(path, &error))?;
    let metadata = file.metadata().map_err(|error| unreachable(path, &error))?;
    check_owner_and_mode(path, path, &metadata, "it ").map_err(refuse)?;
    // The folder that holds the file, and the one that holds the name given (a symlink's).
    let real = std::fs::canonicalize(path).map_err(|error| unreachable(path, &error))?;
    let mut folders = vec![real.parent().map(Path::to_path_buf)];
    if real != path {
        folders.push(path.parent().map(Path::to_path_buf));
    }
    for folder in folders.into_iter().flatten() {
        let metadata = std::fs::metadata(&folder).map_err(|error| unreachable(path, &error))?;
        let what = format!("its folder '{}' ", folder.display());
        check_owner_and_mode(path, &folder, &metadata, &what).map_err(refuse)?;
    }
    Ok(file)
}

/// Refuses the plugin file or its folder (`checked`; `what` is "it " for the file itself,
/// else "its folder 'DIR' ") when writable by every user, or owned by another user; warns
/// when group-writable.
fn check_owner_and_mode(
    plugin: &Path,
    checked: &Path,
    metadata: &Metadata,
    what: &str,
) -> Result<(), String> {
    let mode = metadata.permissions().mode() & 0o7777;
    let shown = checked.display();
    let plugin = plugin.display();
    if mode & 0o002 != 0 {
        return Err(format!(
            "{what}has insecure mode {mode:04o}, writable by every user (chmod o-w '{shown}')"
        ));
    }
    let owner = metadata.uid();
    let me = effective_uid();
    if owner != 0 && owner != me {
        let whose =
            format!("{what}is owned by uid {owner}, neither root nor the server's user (uid {me})");
        if !ALLOW_FOREIGN.load(Ordering::SeqCst) {
            return Err(format!(
                "{whose}: chown it, or pass --allow-foreign-plugins to load it knowingly in development"
            ));
        }
        log::warn!("plugin '{plugin}': {whose}; loaded because of --allow-foreign-plugins");
    }
    if mode & 0o020 != 0 {
        log::warn!(
            "plugin '{plugin}': {what}is group-writable (mode {mode:04o}): every user of group {} can change the server's code (chmod g-w '{shown}')",
            metadata.gid()
        );
    }
    Ok(())
}

/// What a path that is not a regular file is.
fn not_a_file(metadata: &Metadata) -> String {
    let kind = metadata.file_type();
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    format!("it is {what}, not a library file (give the path of the built .so)")
}

/// The refusal for a path that cannot be reached or read, with its real cause.
fn unreachable(path: &Path, error: &std::io::Error) -> PluginError {
    let reason = match (error.kind(), error.raw_os_error()) {
        (ErrorKind::NotFound, _) if std::fs::symlink_metadata(path).is_ok() => {
            let target = std::fs::read_link(path).unwrap_or_default();
            format!(
                "it is a symlink to '{}', which does not exist (fix the link, or build the plugin)",
                target.display()
            )
        }
        (ErrorKind::NotFound, _) => {
            return PluginError::Missing {
                path: path.to_path_buf(),
            }
        }
        (_, Some(libc::ELOOP)) => {
            "it is a symlink loop (too many levels of symbolic links; point the path at the library file)"
                .to_owned()
        }
        (ErrorKind::PermissionDenied, _) => format!(
            "permission denied: the server's user (uid {}) cannot read it (chmod a+r the file, a+x its folders)",
            effective_uid()
        ),
        (_, Some(libc::ENOTDIR)) => {
            "a part of its path is a file, not a folder (fix the path)".to_owned()
        }
        _ => format!("it cannot be read: {error}"),
    };
    PluginError::Untrusted {
        path: path.to_path_buf(),
        reason,
    }
}
