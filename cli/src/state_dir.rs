//! The `.miniapp/` folder: development keys and token keys made on first run, the embedded
//! store's file, function logs, and the credentials `miniapp login` saved. Files that hold
//! secrets are written with mode 0600, the folder with 0700.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The app id the stand-in and the functions agree on in development.
pub const DEV_APP_ID: &str = "2021000000000000";
/// The key id of the generated token key.
const DEV_TOKEN_KID: &str = "dev1";

/// Why the state folder could not be used.
#[derive(Debug, Error)]
pub enum StateDirError {
    #[error("cannot use state folder {path:?}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path:?} is not valid JSON of the expected shape ({source}); delete it to start afresh"
    )]
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
    #[error("cannot generate development keys: {0}")]
    Generate(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateDirError + '_ {
    move |source| StateDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(path: &Path) -> impl FnOnce(serde_json::Error) -> StateDirError + '_ {
    move |source| StateDirError::Corrupt {
        path: path.display().to_string(),
        source,
    }
}

/// The stand-in's and the app's RSA keys, bare base64 (PKCS#8 private, SPKI public).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevKeys {
    pub app_id: String,
    pub app_private_key: String,
    pub app_public_key: String,
    pub gateway_private_key: String,
    pub gateway_public_key: String,
}

/// An opened `.miniapp/` folder (absolute path).
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Creates the folder (0700) when missing.
    pub fn open(path: &Path) -> Result<Self, StateDirError> {
        let root = std::path::absolute(path).map_err(io_err(path))?;
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        private::restrict_dir(&root).map_err(io_err(&root))?;
        Ok(Self { root })
    }

    /// Opens the folder without creating it (for reading what `login` saved).
    pub fn existing(path: &Path) -> Self {
        let root = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        Self { root }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The embedded store's database file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("data.db")
    }

    /// Where `<function>.log` files go.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Where `miniapp login` keeps its answer.
    pub fn credentials_path(&self) -> PathBuf {
        self.root.join("credentials.json")
    }

    /// Where `miniapp sign` writes the headers that curl reads with `-H @file`.
    pub fn signed_headers_path(&self) -> PathBuf {
        self.root.join("signed-headers")
    }

    /// `MINIAPP_TOKEN_KEYS` for development: read, or made on first run.
    pub fn token_keys(&self) -> Result<String, StateDirError> {
        let path = self.root.join("token-keys");
        if let Ok(text) = fs::read_to_string(&path) {
            if !text.trim().is_empty() {
                return Ok(text.trim().to_owned());
            }
        }
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key)
            .map_err(|_| StateDirError::Generate("no random bytes".to_owned()))?;
        let value = format!("{DEV_TOKEN_KID}:{}", STANDARD.encode(key));
        write_private(&path, value.as_bytes())?;
        Ok(value)
    }

    /// The development RSA keys: read, or made on first run (two RSA-2048 pairs).
    pub fn dev_keys(&self) -> Result<DevKeys, StateDirError> {
        let path = self.root.join("dev-keys.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(corrupt(&path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = generate_dev_keys()?;
                let text = serde_json::to_vec_pretty(&keys).map_err(corrupt(&path))?;
                write_private(&path, &text)?;
                Ok(keys)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

fn generate_dev_keys() -> Result<DevKeys, StateDirError> {
    let generate = || {
        miniapp_shared::alipay::keys::generate_rsa2048_keypair()
            .map_err(|e| StateDirError::Generate(e.to_string()))
    };
    let (app_private_key, app_public_key) = generate()?;
    let (gateway_private_key, gateway_public_key) = generate()?;
    Ok(DevKeys {
        app_id: DEV_APP_ID.to_owned(),
        app_private_key,
        app_public_key,
        gateway_private_key,
        gateway_public_key,
    })
}

/// Writes a file only its owner can read, atomically (temporary file, then rename).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), StateDirError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = private::create_file(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Owner-only files and folders: Unix modes 0600 and 0700. Elsewhere there is no equivalent
/// this tool can set simply, so secrets are refused rather than written readable by others.
mod private {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    /// Creates a new file (failing if it exists) that only its owner can read and write.
    #[cfg(unix)]
    pub(super) fn create_file(path: &Path) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    }

    /// Makes a folder accessible to its owner only.
    #[cfg(unix)]
    pub(super) fn restrict_dir(path: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
    }

    #[cfg(not(unix))]
    pub(super) fn create_file(_path: &Path) -> io::Result<File> {
        Err(unsupported())
    }

    #[cfg(not(unix))]
    pub(super) fn restrict_dir(_path: &Path) -> io::Result<()> {
        Err(unsupported())
    }

    #[cfg(not(unix))]
    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "owner-only files (mode 0600) need a Unix-like OS",
        )
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_are_made_once_and_kept_private() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let state = StateDir::open(&dir.path().join(".miniapp"))?;
        let first = state.token_keys()?;
        assert!(first.starts_with("dev1:"));
        assert_eq!(state.token_keys()?, first);
        let keys = state.dev_keys()?;
        assert_eq!(state.dev_keys()?.app_public_key, keys.app_public_key);
        for name in ["token-keys", "dev-keys.json"] {
            let mode = fs::metadata(state.root().join(name))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let mode = fs::metadata(state.root())?.permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        Ok(())
    }
}
