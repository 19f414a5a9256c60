//! The Hub client: hf-hub's sync API (resumable downloads into the standard Hugging Face cache), with every
//! file checked against the checksum the Hub announces and every failure turned into a [`HubError`].

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{Api, ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use sha1::Digest;

use super::error::{HubError, HubResult};
use super::spec::RepoRef;

/// Where and how to reach the Hub. [`HubOptions::from_env`] reads the Hugging Face variables.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The Hub's base URL: `HF_ENDPOINT`, else `https://huggingface.co`.
    pub endpoint: String,
    /// The access token for gated and private repositories: `HF_TOKEN`, else the file `$HF_HOME/token`.
    pub token: Option<String>,
    /// The download cache (the Hugging Face layout, shared with `huggingface_hub`): `HF_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
    pub cache_dir: PathBuf,
    /// Draw a progress bar per file on standard error.
    pub progress: bool,
    /// How many times an interrupted download is resumed (from where it stopped) before giving up.
    pub retries: usize,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl HubOptions {
    /// The options the Hugging Face tools would use in this environment.
    pub fn from_env() -> HubOptions {
        let hf_home = env("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let cache = env("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| env("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".cache"));
            cache.join("huggingface")
        });
        let token = env("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(hf_home.join("token")).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
        });
        HubOptions {
            endpoint: env("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .into(),
            token,
            cache_dir: env("HF_HUB_CACHE").map(PathBuf::from).unwrap_or_else(|| hf_home.join("hub")),
            progress: true,
            retries: 5,
        }
    }
}

/// A repository resolved to one commit, with the files it holds.
#[derive(Debug, Clone)]
pub struct ResolvedRepo {
    /// The repository and the revision asked for.
    pub asked: RepoRef,
    /// The commit the revision pointed at.
    pub commit: String,
    /// Every file path in the repository at that commit.
    pub files: Vec<String>,
}

impl ResolvedRepo {
    /// True when the repository holds `file`.
    pub fn has(&self, file: &str) -> bool {
        self.files.iter().any(|f| f == file)
    }
}

/// A file fetched into the cache and checked.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The repository.
    pub repo: String,
    /// The commit it came from.
    pub commit: String,
    /// Its path inside the repository.
    pub file: String,
    /// Where it lies in the cache (the blob the snapshot entry points to).
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// The Hub's ETag: the SHA-256 of an LFS file, the git blob SHA-1 of a small one.
    pub etag: String,
}

/// The client.
pub(crate) struct HubClient {
    api: Api,
    options: HubOptions,
}

impl HubClient {
    pub(crate) fn new(options: &HubOptions) -> HubResult<HubClient> {
        let api = ApiBuilder::from_cache(Cache::new(options.cache_dir.clone()))
            .with_endpoint(options.endpoint.clone())
            .with_token(options.token.clone())
            .with_progress(options.progress)
            .with_retries(options.retries)
            .with_user_agent("splaredb", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| HubError::Unreachable { url: options.endpoint.clone(), detail: e.to_string() })?;
        Ok(HubClient { api, options: options.clone() })
    }

    fn error(&self, e: ApiError, repo: &RepoRef, file: Option<&str>, url: String) -> HubError {
        match e {
            ApiError::RequestError(e) => match *e {
                ureq::Error::StatusCode(status @ (401 | 403)) => {
                    HubError::Denied { repo: repo.repo.clone(), status, token_sent: self.options.token.is_some() }
                }
                ureq::Error::StatusCode(404) => match file {
                    Some(f) => HubError::MissingFile {
                        repo: repo.repo.clone(),
                        revision: repo.revision.clone(),
                        file: f.to_string(),
                        why: "the Hub answered 404".into(),
                    },
                    None => HubError::RepoNotFound { repo: repo.repo.clone(), revision: repo.revision.clone() },
                },
                ureq::Error::StatusCode(status) => HubError::Http { url, status },
                ureq::Error::Json(e) => HubError::Protocol { url, detail: e.to_string() },
                other => HubError::Unreachable { url, detail: other.to_string() },
            },
            ApiError::TooManyRetries(e) => HubError::Unreachable {
                url,
                detail: format!(
                    "the download stopped {} times, last: {e}; run the pull again to resume it",
                    self.options.retries + 1
                ),
            },
            // The body of a download is copied to the cache with std::io::copy, so a connection lost mid-file
            // comes back as an I/O error too: only file-system kinds are the cache's.
            ApiError::IoError(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::AlreadyExists
                        | std::io::ErrorKind::StorageFull
                        | std::io::ErrorKind::ReadOnlyFilesystem
                        | std::io::ErrorKind::QuotaExceeded
                        | std::io::ErrorKind::NotADirectory
                        | std::io::ErrorKind::IsADirectory
                ) =>
            {
                HubError::io(&self.options.cache_dir, e)
            }
            ApiError::IoError(e) => HubError::Unreachable {
                url,
                detail: format!("the download was interrupted ({e}); run the pull again to resume it"),
            },
            ApiError::LockAcquisition(p) => HubError::io(
                p,
                std::io::Error::new(std::io::ErrorKind::WouldBlock, "another process is downloading this file"),
            ),
            other => HubError::Protocol { url, detail: other.to_string() },
        }
    }

    /// Resolves `repo`'s revision to a commit and lists its files.
    pub(crate) fn resolve(&self, repo: &RepoRef) -> HubResult<ResolvedRepo> {
        let api = self.api.repo(Repo::with_revision(repo.repo.clone(), RepoType::Model, repo.revision.clone()));
        let url = format!("{}/api/models/{}/revision/{}", self.options.endpoint, repo.repo, repo.revision);
        let info = api.info().map_err(|e| self.error(e, repo, None, url.clone()))?;
        if info.sha.len() != 40 || !info.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HubError::Protocol { url, detail: format!("{:?} is not a commit hash", info.sha) });
        }
        Ok(ResolvedRepo {
            asked: repo.clone(),
            commit: info.sha,
            files: info.siblings.into_iter().map(|s| s.rfilename).collect(),
        })
    }

    /// Fetches `file` of the resolved repository at its commit (from the cache when it is there), and checks
    /// it against its ETag. A file that fails the check is removed from the cache.
    pub(crate) fn fetch(&self, repo: &ResolvedRepo, file: &str, why: &str) -> HubResult<Fetched> {
        if !repo.has(file) {
            return Err(HubError::MissingFile {
                repo: repo.asked.repo.clone(),
                revision: repo.commit.clone(),
                file: file.to_string(),
                why: why.to_string(),
            });
        }
        let pinned = RepoRef { repo: repo.asked.repo.clone(), revision: repo.commit.clone() };
        let api = self.api.repo(Repo::with_revision(pinned.repo.clone(), RepoType::Model, pinned.revision.clone()));
        let url = api.url(file);
        let pointer = api.get(file).map_err(|e| self.error(e, &pinned, Some(file), url.clone()))?;
        // The snapshot entry is a link to blobs/<etag>.
        let blob = std::fs::canonicalize(&pointer).map_err(|e| HubError::io(&pointer, e))?;
        let etag = blob.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let size = std::fs::metadata(&blob).map_err(|e| HubError::io(&blob, e))?.len();
        if let Err(e) = verify(&blob, &etag, &pinned.repo, file) {
            let _ = std::fs::remove_file(&blob);
            let _ = std::fs::remove_file(&pointer);
            return Err(e);
        }
        Ok(Fetched { repo: pinned.repo, commit: pinned.revision, file: file.to_string(), path: blob, size, etag })
    }
}

/// Checks a downloaded file against its ETag: 64 hex digits are an LFS file's SHA-256, 40 a small file's git
/// blob SHA-1 (`sha1("blob <len>\0" + bytes)`). Another ETag (a mirror's own) cannot be checked and is accepted.
pub(crate) fn verify(path: &Path, etag: &str, repo: &str, file: &str) -> HubResult<()> {
    let etag = etag.trim_matches('"').trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    if !etag.bytes().all(|b| b.is_ascii_hexdigit()) || !(etag.len() == 64 || etag.len() == 40) {
        return Ok(());
    }
    let (kind, got) = if etag.len() == 64 {
        ("sha256", crate::encoder::import::sha256_file(path)?)
    } else {
        ("git-sha1", git_blob_sha1(path)?)
    };
    if got != etag {
        return Err(HubError::Checksum { repo: repo.to_string(), file: file.to_string(), kind, expected: etag, got });
    }
    Ok(())
}

/// Hex git blob SHA-1 of a file: `sha1("blob <len>\0" + bytes)`.
fn git_blob_sha1(path: &Path) -> HubResult<String> {
    let mut f = std::fs::File::open(path).map_err(|e| HubError::io(path, e))?;
    let len = f.metadata().map_err(|e| HubError::io(path, e))?.len();
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {len}\0").as_bytes());
    std::io::copy(&mut f, &mut h).map_err(|e| HubError::io(path, e))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_check_sha256_and_git_blob_sha1() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").unwrap();
        // `printf 'hello\n' | sha256sum` and `printf 'hello\n' | git hash-object --stdin`.
        verify(&p, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "r", "f").unwrap();
        verify(&p, "\"ce013625030ba8dba906f756967f9e9ca394464a\"", "r", "f").unwrap();
        let bad = verify(&p, &"0".repeat(64), "r", "f").unwrap_err();
        assert!(matches!(bad, HubError::Checksum { kind: "sha256", .. }), "{bad}");
        assert!(matches!(verify(&p, &"1".repeat(40), "r", "f"), Err(HubError::Checksum { kind: "git-sha1", .. })));
        verify(&p, "mirror-etag-7", "r", "f").unwrap();
    }
}
