//! Where the checkpoint document lives between runs: one interface, three stores.
//!
//! - `variable:NAME`: a repository Actions variable (the default inside GitHub Actions);
//! - `file:PATH`: a JSON file written atomically and guarded by a lock (the default outside);
//! - `none`: nothing kept; every run scans a fixed look-back (`--since`).
//!
//! Every store holds the same [`CheckpointDocument`].
//!
//! The state file is trusted no more than GitHub's answers: only a regular file is read or
//! replaced, never through a symbolic link (a link would be replaced by a regular file on
//! the first save and its target left stale, so it is refused with the target to use
//! instead), never past [`MAX_STATE_FILE_BYTES`], and the lock file is opened without
//! following links either.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::settings::{StoreSpec, lock_path_of};
use crate::domain::checkpoint::CheckpointDocument;
use crate::github::Repo;
use crate::github::client::{Credential, GitHubClient};
use crate::github::variables::RepositoryVariables;

/// Another run holds the state file's lock: this run must not redeliver too.
#[derive(Debug)]
pub struct StoreBusy(pub PathBuf);

impl fmt::Display for StoreBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another run holds the lock `{}`; this run did nothing",
            self.0.display()
        )
    }
}

impl std::error::Error for StoreBusy {}

/// An open store. The file store holds its lock until it is dropped.
pub enum CheckpointStore {
    Variable(VariableStore),
    File(FileStore),
    None,
}

pub struct VariableStore {
    repository: Repo,
    name: String,
    /// Known after `load`: whether to PATCH (it exists) or POST (it does not).
    exists: bool,
}

pub struct FileStore {
    path: PathBuf,
    _lock: File,
}

impl CheckpointStore {
    /// Opens the store; for a file, takes its lock or fails with [`StoreBusy`].
    pub fn open(spec: &StoreSpec) -> anyhow::Result<Self> {
        Ok(match spec {
            StoreSpec::Variable { repository, name } => CheckpointStore::Variable(VariableStore {
                repository: repository.clone(),
                name: name.clone(),
                exists: false,
            }),
            StoreSpec::File(path) => CheckpointStore::File(FileStore::open(path)?),
            StoreSpec::None => CheckpointStore::None,
        })
    }

    /// Reads the document; `credential` is the one that may read and write the variable.
    pub async fn load(
        &mut self,
        client: &GitHubClient,
        credential: Credential,
    ) -> anyhow::Result<CheckpointDocument> {
        match self {
            CheckpointStore::Variable(store) => store.load(client, credential).await,
            CheckpointStore::File(store) => store.load(),
            CheckpointStore::None => Ok(CheckpointDocument::default()),
        }
    }

    pub async fn save(
        &mut self,
        client: &GitHubClient,
        credential: Credential,
        json: &str,
    ) -> anyhow::Result<()> {
        match self {
            CheckpointStore::Variable(store) => store.save(client, credential, json).await,
            CheckpointStore::File(store) => store.save(json),
            CheckpointStore::None => Ok(()),
        }
    }
}

impl VariableStore {
    fn variables<'a>(
        &'a self,
        client: &'a GitHubClient,
        credential: Credential,
    ) -> RepositoryVariables<'a> {
        RepositoryVariables {
            client,
            repository: &self.repository,
            credential,
        }
    }

    async fn load(
        &mut self,
        client: &GitHubClient,
        credential: Credential,
    ) -> anyhow::Result<CheckpointDocument> {
        match self.variables(client, credential).get(&self.name).await? {
            Some(value) => {
                self.exists = true;
                CheckpointDocument::parse(&value).with_context(|| {
                    format!(
                        "failed to read the checkpoint variable `{}` of {}",
                        self.name, self.repository
                    )
                })
            }
            None => {
                self.exists = false;
                Ok(CheckpointDocument::default())
            }
        }
    }

    /// Creates the variable on the first save (or updates it when another run created it
    /// meanwhile), and updates it after.
    async fn save(
        &mut self,
        client: &GitHubClient,
        credential: Credential,
        json: &str,
    ) -> anyhow::Result<()> {
        let variables = self.variables(client, credential);
        if !self.exists && variables.create(&self.name, json).await? {
            self.exists = true;
            return Ok(());
        }
        variables.update(&self.name, json).await?;
        self.exists = true;
        Ok(())
    }
}

/// The most a state file may hold. A checkpoint document is at most 48 KB (what a variable
/// holds); a bigger file is not one, and reading a huge one (or `/dev/zero`) would only
/// exhaust memory.
pub const MAX_STATE_FILE_BYTES: u64 = 1024 * 1024;

/// Opens `path` without following a symbolic link at its end, and without blocking on a
/// FIFO (whose open would otherwise wait for a writer forever).
fn open_no_follow(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Whether an open failed because the path is a symbolic link (`O_NOFOLLOW`'s `ELOOP`).
fn is_link_error(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        error.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

impl FileStore {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let lock_path = lock_path_of(path);
        let lock = open_no_follow(
            OpenOptions::new().create(true).truncate(false).write(true),
            &lock_path,
        )
        .map_err(|error| {
            if is_link_error(&error) {
                anyhow::anyhow!(
                    "the lock file `{}` is a symbolic link, which is never followed: remove it",
                    lock_path.display()
                )
            } else {
                anyhow::Error::new(error).context(format!(
                    "failed to open the lock file `{}`",
                    lock_path.display()
                ))
            }
        })?;
        let regular = lock.metadata().map(|m| m.is_file()).with_context(|| {
            format!("failed to inspect the lock file `{}`", lock_path.display())
        })?;
        if !regular {
            anyhow::bail!(
                "failed to lock `{}`: it is not a regular file; remove it",
                lock_path.display()
            );
        }
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreBusy(lock_path).into()),
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| {
                    format!("failed to lock the lock file `{}`", lock_path.display())
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    fn load(&self) -> anyhow::Result<CheckpointDocument> {
        let context = || format!("failed to read the state file `{}`", self.path.display());
        let text = match self.read_bounded() {
            Ok(Some(text)) => text,
            Ok(None) => String::new(),
            Err(error) => return Err(error).with_context(context),
        };
        CheckpointDocument::parse(&text).with_context(context)
    }

    /// The file's text; `None` when it does not exist yet. Refuses links and anything but a
    /// regular file, and stops reading past [`MAX_STATE_FILE_BYTES`].
    fn read_bounded(&self) -> anyhow::Result<Option<String>> {
        let file = match open_no_follow(OpenOptions::new().read(true), &self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) if is_link_error(&error) => {
                anyhow::bail!(
                    "it is a symbolic link, which is never followed; name the file itself"
                )
            }
            Err(error) => return Err(error.into()),
        };
        if !file.metadata()?.is_file() {
            anyhow::bail!(
                "it is not a regular file (a FIFO, socket or device); name a regular file"
            );
        }
        let mut bytes = Vec::new();
        file.take(MAX_STATE_FILE_BYTES + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_STATE_FILE_BYTES {
            anyhow::bail!(
                "it is larger than {} KiB, which no checkpoint document is; fix or delete it",
                MAX_STATE_FILE_BYTES / 1024
            );
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("it is not UTF-8 text; fix or delete it"))?;
        Ok(Some(text))
    }

    /// Writes a temporary file beside the state file, syncs it and renames it over, so a
    /// crash leaves either the old or the new document, never half of one.
    fn save(&self, json: &str) -> anyhow::Result<()> {
        let context = || format!("failed to write the state file `{}`", self.path.display());
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut temporary = tempfile::NamedTempFile::new_in(&directory).with_context(context)?;
        temporary.write_all(json.as_bytes()).with_context(context)?;
        temporary.write_all(b"\n").with_context(context)?;
        temporary.as_file().sync_all().with_context(context)?;
        temporary
            .persist(&self.path)
            .map_err(|error| error.error)
            .with_context(context)?;
        if let Ok(directory) = File::open(&directory) {
            // Makes the rename itself durable; not every filesystem supports it.
            let _ = directory.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_file_is_busy() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("state.json");
        let first = CheckpointStore::open(&StoreSpec::File(path.clone())).expect("opens");
        let second = CheckpointStore::open(&StoreSpec::File(path.clone()));
        let error = second.err().expect("busy");
        assert!(error.downcast_ref::<StoreBusy>().is_some(), "{error:#}");
        drop(first);
        assert!(CheckpointStore::open(&StoreSpec::File(path)).is_ok());
    }

    #[test]
    fn saves_atomically_and_reads_back() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("state.json");
        let store = FileStore::open(&path).expect("opens");
        assert_eq!(store.load().expect("loads"), CheckpointDocument::default());
        store.save(r#"{"version":1,"hooks":{}}"#).expect("saves");
        assert_eq!(store.load().expect("loads"), CheckpointDocument::default());
        let leftovers: Vec<_> = std::fs::read_dir(folder.path())
            .expect("lists")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_reset() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("state.json");
        std::fs::write(&path, "{ half a docu").expect("writes");
        let store = FileStore::open(&path).expect("opens");
        let error = store.load().expect_err("corrupt");
        let text = format!("{error:#}");
        assert!(
            text.contains("state.json") && text.contains("fix or delete it"),
            "{text}"
        );
    }
}
