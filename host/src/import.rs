//! `holt import`: adopt an existing git repository of Markdown pages as a wiki, with its
//! whole history (every commit keeps its id).
//!
//! The repository's object database and refs are copied as they are (packs included), so the
//! import is exact and fast; hooks, remotes, the work tree and its index are left behind.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{SyncBars, shown};
use crate::config::Settings;
use crate::server;

/// What is copied from the source git directory.
const COPIED: &[&str] = &["HEAD", "objects", "refs", "packed-refs", "shallow"];

/// Imports the repository at `source` as the configured wiki.
pub fn import(
    settings: &Settings,
    source: &Path,
    replace: bool,
    owner: Option<&str>,
) -> Result<(), String> {
    if settings.mode == crate::config::Mode::Platform {
        ensure_platform_record(settings, owner)?;
    }
    let repo =
        gix::open(source).map_err(|e| format!("{} is not a git repository: {e}", shown(source)))?;
    let git_dir = repo.git_dir().to_path_buf();
    if repo.object_hash() != gix::hash::Kind::Sha1 {
        return Err(format!(
            "{} uses SHA-256 object ids, which Holt does not support yet",
            shown(source)
        ));
    }
    if git_dir.join("objects/info/alternates").exists() {
        return Err(format!(
            "{} borrows objects from another repository (objects/info/alternates); run `git repack -a -d` in it first",
            shown(source)
        ));
    }
    let head = repo
        .head()
        .map_err(|e| format!("{}: cannot read HEAD: {e}", shown(source)))?;
    if head.is_detached() {
        return Err(format!(
            "{}: HEAD is detached; check out the branch to import first",
            shown(source)
        ));
    }
    let mut head_ref = repo.head().map_err(|e| e.to_string())?;
    let head_commit = head_ref
        .peel_to_commit()
        .map_err(|_| format!("{}: the current branch has no commits", shown(source)))?
        .id;
    drop(repo);

    let slug = &settings.wiki.slug;
    let wiki_dir = server::wiki_dir(settings, slug);
    if wiki_dir.join("repo.git").exists() {
        let existing = server::open_wiki(settings).map_err(|e| e.to_string())?;
        let has_commits = existing
            .store()
            .head()
            .map_err(|e| e.to_string())?
            .is_some();
        drop(existing);
        if has_commits && !replace {
            return Err(format!(
                "wiki '{slug}' already has pages; pass --replace to replace it (its folder is kept as a backup)"
            ));
        }
        let backup = backup_name(&wiki_dir);
        std::fs::rename(&wiki_dir, &backup)
            .map_err(|e| format!("cannot move {} aside: {e}", shown(&wiki_dir)))?;
        eprintln!(
            "holt: the previous wiki '{slug}' was moved to {}",
            shown(&backup)
        );
    }
    std::fs::create_dir_all(&wiki_dir).map_err(|e| format!("{}: {e}", shown(&wiki_dir)))?;
    let staging = wiki_dir.join("repo.git.importing");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| format!("{}: {e}", shown(&staging)))?;
    }
    copy_repository(&git_dir, &staging)?;
    std::fs::write(
        staging.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n",
    )
    .map_err(|e| format!("{}: {e}", shown(&staging)))?;
    std::fs::rename(&staging, wiki_dir.join("repo.git"))
        .map_err(|e| format!("{}: {e}", shown(&wiki_dir)))?;

    let wiki = server::open_wiki(settings).map_err(|e| e.to_string())?;
    if wiki.store().head().map_err(|e| e.to_string())? != Some(head_commit) {
        return Err(
            "the imported repository's HEAD does not match the source; the import is incomplete"
                .into(),
        );
    }
    let mut bars = SyncBars::new();
    let stats = wiki
        .reindex(&mut |p| bars.update(p))
        .map_err(|e| format!("indexing the import: {e}"))?;
    bars.finish();
    let pages = wiki.index().page_count().map_err(|e| e.to_string())?;
    eprintln!(
        "holt: imported {} into wiki '{slug}': {} commits, {pages} pages",
        shown(source),
        stats.commits
    );
    if !stats.skipped.is_empty() {
        eprintln!(
            "holt: {} Markdown files were kept in git but not indexed, as their names are not valid page names:",
            stats.skipped.len()
        );
        for file in &stats.skipped {
            eprintln!("  {file}");
        }
    }
    Ok(())
}

/// In platform mode a wiki is also a row of the platform database: create it (owned by
/// `owner`) if it does not exist yet.
fn ensure_platform_record(settings: &Settings, owner: Option<&str>) -> Result<(), String> {
    let slug = &settings.wiki.slug;
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| format!("{}: {e}", shown(&settings.data_dir)))?;
    let platform = crate::platform::Platform::open(&settings.data_dir.join("holt.sqlite"))
        .map_err(|e| e.to_string())?;
    if platform.wiki(slug).map_err(|e| e.to_string())?.is_some() {
        return Ok(());
    }
    let Some(handle) = owner else {
        return Err(format!(
            "there is no wiki '{slug}' on this platform yet: pass --owner HANDLE to create it (add users with `holt user add`)"
        ));
    };
    let user = platform
        .user_by_handle(handle)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("there is no user '{handle}': add them with `holt user add {handle}`")
        })?;
    // An operator's import is not held to the tier's wikis-per-user limit.
    let tier = crate::platform::Tier {
        wikis_per_user: u32::MAX,
        collaborators_per_wiki: settings.platform.collaborators_per_wiki,
    };
    platform
        .create_wiki(user.id, slug, slug, false, tier)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "holt: created the private wiki '{slug}' owned by @{}",
        user.handle
    );
    Ok(())
}

fn backup_name(dir: &Path) -> PathBuf {
    let stamp = jiff::Timestamp::now().as_second();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.replaced-{stamp}"))
}

/// Copies the parts of a git directory a bare wiki repository needs, with a progress bar.
fn copy_repository(from: &Path, to: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    for entry in COPIED {
        collect_files(&from.join(entry), &mut files)
            .map_err(|e| format!("reading {}: {e}", shown(from)))?;
    }
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let bar = ProgressBar::new(total)
        .with_style(
            ProgressStyle::with_template("{msg:>8} [{bar:40}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        )
        .with_message("copying");
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(10));
    for (file, size) in files {
        let relative = file.strip_prefix(from).map_err(|e| e.to_string())?;
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", shown(parent)))?;
        }
        std::fs::copy(&file, &target).map_err(|e| format!("copying {}: {e}", shown(&file)))?;
        bar.inc(size);
    }
    bar.finish();
    for dir in ["refs/heads", "refs/tags", "objects/info", "objects/pack"] {
        std::fs::create_dir_all(to.join(dir)).map_err(|e| format!("{}: {e}", shown(to)))?;
    }
    Ok(())
}

fn collect_files(path: &Path, out: &mut Vec<(PathBuf, u64)>) -> std::io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect_files(&entry?.path(), out)?;
        }
    } else if meta.is_file() {
        out.push((path.to_path_buf(), meta.len()));
    }
    Ok(())
}
