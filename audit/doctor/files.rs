//! Reading the machine: path templates, files with their effective access, parsed documents, directory sizes.

use super::DoctorOptions;
use super::jsonc;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Expands a path template: `{var}` from the tool, `${VAR:-default}`, `~`, `{project}`, and absolute paths
/// under the system root. `None` when the template needs a project and there is none.
pub fn expand(template: &str, opts: &DoctorOptions, vars: &BTreeMap<String, String>) -> Option<PathBuf> {
    let mut t = template.to_string();
    for (name, value) in vars {
        t = t.replace(&format!("{{{name}}}"), value);
    }
    let mut from_env = false;
    if let Some(rest) = t.strip_prefix("${")
        && let Some(end) = rest.find('}')
    {
        let (inner, tail) = (&rest[..end], &rest[end + 1..]);
        let (var, default) = inner.split_once(":-").unwrap_or((inner, ""));
        t = match opts.env.get(var).filter(|v| !v.is_empty()) {
            Some(v) => {
                from_env = true;
                format!("{v}{tail}")
            }
            None => format!("{default}{tail}"),
        };
    }
    if let Some(rest) = t.strip_prefix("{project}") {
        let project = opts.project_dir.as_ref()?;
        return Some(project.join(rest.trim_start_matches('/')));
    }
    if t == "~" {
        return Some(opts.home.clone());
    }
    if let Some(rest) = t.strip_prefix("~/") {
        return Some(opts.home.join(rest));
    }
    if !from_env && let Some(rest) = t.strip_prefix('/') {
        return Some(opts.system_root.join(rest));
    }
    Some(PathBuf::from(t))
}

/// Whether anything (a file, a directory, even a dangling symlink) is at `path`.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// `(symlink target)` for display, when `path` is a symlink.
pub fn symlink_note(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    fs::read_link(path).ok().map(|t| format!("symlink -> {}", t.display()))
}

/// A settings file as the tool would see it.
#[derive(Debug, Clone)]
pub enum Doc {
    Missing,
    /// Present but not readable by this user (or a dangling symlink, or not UTF-8).
    Unreadable(String),
    /// Read but not parsed: line and message.
    Malformed {
        line: usize,
        message: String,
    },
    /// A JSON (JSONC) document, or a YAML one read into the same value model.
    Json(serde_json::Value),
    Toml(toml::Table),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Toml,
    Yaml,
}

impl Format {
    /// The format of a settings file: YAML by its extension (`.yaml`, `.yml`), else the check's own.
    pub fn of(path: &Path, default: Format) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("yaml" | "yml") => Format::Yaml,
            _ => default,
        }
    }
}

/// Parsed documents, read once per path however many checks look at them.
#[derive(Default)]
pub struct Docs {
    cache: HashMap<(PathBuf, Format), Doc>,
}

impl Docs {
    pub fn get(&mut self, path: &Path, format: Format) -> &Doc {
        self.cache.entry((path.to_path_buf(), format)).or_insert_with(|| load(path, format))
    }
}

fn load(path: &Path, format: Format) -> Doc {
    if fs::symlink_metadata(path).is_err() {
        return Doc::Missing;
    }
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let target = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            return Doc::Unreadable(format!("dangling symlink -> {target}"));
        }
        Err(e) => return Doc::Unreadable(e.to_string()),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Doc::Unreadable("not UTF-8 text".into());
    };
    match format {
        Format::Json => match jsonc::parse(&text) {
            Ok(v) => Doc::Json(v),
            Err(e) => Doc::Malformed { line: e.line, message: e.message },
        },
        Format::Toml => match toml::from_str::<toml::Table>(&text) {
            Ok(t) => Doc::Toml(t),
            Err(e) => {
                let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                Doc::Malformed { line, message: e.message().trim().to_string() }
            }
        },
        Format::Yaml => match serde_yaml_ng::from_str::<serde_json::Value>(&text) {
            // An empty file is an empty document, as YAML loaders read it.
            Ok(serde_json::Value::Null) => Doc::Json(serde_json::Value::Object(serde_json::Map::new())),
            Ok(v) => Doc::Json(v),
            Err(e) => Doc::Malformed {
                line: e.location().map_or(0, |l| l.line()),
                message: e.to_string().lines().next().unwrap_or_default().trim().to_string(),
            },
        },
    }
}

/// Whether the current user can really read `path` (open the file, list the directory): root reads
/// files whose mode says otherwise, so the mode bits are not asked.
pub fn readable(path: &Path) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    let attempt = if meta.is_dir() { fs::read_dir(path).map(|_| ()) } else { fs::File::open(path).map(|_| ()) };
    match attempt {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(false),
        Err(e) => Err(e),
    }
}

/// Files and bytes under a directory (symlinks are counted, not followed).
pub fn dir_usage(path: &Path) -> io::Result<(u64, u64)> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok((1, meta.len()));
    }
    let (mut files, mut bytes) = (0, 0);
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let (f, b) = dir_usage(&entry.path())?;
        files += f;
        bytes += b;
    }
    Ok((files, bytes))
}

/// Whether a program of this name is an executable file on `PATH` (as given in the environment).
pub fn on_path(bin: &str, env: &BTreeMap<String, String>) -> bool {
    env.get("PATH").is_some_and(|p| p.split(':').filter(|d| !d.is_empty()).any(|d| Path::new(d).join(bin).is_file()))
}

/// Whether an editor extension (`publisher.name`) is installed in an extensions directory
/// (`publisher.name-1.2.3[-platform]`, case-insensitive).
pub fn extension_installed(dir: &Path, extension: &str) -> bool {
    let prefix = format!("{}-", extension.to_ascii_lowercase());
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().to_ascii_lowercase().starts_with(&prefix))
    })
}
