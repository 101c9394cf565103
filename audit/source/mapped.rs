//! A capture file mapped read-only into memory, so replay parses the page cache in place instead of
//! copying every byte out of it with `read(2)` (the copy was a quarter of a replay's time).
//!
//! This is the crate's only `unsafe` code. A mapping is sound as long as no other program shrinks the
//! file while it is mapped: the pages past the new end vanish and touching them raises SIGBUS. Growing
//! it (a capture still being written) is harmless, since only the length seen at open is mapped. For
//! the rare truncation a SIGBUS handler ends the process with a clear message and exit status 2 instead
//! of a crash; `replay --no-mmap` reads with `read(2)` for files another program may truncate.
#![allow(unsafe_code)]

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::fs::File;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes of the file mapped now, for the SIGBUS handler to tell our fault from any other.
static MAPPED_START: AtomicUsize = AtomicUsize::new(0);
static MAPPED_END: AtomicUsize = AtomicUsize::new(0);
static HANDLER: OnceLock<bool> = OnceLock::new();

/// A whole capture file, mapped. Replay maps one file at a time.
pub struct Mapped(memmap2::Mmap);

impl Mapped {
    /// `None` when `file` cannot be mapped (a pipe, a device, an empty file, a file system without
    /// mmap) or the handler cannot be installed: the caller reads it instead.
    pub fn new(file: &File) -> Option<Self> {
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        if !install_handler() {
            return None;
        }
        // SAFETY: the mapping is read-only and private to this process and its bytes are only read as
        // `&[u8]`. What Rust cannot check is that no other program truncates the file meanwhile: the
        // SIGBUS handler turns that into a clean exit, and `--no-mmap` avoids the mapping altogether.
        // `populate` builds the page tables in one pass (fewer, cheaper faults than on first touch).
        let map = unsafe { memmap2::MmapOptions::new().populate().map(file) }.ok()?;
        // One pass, front to back: read ahead aggressively.
        let _ = map.advise(memmap2::Advice::Sequential);
        let start = map.as_ptr() as usize;
        MAPPED_START.store(start, Ordering::SeqCst);
        MAPPED_END.store(start + map.len(), Ordering::SeqCst);
        Some(Self(map))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        MAPPED_END.store(0, Ordering::SeqCst);
        MAPPED_START.store(0, Ordering::SeqCst);
    }
}

const TRUNCATED: &[u8] = b"egress-audit: error: the capture file shrank while it was being read (another program \
truncated it); rerun with --no-mmap to read a file that may change\n";

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler; only async-signal-safe
    // calls follow (atomics, write, _exit, sigaction).
    unsafe {
        let addr = (*info).si_addr() as usize;
        if addr >= MAPPED_START.load(Ordering::SeqCst) && addr < MAPPED_END.load(Ordering::SeqCst) {
            libc::write(2, TRUNCATED.as_ptr().cast(), TRUNCATED.len());
            libc::_exit(2);
        }
        // Not our mapping: the default action, once the faulting instruction runs again.
        let _ = sigaction(Signal::SIGBUS, &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty()));
    }
}

fn install_handler() -> bool {
    *HANDLER.get_or_init(|| {
        let action = SigAction::new(SigHandler::SigAction(on_sigbus), SaFlags::SA_SIGINFO, SigSet::empty());
        // SAFETY: the handler only uses async-signal-safe calls; see `on_sigbus`.
        unsafe { sigaction(Signal::SIGBUS, &action) }.is_ok()
    })
}

/// Asks the CPU to load the start of the record at `at` while the current one is analysed. A parse
/// touches only the first cache lines of each record; without the hint each record would begin with a
/// wait for memory (`read(2)` hid it by copying every byte through the cache, at the price of the copy).
#[inline]
pub fn prefetch_record(bytes: &[u8], at: usize) {
    // The record header, then the link, IP and transport headers behind it.
    for line in [at, at + 64] {
        if let Some(byte) = bytes.get(line) {
            prefetch(byte);
        }
    }
}

#[inline(always)]
fn prefetch(byte: &u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults; `byte` is a valid reference besides, and SSE is
    // part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(byte).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Command;

    const CHILD: &str = "EGRESS_AUDIT_MAPPED_TRUNCATION_CHILD";

    /// A file truncated while mapped ends the process with the message and status 2, not a crash. It
    /// runs in a child process (this test binary again), since the handler exits.
    #[test]
    fn truncation_while_mapped_exits_cleanly() {
        if let Ok(path) = std::env::var(CHILD) {
            let file = File::options().read(true).write(true).open(&path).unwrap();
            let mapped = Mapped::new(&file).unwrap();
            assert_eq!(mapped.bytes()[8000], 7);
            file.set_len(0).unwrap();
            // The page is gone: this read raises SIGBUS.
            let byte = std::hint::black_box(mapped.bytes())[8000];
            panic!("read {byte} from a truncated mapping");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.pcap");
        File::create(&path).unwrap().write_all(&[7u8; 64 << 10]).unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "source::mapped::tests::truncation_while_mapped_exits_cleanly", "--nocapture"])
            .env(CHILD, &path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("shrank while it was being read") && stderr.contains("--no-mmap"), "{stderr}");
    }

    #[test]
    fn pipes_and_empty_files_are_not_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        File::create(&empty).unwrap();
        assert!(Mapped::new(&File::open(&empty).unwrap()).is_none());
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Opened read-write so the open does not wait for a writer.
        let pipe = File::options().read(true).write(true).open(&fifo).unwrap();
        assert!(Mapped::new(&pipe).is_none());
    }
}
