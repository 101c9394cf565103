//! Who opened the planted credential files. As root, fanotify names the process of every open; without
//! root the kernel refuses fanotify, so inotify tells which file was opened but not by whom (the canary
//! HOME belongs to the run, so it was the agent's tree, but not which process of it).

use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags as FanInit, MarkFlags, MaskFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags as InInit, Inotify};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(100);
/// Distinct (file, process) pairs kept.
const MAX_READS: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct CredentialRead {
    /// The canary's id (`aws`, `ssh`, …).
    pub canary: String,
    pub path: String,
    pub pid: Option<u32>,
    /// The process name and its parents' names (`python3 < sh < egress-audit`), when known.
    pub process: Option<String>,
    pub opens: u64,
}

/// How reads are watched: the report says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadWatch {
    /// Every open with the process behind it (root).
    Fanotify,
    /// Every open, without the process (unprivileged).
    Inotify,
    /// Neither could be set up: reads are not reported.
    Unavailable,
}

pub struct ReadWatcher {
    pub mode: ReadWatch,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<CredentialRead>>>,
    /// Why the watch is unavailable or degraded, when it is.
    pub error: Option<String>,
}

type Key = (String, Option<u32>);

fn collect(reads: &mut BTreeMap<Key, CredentialRead>, canary: &str, path: String, pid: Option<u32>) {
    let key = (path.clone(), pid);
    if let Some(r) = reads.get_mut(&key) {
        r.opens += 1;
        return;
    }
    if reads.len() >= MAX_READS {
        return;
    }
    let process = pid.map(|p| process_chain(p).unwrap_or_else(|| format!("pid {p} (exited before it could be named)")));
    reads.insert(key, CredentialRead { canary: canary.to_string(), path, pid, process, opens: 1 });
}

/// `name < parent < grandparent`, three levels up at most; None when the process is gone.
fn process_chain(pid: u32) -> Option<String> {
    let mut names = Vec::new();
    let mut current = pid;
    for _ in 0..4 {
        let comm = std::fs::read_to_string(format!("/proc/{current}/comm")).unwrap_or_default();
        if comm.is_empty() {
            break;
        }
        names.push(format!("{}[{current}]", crate::text::printable_str(comm.trim())));
        let stat = std::fs::read_to_string(format!("/proc/{current}/stat")).unwrap_or_default();
        // The parent pid is the second field after the parenthesised name, which may itself hold spaces.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        match ppid {
            Some(p) if p > 1 => current = p,
            _ => break,
        }
    }
    (!names.is_empty()).then(|| names.join(" < "))
}

impl ReadWatcher {
    /// Watches `files` (absolute path, canary id) until [`ReadWatcher::stop`].
    pub fn start(files: Vec<(PathBuf, &'static str)>) -> ReadWatcher {
        let stop = Arc::new(AtomicBool::new(false));
        let fan_error = match fanotify_group(&files) {
            Ok(group) => {
                let st = stop.clone();
                let thread = std::thread::spawn(move || watch_fanotify(group, &files, &st));
                return ReadWatcher { mode: ReadWatch::Fanotify, stop, thread: Some(thread), error: None };
            }
            Err(e) => e,
        };
        match inotify_group(&files) {
            Ok((group, by_wd)) => {
                let st = stop.clone();
                let thread = std::thread::spawn(move || watch_inotify(group, &by_wd, &st));
                let error = Some(format!("fanotify unavailable ({fan_error}): reads are seen without their process"));
                ReadWatcher { mode: ReadWatch::Inotify, stop, thread: Some(thread), error }
            }
            Err(e) => ReadWatcher {
                mode: ReadWatch::Unavailable,
                stop,
                thread: None,
                error: Some(format!("fanotify: {fan_error}; inotify: {e}")),
            },
        }
    }

    pub fn stop(mut self) -> Vec<CredentialRead> {
        // Events of the last moments are still queued: the watcher drains them before it ends.
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

fn fanotify_group(files: &[(PathBuf, &'static str)]) -> Result<Fanotify, String> {
    let group = Fanotify::init(
        FanInit::FAN_CLASS_NOTIF | FanInit::FAN_NONBLOCK | FanInit::FAN_CLOEXEC,
        EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
    )
    .map_err(|e| e.to_string())?;
    for (path, _) in files {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        group
            .mark(MarkFlags::FAN_MARK_ADD, MaskFlags::FAN_OPEN, &file, None::<&std::path::Path>)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(group)
}

fn watch_fanotify(group: Fanotify, files: &[(PathBuf, &'static str)], stop: &AtomicBool) -> Vec<CredentialRead> {
    let mut reads = BTreeMap::new();
    let own_pid = std::process::id();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let events = group.read_events().unwrap_or_default();
        for e in &events {
            let pid = u32::try_from(e.pid()).ok();
            let Some(fd) = e.fd() else { continue };
            use std::os::fd::AsRawFd;
            let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default();
            let Some((_, canary)) = files.iter().find(|(p, _)| *p == path) else { continue };
            if pid == Some(own_pid) {
                continue;
            }
            collect(&mut reads, canary, path.display().to_string(), pid);
        }
        if stopping && events.is_empty() {
            break;
        }
        if events.is_empty() {
            wait_readable(&group);
        }
    }
    reads.into_values().collect()
}

/// Sleeps until the group has events or [`POLL`] passed: an event is read while its process still
/// lives, so it can be named.
fn wait_readable(fd: &impl std::os::fd::AsFd) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::from(POLL.as_millis() as u16));
}

type ByWd = Vec<(nix::sys::inotify::WatchDescriptor, PathBuf, &'static str)>;

fn inotify_group(files: &[(PathBuf, &'static str)]) -> Result<(Inotify, ByWd), String> {
    let group = Inotify::init(InInit::IN_NONBLOCK | InInit::IN_CLOEXEC).map_err(|e| e.to_string())?;
    let mut by_wd = Vec::new();
    for (path, id) in files {
        let wd =
            group.add_watch(path.as_path(), AddWatchFlags::IN_OPEN).map_err(|e| format!("{}: {e}", path.display()))?;
        by_wd.push((wd, path.clone(), *id));
    }
    Ok((group, by_wd))
}

fn watch_inotify(group: Inotify, by_wd: &ByWd, stop: &AtomicBool) -> Vec<CredentialRead> {
    let mut reads = BTreeMap::new();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let events = group.read_events().unwrap_or_default();
        for e in &events {
            if let Some((_, path, canary)) = by_wd.iter().find(|(wd, _, _)| *wd == e.wd) {
                collect(&mut reads, canary, path.display().to_string(), None);
            }
        }
        if stopping && events.is_empty() {
            break;
        }
        if events.is_empty() {
            wait_readable(&group);
        }
    }
    reads.into_values().collect()
}
