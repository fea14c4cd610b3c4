//! Where the journal and snapshots live: a directory, or memory with
//! injectable faults (for the crash-point tests).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An append-only file of the journal.
pub trait Segment: Send {
    /// Appends all of `bytes`.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
}

/// The files of a durable engine. Names are plain file names, no paths.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Takes the exclusive lock that keeps a second process out.
    fn lock(&self) -> io::Result<()>;
    /// Releases it (the engine is closing).
    fn unlock(&self);
    /// Every file name.
    fn list(&self) -> io::Result<Vec<String>>;
    /// A whole file.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// A file's length in bytes.
    fn size(&self, name: &str) -> io::Result<u64> {
        self.read(name).map(|b| b.len() as u64)
    }
    /// Appends up to `max` bytes of a file, from `offset` on, to `into`;
    /// returns how many. Fewer than `max` (at least one) is allowed, like
    /// a file's own reads; none means the file ends at `offset`. Recovery
    /// reads the journal this way, a piece at a time. The default reads
    /// the whole file for every call: override it where files grow past
    /// a few MiB.
    fn read_at(
        &self,
        name: &str,
        offset: u64,
        max: usize,
        into: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let all = self.read(name)?;
        let piece = piece_of(&all, offset, max);
        into.extend_from_slice(piece);
        Ok(piece.len())
    }
    /// Opens a file for appending, creating it.
    fn append(&self, name: &str) -> io::Result<Box<dyn Segment>>;
    /// Replaces `name` with `bytes` atomically and durably (temporary file,
    /// fsync, rename, directory fsync).
    fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Removes a file (durably, with the directory).
    fn remove(&self, name: &str) -> io::Result<()>;
    /// How a file is named in errors (its full path for a directory).
    fn describe(&self, name: &str) -> String;
}

/// Up to `max` bytes of `data` from `offset` on.
fn piece_of(data: &[u8], offset: u64, max: usize) -> &[u8] {
    let from = usize::try_from(offset).map_or(data.len(), |o| o.min(data.len()));
    &data[from..data.len().min(from.saturating_add(max))]
}

/// A directory on disk.
#[derive(Debug)]
pub struct DirStorage {
    dir: PathBuf,
    lock: Mutex<Option<File>>,
}

impl DirStorage {
    /// Uses `dir`, creating it if missing.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<DirStorage> {
        std::fs::create_dir_all(dir.as_ref())?;
        Ok(DirStorage {
            dir: dir.as_ref().to_path_buf(),
            lock: Mutex::new(None),
        })
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

struct FileSegment(File);

impl Segment for FileSegment {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// The lock file's name.
pub const LOCK_FILE: &str = "LOCK";

impl Storage for DirStorage {
    fn lock(&self) -> io::Result<()> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_FILE))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "another process has it open",
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        *self.lock.lock() = Some(f);
        Ok(())
    }

    fn unlock(&self) {
        self.lock.lock().take();
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            if let Some(n) = e?.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        Ok(out)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(name))
    }

    fn size(&self, name: &str) -> io::Result<u64> {
        std::fs::metadata(self.dir.join(name)).map(|m| m.len())
    }

    fn read_at(
        &self,
        name: &str,
        offset: u64,
        max: usize,
        into: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let mut f = File::open(self.dir.join(name))?;
        f.seek(io::SeekFrom::Start(offset))?;
        f.take(max as u64).read_to_end(into)
    }

    fn append(&self, name: &str) -> io::Result<Box<dyn Segment>> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(name))?;
        self.sync_dir()?;
        Ok(Box::new(FileSegment(f)))
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, self.dir.join(name))?;
        self.sync_dir()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))?;
        self.sync_dir()
    }

    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// Files in memory that remember which bytes were fsynced, and fail the
/// Nth write or fsync on request: the crash-point tests run the journal
/// on it. Clones share the files.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    state: Arc<Mutex<MemState>>,
}

#[derive(Debug, Default)]
struct MemState {
    files: BTreeMap<String, MemFile>,
    writes: u64,
    syncs: u64,
    fail_write_at: Option<u64>,
    fail_sync_at: Option<u64>,
    locked: bool,
    /// At most this many bytes per `read_at` (0: [`MEM_READ_LIMIT`]).
    read_limit: usize,
}

/// How many bytes a [`MemStorage`] hands back per `read_at` unless told
/// otherwise: few, and a prime, so that recovery's pieces end at every
/// kind of place in a record.
pub(crate) const MEM_READ_LIMIT: usize = 509;

#[derive(Clone, Debug, Default)]
struct MemFile {
    data: Vec<u8>,
    synced: usize,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Writes and fsyncs made so far, in that order.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.state.lock();
        (s.writes, s.syncs)
    }

    /// Hands back at most `max` bytes per `read_at` (at least 1), here and
    /// in what [`MemStorage::crashed`] and [`MemStorage::killed`] leave.
    pub fn set_read_limit(&self, max: usize) {
        self.state.lock().read_limit = max.max(1);
    }

    /// Makes the `n`th write from now (1 = the next) fail, and every later one.
    pub fn fail_write_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.fail_write_at = Some(s.writes + n);
    }

    /// Makes the `n`th fsync from now fail, and every later one.
    pub fn fail_sync_after(&self, n: u64) {
        let mut s = self.state.lock();
        s.fail_sync_at = Some(s.syncs + n);
    }

    /// What a machine that lost power now would find: every file cut to
    /// its fsynced bytes, no lock held, no faults armed.
    pub fn crashed(&self) -> MemStorage {
        let s = self.state.lock();
        let files = s
            .files
            .iter()
            .map(|(n, f)| {
                (
                    n.clone(),
                    MemFile {
                        data: f.data[..f.synced].to_vec(),
                        synced: f.synced,
                    },
                )
            })
            .collect();
        MemStorage {
            state: Arc::new(Mutex::new(MemState {
                files,
                read_limit: s.read_limit,
                ..MemState::default()
            })),
        }
    }

    /// What a killed process leaves: every written byte (the OS keeps them),
    /// no lock held, no faults armed.
    pub fn killed(&self) -> MemStorage {
        let s = self.state.lock();
        let files = s
            .files
            .iter()
            .map(|(n, f)| {
                (
                    n.clone(),
                    MemFile {
                        data: f.data.clone(),
                        synced: f.data.len(),
                    },
                )
            })
            .collect();
        MemStorage {
            state: Arc::new(Mutex::new(MemState {
                files,
                read_limit: s.read_limit,
                ..MemState::default()
            })),
        }
    }

    /// A file's bytes (empty when missing).
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        self.state
            .lock()
            .files
            .get(name)
            .map(|f| f.data.clone())
            .unwrap_or_default()
    }

    /// Replaces a file's bytes (to cut or damage it).
    pub fn set_bytes(&self, name: &str, bytes: Vec<u8>) {
        let mut s = self.state.lock();
        let synced = bytes.len();
        s.files.insert(
            name.to_string(),
            MemFile {
                data: bytes,
                synced,
            },
        );
    }

    /// Every file name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.state.lock().files.keys().cloned().collect()
    }
}

struct MemSegment {
    name: String,
    state: Arc<Mutex<MemState>>,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl Segment for MemSegment {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        s.writes += 1;
        if s.fail_write_at.is_some_and(|n| s.writes >= n) {
            // A failed write may still have put part of the bytes down.
            let half = bytes.len() / 2;
            s.files
                .entry(self.name.clone())
                .or_default()
                .data
                .extend_from_slice(&bytes[..half]);
            return Err(injected("write"));
        }
        s.files
            .entry(self.name.clone())
            .or_default()
            .data
            .extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.syncs += 1;
        if s.fail_sync_at.is_some_and(|n| s.syncs >= n) {
            return Err(injected("fsync"));
        }
        let f = s.files.entry(self.name.clone()).or_default();
        f.synced = f.data.len();
        Ok(())
    }
}

impl Storage for MemStorage {
    fn lock(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        if s.locked {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another engine has it open",
            ));
        }
        s.locked = true;
        Ok(())
    }

    fn unlock(&self) {
        self.state.lock().locked = false;
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.names())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.state
            .lock()
            .files
            .get(name)
            .map(|f| f.data.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))
    }

    fn size(&self, name: &str) -> io::Result<u64> {
        self.state
            .lock()
            .files
            .get(name)
            .map(|f| f.data.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))
    }

    fn read_at(
        &self,
        name: &str,
        offset: u64,
        max: usize,
        into: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let s = self.state.lock();
        let data = &s
            .files
            .get(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))?
            .data;
        let limit = match s.read_limit {
            0 => MEM_READ_LIMIT,
            n => n,
        };
        let piece = piece_of(data, offset, max.min(limit));
        into.extend_from_slice(piece);
        Ok(piece.len())
    }

    fn append(&self, name: &str) -> io::Result<Box<dyn Segment>> {
        self.state.lock().files.entry(name.to_string()).or_default();
        Ok(Box::new(MemSegment {
            name: name.to_string(),
            state: self.state.clone(),
        }))
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        s.syncs += 1;
        if s.fail_sync_at.is_some_and(|n| s.syncs >= n) {
            return Err(injected("fsync"));
        }
        s.files.insert(
            name.to_string(),
            MemFile {
                data: bytes.to_vec(),
                synced: bytes.len(),
            },
        );
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.state.lock().files.remove(name);
        Ok(())
    }

    fn describe(&self, name: &str) -> String {
        format!("mem:{name}")
    }
}
