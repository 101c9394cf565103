//! A capture file mapped read-only into memory, a window at a time, so replay parses the page cache in
//! place instead of copying every byte out of it with `read(2)` (the copy was a quarter of a replay's
//! time). Windows keep the resident set flat as files grow: only one is mapped at a time.
//!
//! This is the crate's only `unsafe` code. A mapping is sound as long as no other program shrinks the
//! file while it is mapped: the pages past the new end vanish and touching them raises SIGBUS. Growing
//! it (a capture still being written) is harmless, since only the length seen at open is read. A file
//! found shorter when the next window is mapped is an ordinary read error at that offset; for the rare
//! truncation in the middle of a window a SIGBUS handler ends the process with a clear message and exit
//! status 2 instead of a crash. `replay --no-mmap` reads with `read(2)` for files that may change.
#![allow(unsafe_code)]

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::fs::File;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes mapped now, for the SIGBUS handler to tell our fault from any other.
static MAPPED_START: AtomicUsize = AtomicUsize::new(0);
static MAPPED_END: AtomicUsize = AtomicUsize::new(0);
static HANDLER: OnceLock<bool> = OnceLock::new();

/// Bytes mapped at once. Larger than any record a reader accepts (4 MiB) plus a page, so a record that
/// starts in a window always ends in it or in the next one, which starts at its page.
pub const WINDOW_BYTES: u64 = 16 << 20;
const PAGE: u64 = 4096;

/// A regular file that can be mapped, read one [`Window`] at a time.
pub struct MappedFile<'f> {
    file: &'f File,
    len: u64,
}

impl<'f> MappedFile<'f> {
    /// `None` when `file` cannot be mapped (a pipe, a device, an empty file) or the SIGBUS handler
    /// cannot be installed: the caller reads it instead.
    pub fn new(file: &'f File) -> Option<Self> {
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 || !install_handler() {
            return None;
        }
        Some(Self { file, len: meta.len() })
    }

    /// The file's length when it was opened: what is read.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Maps the window holding byte `at`: from the start of its page, [`WINDOW_BYTES`] or to the end.
    pub fn window(&self, at: u64) -> io::Result<Window> {
        let offset = at - at % PAGE;
        let len = (self.len.saturating_sub(offset)).min(WINDOW_BYTES);
        // Mapping pages past the end would fault later; a file that shrank is an ordinary error here.
        let now = self.file.metadata()?.len();
        if now < offset + len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file shrank to {now} bytes while it was read (another program truncated it)"),
            ));
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        // SAFETY: the mapping is read-only and private to this process and its bytes are only read as
        // `&[u8]`. What Rust cannot check is that no other program truncates the file meanwhile: the
        // length was checked just above, the SIGBUS handler turns a later truncation into a clean exit,
        // and `--no-mmap` avoids mappings altogether. `populate` builds the page tables in one pass
        // (fewer, cheaper faults than on first touch).
        let map = unsafe { memmap2::MmapOptions::new().offset(offset).len(len).populate().map(self.file) }?;
        // One pass, front to back: read ahead aggressively.
        let _ = map.advise(memmap2::Advice::Sequential);
        let start = map.as_ptr() as usize;
        MAPPED_START.store(start, Ordering::SeqCst);
        MAPPED_END.store(start + map.len(), Ordering::SeqCst);
        Ok(Window { map, offset })
    }
}

/// Part of a mapped file.
pub struct Window {
    map: memmap2::Mmap,
    offset: u64,
}

impl Window {
    /// Where [`Window::bytes`] starts in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Whether the window holds the rest of the file (of `file`'s length at open).
    pub fn reaches_end(&self, file: &MappedFile<'_>) -> bool {
        self.offset + self.map.len() as u64 >= file.len()
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Only if the handler's range is still this window's.
        let start = self.map.as_ptr() as usize;
        if MAPPED_START.compare_exchange(start, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            MAPPED_END.store(0, Ordering::SeqCst);
        }
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
            let mapped = MappedFile::new(&file).unwrap();
            let window = mapped.window(0).unwrap();
            assert_eq!(window.bytes()[8000], 7);
            file.set_len(0).unwrap();
            // The page is gone: this read raises SIGBUS.
            let byte = std::hint::black_box(window.bytes())[8000];
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
        assert!(MappedFile::new(&File::open(&empty).unwrap()).is_none());
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Opened read-write so the open does not wait for a writer.
        let pipe = File::options().read(true).write(true).open(&fifo).unwrap();
        assert!(MappedFile::new(&pipe).is_none());
    }

    /// Windows start at the page of the byte asked for, end at the file's end, and a file found
    /// shorter than at open is an error, not a mapping that would fault.
    #[test]
    fn windows_cover_the_file_and_notice_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(WINDOW_BYTES + 10_000)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::options().read(true).write(true).open(&path).unwrap();
        let mapped = MappedFile::new(&file).unwrap();
        let first = mapped.window(0).unwrap();
        assert_eq!(first.bytes().len() as u64, WINDOW_BYTES);
        assert!(!first.reaches_end(&mapped));
        drop(first);
        let at = WINDOW_BYTES - 100;
        let second = mapped.window(at).unwrap();
        assert_eq!(second.offset(), at - at % PAGE);
        assert!(second.reaches_end(&mapped));
        assert_eq!(second.bytes(), &data[second.offset() as usize..]);
        drop(second);
        file.set_len(WINDOW_BYTES).unwrap();
        let err = mapped.window(at).err().unwrap();
        assert!(err.to_string().contains("shrank"), "{err}");
    }
}
