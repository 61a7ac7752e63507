//! `PageStore`: one bare git repository per wiki, the source of truth for every page.
//!
//! Every change is one commit. Writes to a repository are serialized by a lock, and the branch
//! is moved with a compare-and-swap ref update, so even two processes sharing a data directory
//! can never lose a commit: the loser re-reads HEAD, re-checks its preconditions and retries.

pub mod path;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::refs::transaction::{PreviousValue, RefEdit};
use gix::refs::{FullName, Target};

pub use path::{AttachmentName, PagePath, PathError};

/// How often a commit is retried when another writer moved the branch underneath it.
const CAS_RETRIES: usize = 8;
/// The object cache of the writing handle: the root tree and the folders of the pages being
/// edited, a few KiB each, fit many times over.
const WRITER_CACHE_BYTES: usize = 1 << 20;
/// Renames whose content changed are paired when at least this share of lines survived (git's -M50%).
const RENAME_SIMILARITY: f32 = 0.5;
/// Fuzzy rename pairing is skipped for commits adding or deleting more Markdown files than this.
const FUZZY_RENAME_LIMIT: usize = 64;

/// Errors of the git layer; `Conflict` is the one callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A precondition failed: the file is no longer what the writer based its change on.
    #[error("'{file}' changed since the base revision")]
    Conflict {
        file: String,
        current: Option<ObjectId>,
    },
    /// The change would produce the same tree as HEAD.
    #[error("nothing to commit: the change is identical to the current version")]
    NothingToCommit,
    /// A revision or object that is not in this repository.
    #[error("{0} not found")]
    NotFound(String),
    #[error("the repository's HEAD is detached; Holt needs HEAD to name a branch")]
    DetachedHead,
    #[error("another writer kept moving the branch; gave up after {CAS_RETRIES} attempts")]
    Contended,
    #[error("git: {0}")]
    Git(#[from] gix::Error),
    #[error("git: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who a commit is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// One file change inside a commit.
#[derive(Debug, Clone)]
pub enum Edit {
    Put { file: String, content: Vec<u8> },
    Remove { file: String },
}

/// A precondition: the blob `file` must have at HEAD for the commit to go ahead (`None`: absent).
#[derive(Debug, Clone)]
pub struct Expect {
    pub file: String,
    pub blob: Option<ObjectId>,
}

/// Everything needed to make one commit.
#[derive(Debug, Clone)]
pub struct CommitSpec {
    pub author: Author,
    pub message: String,
    pub edits: Vec<Edit>,
    pub expect: Vec<Expect>,
}

/// A commit as the index and the history views need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMeta {
    pub id: ObjectId,
    pub parents: Vec<ObjectId>,
    pub author_name: String,
    pub author_email: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    pub message: String,
}

/// A commit just made, with the files it changed: what the index needs, without reading back
/// what was just written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub meta: CommitMeta,
    /// Exactly what `PageStore::changes` says of the commit, sorted by path.
    pub changes: Vec<FileChange>,
}

/// How one file changed between a commit and its first parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Renamed { from: String },
}

/// One changed file of a commit; `blob` is `None` for deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
    pub blob: Option<ObjectId>,
    pub old_blob: Option<ObjectId>,
}

/// An entry of a folder at some revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub blob: ObjectId,
    pub size: u64,
    pub is_dir: bool,
}

/// The git repository of one wiki.
pub struct PageStore {
    repo: gix::ThreadSafeRepository,
    git_dir: PathBuf,
    /// Serializes writes, through one handle whose object cache keeps the trees recent writes
    /// read: a save reads almost nothing from disk before it writes.
    writer: Mutex<gix::Repository>,
}

impl PageStore {
    /// Opens the bare repository at `git_dir`, creating it (branch `main`) if it does not exist.
    pub fn open_or_init(git_dir: &Path) -> Result<Self> {
        let repo = if git_dir.join("HEAD").exists() {
            gix::open(git_dir)?
        } else {
            std::fs::create_dir_all(git_dir)?;
            let repo = gix::init_bare(git_dir)?;
            // gix writes HEAD -> refs/heads/main unless init.defaultBranch says otherwise; pin it.
            std::fs::write(git_dir.join("HEAD"), "ref: refs/heads/main\n")?;
            repo
        };
        let repo = repo.into_sync();
        let mut writer = repo.to_thread_local();
        writer.object_cache_size(WRITER_CACHE_BYTES);
        Ok(PageStore {
            repo,
            git_dir: git_dir.to_path_buf(),
            writer: Mutex::new(writer),
        })
    }

    /// The repository's git directory (what `git clone` and `git fsck` are pointed at).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    fn repo(&self) -> gix::Repository {
        let mut repo = self.repo.to_thread_local();
        repo.object_cache_size_if_unset(4 << 20);
        repo
    }

    /// The commit HEAD points to, or `None` for a wiki without any commit.
    pub fn head(&self) -> Result<Option<ObjectId>> {
        head_of(&self.repo())
    }

    /// Applies `spec` as one commit on the current branch, or fails without writing anything.
    pub fn commit(&self, spec: &CommitSpec) -> Result<Committed> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let repo: &gix::Repository = &writer;
        let branch = branch_of(repo)?;
        for _ in 0..CAS_RETRIES {
            let head = head_of(repo)?;
            let base_tree = match head {
                Some(id) => repo.find_commit(id)?.tree_id()?.detach(),
                None => ObjectId::empty_tree(repo.object_hash()),
            };
            for expect in &spec.expect {
                let current = blob_in_tree(repo, base_tree, &expect.file)?;
                if current != expect.blob {
                    return Err(StoreError::Conflict {
                        file: expect.file.clone(),
                        current,
                    });
                }
            }
            let mut editor = repo.edit_tree(base_tree)?;
            let mut written = Vec::with_capacity(spec.edits.len());
            for edit in &spec.edits {
                match edit {
                    Edit::Put { file, content } => {
                        let blob = repo.write_blob(content)?.detach();
                        editor.upsert(file.as_str(), EntryKind::Blob, blob)?;
                        written.push((file.as_str(), Some(blob)));
                    }
                    Edit::Remove { file } => {
                        editor.remove(file.as_str())?;
                        written.push((file.as_str(), None));
                    }
                }
            }
            let tree = editor.write()?.detach();
            if tree == base_tree {
                return Err(StoreError::NothingToCommit);
            }
            let changes = self.changes_of_edits(repo, base_tree, &written)?;
            let signature = signature(&spec.author);
            let message = normalized_message(&spec.message);
            let commit = gix::objs::Commit {
                message: message.as_str().into(),
                tree,
                author: signature.clone(),
                committer: signature.clone(),
                encoding: None,
                parents: head.into_iter().collect(),
                extra_headers: Vec::new(),
            };
            let id = repo.write_object(&commit)?.detach();
            // Objects reach the disk before any ref points at them.
            self.flush(|| self.sync_new_objects(repo, base_tree, tree, id))?;
            let expected = match head {
                Some(old) => PreviousValue::MustExistAndMatch(Target::Object(old)),
                None => PreviousValue::MustNotExist,
            };
            let edit = RefEdit::update(
                branch.clone(),
                id,
                expected,
                format!("commit: {}", spec.message),
            );
            match repo
                .edit_references_as(Some(edit), Some(signature.to_ref(&mut Default::default())))
            {
                Ok(_) => {
                    let moved = self.git_dir.join(branch.as_bstr().to_str_lossy().as_ref());
                    self.flush(|| sync_file_and_dir(&moved))?;
                    // As `commit_meta` would read it back.
                    let meta = CommitMeta {
                        id,
                        parents: head.into_iter().collect(),
                        author_name: signature_text(&spec.author.name),
                        author_email: signature_text(&spec.author.email),
                        time: signature.time.seconds,
                        message: message.trim_end().to_string(),
                    };
                    let changes = match changes {
                        Some(changes) => changes,
                        None => self.changes(&meta)?,
                    };
                    return Ok(Committed { meta, changes });
                }
                // Someone else moved the branch: re-read HEAD and re-check the preconditions.
                Err(_) if head_of(repo)? != head => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::Contended)
    }

    /// Makes what a commit wrote so far durable before it goes on. On Linux one `syncfs(2)` of
    /// the repository's filesystem flushes the new objects, their fan-out folders and the moved
    /// ref in one journal commit: about a sixth of the time of an fsync of each (0.3 against 2 ms
    /// measured here, for a page three folders deep). It also flushes whatever else is waiting to
    /// be written on that filesystem, which on a wiki host is little. Elsewhere `each_file`
    /// fsyncs the files one by one.
    fn flush(&self, each_file: impl FnOnce() -> Result<()>) -> Result<()> {
        #[cfg(target_os = "linux")]
        {
            let _ = each_file;
            use std::os::fd::AsRawFd;
            let dir = std::fs::File::open(&self.git_dir)?;
            // SAFETY: syncfs only reads the descriptor, which `dir` keeps open for the call.
            if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        each_file()
    }

    /// Flushes the loose objects a commit created (its new trees and blobs, the commit) to disk,
    /// so an acknowledged write survives a power loss. Objects already in packs need nothing.
    fn sync_new_objects(
        &self,
        repo: &gix::Repository,
        old_tree: ObjectId,
        new_tree: ObjectId,
        commit: ObjectId,
    ) -> Result<()> {
        let old = repo.find_tree(old_tree)?;
        let new = repo.find_tree(new_tree)?;
        let mut recorder = gix::diff::tree::Recorder::default().track_location(None);
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old.data, repo.object_hash()),
            gix::objs::TreeRefIter::from_bytes(&new.data, repo.object_hash()),
            &mut gix::diff::tree::State::default(),
            &repo.objects,
            &mut recorder,
        )
        .map_err(|e| StoreError::Git(gix::Error::from_error(e)))?;
        let mut ids = vec![commit, new_tree];
        for change in recorder.records {
            use gix::diff::tree::recorder::Change;
            match change {
                Change::Addition { oid, .. } | Change::Modification { oid, .. } => ids.push(oid),
                Change::Deletion { .. } => {}
            }
        }
        let objects = self.git_dir.join("objects");
        let mut dirs = HashSet::new();
        for id in ids {
            let hex = id.to_string();
            let dir = objects.join(&hex[..2]);
            let file = dir.join(&hex[2..]);
            if file.exists() {
                std::fs::File::open(&file)?.sync_all()?;
                dirs.insert(dir);
            }
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// The blob of `file` at `commit`, if the file exists there.
    pub fn blob_at(&self, commit: ObjectId, file: &str) -> Result<Option<ObjectId>> {
        let repo = self.repo();
        let tree = commit_tree(&repo, commit)?;
        blob_in_tree(&repo, tree, file)
    }

    /// The bytes of a blob.
    pub fn read_blob(&self, id: ObjectId) -> Result<Vec<u8>> {
        let repo = self.repo();
        let blob = repo
            .try_find_object(id)?
            .ok_or_else(|| StoreError::NotFound(format!("object {id}")))?;
        Ok(blob.detach().data)
    }

    /// The size of a blob, from its header (the content is not read).
    pub fn blob_size(&self, id: ObjectId) -> Result<u64> {
        Ok(self.repo().find_header(id)?.size())
    }

    /// The content of `file` at `commit`, if it exists there.
    pub fn read_at(&self, commit: ObjectId, file: &str) -> Result<Option<(ObjectId, Vec<u8>)>> {
        match self.blob_at(commit, file)? {
            Some(blob) => Ok(Some((blob, self.read_blob(blob)?))),
            None => Ok(None),
        }
    }

    /// The entries of folder `dir` at `commit` (empty if the folder does not exist).
    pub fn list_dir(&self, commit: ObjectId, dir: &str) -> Result<Vec<DirEntry>> {
        let repo = self.repo();
        let root = commit_tree(&repo, commit)?;
        let tree = repo.find_tree(root)?;
        let Some(entry) = tree.lookup_entry_by_path(dir)? else {
            return Ok(Vec::new());
        };
        if !entry.mode().is_tree() {
            return Ok(Vec::new());
        }
        let dir_tree = repo.find_tree(entry.object_id())?;
        let mut out = Vec::new();
        for entry in dir_tree.iter() {
            let entry = entry?;
            let is_dir = entry.mode().is_tree();
            let size = if is_dir {
                0
            } else {
                repo.find_header(entry.oid())?.size()
            };
            out.push(DirEntry {
                name: entry.filename().to_str_lossy().into_owned(),
                blob: entry.oid().to_owned(),
                size,
                is_dir,
            });
        }
        Ok(out)
    }

    /// Every file (path and blob) in the tree of `commit`.
    pub fn all_files(&self, commit: ObjectId) -> Result<Vec<(String, ObjectId)>> {
        let repo = self.repo();
        let root = commit_tree(&repo, commit)?;
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(String::new(), root)]);
        while let Some((prefix, tree_id)) = queue.pop_front() {
            let tree = repo.find_tree(tree_id)?;
            for entry in tree.iter() {
                let entry = entry?;
                let name = entry.filename().to_str_lossy();
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if entry.mode().is_tree() {
                    queue.push_back((path, entry.oid().to_owned()));
                } else if entry.mode().is_blob() {
                    out.push((path, entry.oid().to_owned()));
                }
            }
        }
        Ok(out)
    }

    /// The metadata of one commit.
    pub fn commit_meta(&self, id: ObjectId) -> Result<CommitMeta> {
        commit_meta(&self.repo(), id)
    }

    /// A full 40-hex commit id for `hex`, if it names a commit in this repository.
    pub fn resolve_commit(&self, hex: &str) -> Result<Option<ObjectId>> {
        let Ok(id) = ObjectId::from_hex(hex.as_bytes()) else {
            return Ok(None);
        };
        let repo = self.repo();
        Ok(match repo.try_find_header(id)? {
            Some(header) if header.kind() == gix::objs::Kind::Commit => Some(id),
            _ => None,
        })
    }

    /// The commits reachable from `to` but not from `from`, parents before children.
    pub fn commits_between(&self, from: Option<ObjectId>, to: ObjectId) -> Result<Vec<CommitMeta>> {
        let repo = self.repo();
        let mut walk = repo.rev_walk([to]);
        if let Some(from) = from {
            walk = walk.with_hidden([from]);
        }
        let mut metas = Vec::new();
        for info in walk.all()? {
            metas.push(commit_meta(&repo, info?.id)?);
        }
        Ok(topological(metas))
    }

    /// The files `commit` changed relative to its first parent, with renames paired up.
    pub fn changes(&self, commit: &CommitMeta) -> Result<Vec<FileChange>> {
        let repo = self.repo();
        let new_tree = repo.find_commit(commit.id)?.tree()?;
        let old_tree = match commit.parents.first() {
            Some(parent) => repo.find_commit(*parent)?.tree()?,
            None => repo.empty_tree(),
        };
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old_tree.data, repo.object_hash()),
            gix::objs::TreeRefIter::from_bytes(&new_tree.data, repo.object_hash()),
            &mut gix::diff::tree::State::default(),
            &repo.objects,
            &mut recorder,
        )
        .map_err(|e| StoreError::Git(gix::Error::from_error(e)))?;
        let mut added = Vec::new();
        let mut deleted = Vec::new();
        let mut out = Vec::new();
        for change in recorder.records {
            use gix::diff::tree::recorder::Change;
            match change {
                Change::Addition {
                    entry_mode,
                    oid,
                    path,
                    ..
                } if entry_mode.is_blob() => {
                    added.push((path.to_str_lossy().into_owned(), oid));
                }
                Change::Deletion {
                    entry_mode,
                    oid,
                    path,
                    ..
                } if entry_mode.is_blob() => {
                    deleted.push((path.to_str_lossy().into_owned(), oid));
                }
                Change::Modification {
                    entry_mode,
                    previous_entry_mode,
                    oid,
                    previous_oid,
                    path,
                } if entry_mode.is_blob() => {
                    let path = path.to_str_lossy().into_owned();
                    if previous_entry_mode.is_blob() {
                        out.push(FileChange {
                            path,
                            kind: ChangeKind::Modified,
                            blob: Some(oid),
                            old_blob: Some(previous_oid),
                        });
                    } else {
                        added.push((path, oid));
                    }
                }
                Change::Modification {
                    previous_entry_mode,
                    previous_oid,
                    path,
                    ..
                } if previous_entry_mode.is_blob() => {
                    deleted.push((path.to_str_lossy().into_owned(), previous_oid));
                }
                _ => {}
            }
        }
        out.extend(self.pair_renames(added, deleted)?);
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The changes a commit's edits made to `base_tree`, worked out from the edits (a lookup per
    /// edited path instead of a diff of the whole trees), or `None` where only a diff tells
    /// exactly: a path edited twice, or an edit that replaces a folder or a file with the other.
    fn changes_of_edits(
        &self,
        repo: &gix::Repository,
        base_tree: ObjectId,
        edits: &[(&str, Option<ObjectId>)],
    ) -> Result<Option<Vec<FileChange>>> {
        let tree = repo.find_tree(base_tree)?;
        let mut seen = HashSet::new();
        let (mut added, mut deleted, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for &(file, new) in edits {
            if !seen.insert(file) {
                return Ok(None);
            }
            // A file where the edit needs a folder (or the other way round) changes more paths.
            for (at, _) in file.match_indices('/') {
                if let Some(entry) = tree.lookup_entry_by_path(&file[..at])?
                    && !entry.mode().is_tree()
                {
                    return Ok(None);
                }
            }
            let old = match tree.lookup_entry_by_path(file)? {
                Some(entry) if entry.mode().is_blob() => Some(entry.object_id()),
                Some(_) => return Ok(None),
                None => None,
            };
            match (old, new) {
                (None, Some(blob)) => added.push((file.to_string(), blob)),
                (Some(old), None) => deleted.push((file.to_string(), old)),
                (Some(old), Some(blob)) if old != blob => out.push(FileChange {
                    path: file.to_string(),
                    kind: ChangeKind::Modified,
                    blob: Some(blob),
                    old_blob: Some(old),
                }),
                _ => {}
            }
        }
        out.extend(self.pair_renames(added, deleted)?);
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Some(out))
    }

    /// Pairs deletions with additions of the same content (or, for pages, mostly the same).
    fn pair_renames(
        &self,
        added: Vec<(String, ObjectId)>,
        deleted: Vec<(String, ObjectId)>,
    ) -> Result<Vec<FileChange>> {
        let mut out = Vec::new();
        let mut by_blob: HashMap<ObjectId, Vec<String>> = HashMap::new();
        for (path, blob) in &deleted {
            by_blob.entry(*blob).or_default().push(path.clone());
        }
        let mut used: HashSet<String> = HashSet::new();
        let mut unpaired_added = Vec::new();
        for (path, blob) in added {
            let source = by_blob.get_mut(&blob).and_then(|sources| {
                // Like git, prefer a source with the same file name among identical ones.
                let at = sources
                    .iter()
                    .position(|s| same_kind(s, &path) && file_name(s) == file_name(&path))
                    .or_else(|| sources.iter().position(|s| same_kind(s, &path)))?;
                Some(sources.remove(at))
            });
            match source {
                Some(from) => {
                    used.insert(from.clone());
                    out.push(FileChange {
                        path,
                        kind: ChangeKind::Renamed { from },
                        blob: Some(blob),
                        old_blob: Some(blob),
                    });
                }
                None => unpaired_added.push((path, blob)),
            }
        }
        let mut unpaired_deleted: Vec<(String, ObjectId)> = deleted
            .into_iter()
            .filter(|(p, _)| !used.contains(p))
            .collect();

        let pages_added = unpaired_added
            .iter()
            .filter(|(p, _)| p.ends_with(".md"))
            .count();
        let pages_deleted = unpaired_deleted
            .iter()
            .filter(|(p, _)| p.ends_with(".md"))
            .count();
        if pages_added > 0
            && pages_deleted > 0
            && pages_added.max(pages_deleted) <= FUZZY_RENAME_LIMIT
        {
            let mut still_added = Vec::new();
            for (path, blob) in unpaired_added {
                let mut best: Option<(usize, f32)> = None;
                if path.ends_with(".md") {
                    let new_text = String::from_utf8_lossy(&self.read_blob(blob)?).into_owned();
                    for (i, (old_path, old_blob)) in unpaired_deleted.iter().enumerate() {
                        if !old_path.ends_with(".md") {
                            continue;
                        }
                        let old_text =
                            String::from_utf8_lossy(&self.read_blob(*old_blob)?).into_owned();
                        let ratio = similar::TextDiff::from_lines(&old_text, &new_text).ratio();
                        if ratio >= RENAME_SIMILARITY && best.is_none_or(|(_, r)| ratio > r) {
                            best = Some((i, ratio));
                        }
                    }
                }
                match best {
                    Some((i, _)) => {
                        let (from, old_blob) = unpaired_deleted.remove(i);
                        out.push(FileChange {
                            path,
                            kind: ChangeKind::Renamed { from },
                            blob: Some(blob),
                            old_blob: Some(old_blob),
                        });
                    }
                    None => still_added.push((path, blob)),
                }
            }
            unpaired_added = still_added;
        }
        for (path, blob) in unpaired_added {
            out.push(FileChange {
                path,
                kind: ChangeKind::Added,
                blob: Some(blob),
                old_blob: None,
            });
        }
        for (path, blob) in unpaired_deleted {
            out.push(FileChange {
                path,
                kind: ChangeKind::Deleted,
                blob: None,
                old_blob: Some(blob),
            });
        }
        Ok(out)
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Pages pair with pages and attachments with attachments, never across.
fn same_kind(a: &str, b: &str) -> bool {
    a.ends_with(".md") == b.ends_with(".md")
}

/// Flushes a file and the directory entry naming it.
fn sync_file_and_dir(file: &Path) -> Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    if let Some(dir) = file.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directories are opened read-only; fsync on the handle persists their entries.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn head_of(repo: &gix::Repository) -> Result<Option<ObjectId>> {
    let mut head = repo.head()?;
    if head.is_unborn() {
        return Ok(None);
    }
    Ok(Some(head.peel_to_commit()?.id))
}

fn branch_of(repo: &gix::Repository) -> Result<FullName> {
    repo.head_name()?.ok_or(StoreError::DetachedHead)
}

fn commit_tree(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId> {
    let commit = repo
        .try_find_object(commit)?
        .ok_or_else(|| StoreError::NotFound(format!("revision {commit}")))?;
    if commit.kind != gix::objs::Kind::Commit {
        return Err(StoreError::NotFound(format!("revision {}", commit.id)));
    }
    Ok(commit.into_commit().tree_id()?.detach())
}

fn blob_in_tree(repo: &gix::Repository, tree: ObjectId, file: &str) -> Result<Option<ObjectId>> {
    let tree = repo.find_tree(tree)?;
    Ok(tree
        .lookup_entry_by_path(file)?
        .filter(|entry| entry.mode().is_blob())
        .map(|entry| entry.object_id()))
}

fn commit_meta(repo: &gix::Repository, id: ObjectId) -> Result<CommitMeta> {
    let commit = repo.find_commit(id)?;
    let decoded = commit.decode()?;
    let author = decoded.author()?;
    let time = author.time().map(|t| t.seconds).unwrap_or(0);
    Ok(CommitMeta {
        id,
        parents: decoded.parents().collect(),
        author_name: author.name.trim().to_str_lossy().into_owned(),
        author_email: author.email.trim().to_str_lossy().into_owned(),
        time,
        message: decoded.message.to_str_lossy().trim_end().to_string(),
    })
}

fn signature(author: &Author) -> gix::actor::Signature {
    gix::actor::Signature {
        name: signature_text(&author.name).into(),
        email: signature_text(&author.email).into(),
        time: gix::date::Time::now_utc(),
    }
}

/// A name or email as a commit header can hold it: without the angle brackets and line breaks
/// that would end the field early, trimmed as git trims it.
fn signature_text(text: &str) -> String {
    text.replace(['<', '>', '\n', '\r', '\0'], "")
        .trim()
        .to_string()
}

/// Commit messages end in exactly one newline and are never empty.
fn normalized_message(message: &str) -> String {
    let trimmed = message.trim();
    if trimmed.is_empty() {
        "Update\n".to_string()
    } else {
        format!("{trimmed}\n")
    }
}

/// Orders commits so that every parent comes before its children (ties: older first).
fn topological(mut metas: Vec<CommitMeta>) -> Vec<CommitMeta> {
    metas.sort_by_key(|m| m.time);
    let present: HashSet<ObjectId> = metas.iter().map(|m| m.id).collect();
    let mut pending: HashMap<ObjectId, usize> = HashMap::new();
    let mut children: HashMap<ObjectId, Vec<usize>> = HashMap::new();
    for (i, meta) in metas.iter().enumerate() {
        let inside: Vec<&ObjectId> = meta
            .parents
            .iter()
            .filter(|p| present.contains(*p))
            .collect();
        pending.insert(meta.id, inside.len());
        for parent in inside {
            children.entry(*parent).or_default().push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..metas.len())
        .filter(|i| pending[&metas[*i].id] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(metas.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for child in children
            .get(&metas[i].id)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let left = pending
                .get_mut(&metas[*child].id)
                .expect("child is present");
            *left -= 1;
            if *left == 0 {
                ready.push(std::cmp::Reverse(*child));
            }
        }
    }
    let mut slots: Vec<Option<CommitMeta>> = metas.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author() -> Author {
        Author {
            name: "Tester".into(),
            email: "tester@example.org".into(),
        }
    }

    fn put(file: &str, content: &str) -> Edit {
        Edit::Put {
            file: file.into(),
            content: content.as_bytes().to_vec(),
        }
    }

    fn spec(edits: Vec<Edit>, expect: Vec<Expect>) -> CommitSpec {
        CommitSpec {
            author: author(),
            message: "test".into(),
            edits,
            expect,
        }
    }

    #[test]
    fn commits_read_back_and_refuse_stale_bases() {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open_or_init(&dir.path().join("repo.git")).unwrap();
        assert_eq!(store.head().unwrap(), None);

        let first = store
            .commit(&spec(
                vec![put("Home.md", "# Home\n")],
                vec![Expect {
                    file: "Home.md".into(),
                    blob: None,
                }],
            ))
            .unwrap();
        assert_eq!(store.head().unwrap(), Some(first.meta.id));
        assert_eq!(first.meta.message, "test");
        let (blob, bytes) = store.read_at(first.meta.id, "Home.md").unwrap().unwrap();
        assert_eq!(bytes, b"# Home\n");

        // A create of an existing file, and an edit based on an old blob, both conflict.
        let err = store
            .commit(&spec(
                vec![put("Home.md", "x")],
                vec![Expect {
                    file: "Home.md".into(),
                    blob: None,
                }],
            ))
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { current: Some(b), .. } if b == blob));
        let second = store
            .commit(&spec(
                vec![put("Home.md", "# Home\nv2\n")],
                vec![Expect {
                    file: "Home.md".into(),
                    blob: Some(blob),
                }],
            ))
            .unwrap();
        let err = store
            .commit(&spec(
                vec![put("Home.md", "v3")],
                vec![Expect {
                    file: "Home.md".into(),
                    blob: Some(blob),
                }],
            ))
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }));
        assert_eq!(
            store.head().unwrap(),
            Some(second.meta.id),
            "a refused commit writes nothing"
        );

        // Identical content is not a new commit.
        let err = store
            .commit(&spec(vec![put("Home.md", "# Home\nv2\n")], vec![]))
            .unwrap_err();
        assert!(matches!(err, StoreError::NothingToCommit));
    }

    #[test]
    fn changes_pair_exact_and_fuzzy_renames() {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open_or_init(&dir.path().join("repo.git")).unwrap();
        let body = "# Notes\n\nline one\nline two\nline three\nline four\n";
        let other = "# Other\n\nfirst\nsecond\nthird\nfourth\n";
        store
            .commit(&spec(
                vec![
                    put("drafts/a.md", body),
                    put("drafts/a/pic.png", "PNG"),
                    put("b.md", other),
                    put("x/same.md", body),
                ],
                vec![],
            ))
            .unwrap();
        let moved = store
            .commit(&spec(
                vec![
                    Edit::Remove {
                        file: "drafts/a.md".into(),
                    },
                    put("docs/a.md", body),
                    Edit::Remove {
                        file: "drafts/a/pic.png".into(),
                    },
                    put("docs/a/pic.png", "PNG"),
                    Edit::Remove {
                        file: "b.md".into(),
                    },
                    put("c.md", &other.replace("fourth", "4th")),
                    Edit::Remove {
                        file: "x/same.md".into(),
                    },
                    put("y/same.md", body),
                ],
                vec![],
            ))
            .unwrap();
        let changes = store.changes(&moved.meta).unwrap();
        assert_eq!(moved.changes, changes, "the commit knows its own changes");
        let renamed: Vec<(&str, &str)> = changes
            .iter()
            .filter_map(|c| match &c.kind {
                ChangeKind::Renamed { from } => Some((from.as_str(), c.path.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            renamed,
            vec![
                ("b.md", "c.md"),
                ("drafts/a.md", "docs/a.md"),
                ("drafts/a/pic.png", "docs/a/pic.png"),
                ("x/same.md", "y/same.md"),
            ]
        );
    }

    #[test]
    fn a_commit_knows_what_it_changed_as_a_diff_would_say() {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open_or_init(&dir.path().join("repo.git")).unwrap();
        let remove = |file: &str| Edit::Remove { file: file.into() };
        let steps = vec![
            vec![
                put("Home.md", "# Home\n"),
                put("Notes", "a file"),
                put("a/b.md", "b"),
            ],
            // An identical put beside a real change, and a removal of what is not there.
            vec![
                put("Home.md", "# Home\n"),
                put("c.md", "c"),
                remove("missing.md"),
            ],
            // A file where a folder must go, and a folder removed as one path.
            vec![put("Notes/x.md", "x")],
            vec![remove("a")],
            // The same path edited twice, and an exact rename.
            vec![
                put("d.md", "1"),
                put("d.md", "2"),
                remove("c.md"),
                put("e.md", "c"),
            ],
        ];
        let mut author = author();
        author.name = " Ann <ann@evil> \n".into();
        for edits in steps {
            let committed = store
                .commit(&CommitSpec {
                    author: author.clone(),
                    message: "  step\n\n".into(),
                    edits,
                    expect: vec![],
                })
                .unwrap();
            assert_eq!(
                committed.meta,
                store.commit_meta(committed.meta.id).unwrap()
            );
            assert_eq!(committed.changes, store.changes(&committed.meta).unwrap());
            assert!(!committed.changes.is_empty());
        }
        assert_eq!(
            store
                .commit_meta(store.head().unwrap().unwrap())
                .unwrap()
                .author_name,
            "Ann ann@evil"
        );
    }

    #[test]
    fn commits_between_orders_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open_or_init(&dir.path().join("repo.git")).unwrap();
        let ids: Vec<ObjectId> = (0..5)
            .map(|i| {
                store
                    .commit(&spec(vec![put("p.md", &format!("v{i}"))], vec![]))
                    .unwrap()
                    .meta
                    .id
            })
            .collect();
        let all = store.commits_between(None, ids[4]).unwrap();
        assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
        let tail = store.commits_between(Some(ids[1]), ids[4]).unwrap();
        assert_eq!(
            tail.iter().map(|m| m.id).collect::<Vec<_>>(),
            ids[2..].to_vec()
        );
    }

    #[test]
    fn list_dir_and_all_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = PageStore::open_or_init(&dir.path().join("repo.git")).unwrap();
        let c = store
            .commit(&spec(
                vec![put("a.md", "a"), put("a/x.txt", "xyz"), put("a/b.md", "b")],
                vec![],
            ))
            .unwrap();
        let entries = store.list_dir(c.meta.id, "a").unwrap();
        let names: Vec<(&str, u64)> = entries.iter().map(|e| (e.name.as_str(), e.size)).collect();
        assert_eq!(names, vec![("b.md", 1), ("x.txt", 3)]);
        let mut files: Vec<String> = store
            .all_files(c.meta.id)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        files.sort();
        assert_eq!(files, vec!["a.md", "a/b.md", "a/x.txt"]);
        assert!(store.list_dir(c.meta.id, "missing").unwrap().is_empty());
    }
}
